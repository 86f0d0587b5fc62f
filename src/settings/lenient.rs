//! Lenient loading of codeloop's own JSON files (config.json, plugins.json): the errors and
//! warnings a user sees for a bad file. A syntax error names the file, line, column and the
//! key it is near; a wrong type names the key path and its line; an unknown key is a warning
//! with the closest valid key (instead of serde's `deny_unknown_fields` refusing the file).
//!
//! Comments: the files are JSONC — `//` and `/* */` comments and trailing commas are allowed
//! ([`super::jsonc`] blanks them before parsing, keeping every line and column where it was).
//! Keys that start with `$` or `_` (for example `"$comment"`, `"_comment"`, `"$schema"`) are
//! also ignored wherever they appear, for files that must stay plain JSON.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

/// What went wrong in one of our JSON files, with the place and the fix.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid JSON in `{}` at line {line}, column {column}{}: {message}", path.display(), near(key))]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        key: Option<String>,
        message: String,
    },
    #[error("invalid value for `{key}` in `{}` at line {line}: {message}", path.display())]
    Value {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
}

fn near(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!(" (after key `{k}`)"))
        .unwrap_or_default()
}

impl LoadError {
    /// How to fix it, for the `hint:` line.
    pub fn hint(&self) -> String {
        match self {
            LoadError::Syntax { .. } => "check for a missing comma, quote or bracket near that \
                line (`//` and `/* */` comments and trailing commas are allowed; a `/*` needs \
                its `*/`)"
                .into(),
            LoadError::Value { .. } => {
                "fix the value's type (see README.md, \"Configuration\"), or delete the key to use the default"
                    .into()
            }
        }
    }
}

/// A successfully loaded file: the value, the raw JSON (comments and comment keys removed),
/// and warnings.
#[derive(Debug)]
pub struct Loaded<T> {
    pub value: T,
    pub raw: Value,
    pub warnings: Vec<String>,
    /// `key path -> 1-based line` for every key in the file (for later validation messages).
    pub lines: HashMap<String, usize>,
}

/// Parses `text` (the contents of `path`) into `T`.
///
/// `known` is the shape of a complete document (every valid key present; an array holds one
/// element that describes all elements). Keys not in it are reported as warnings and ignored.
pub fn load<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    known: &Value,
) -> Result<Loaded<T>, LoadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // JSONC: comments and trailing commas become spaces; positions stay the user's.
    let blanked = super::jsonc::blank(text);
    let text = blanked.as_str();
    let mut raw: Value = serde_json::from_str(text).map_err(|e| {
        let key = key_before(text, e.line(), e.column());
        LoadError::Syntax {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            key,
            message: strip_position(&e.to_string()),
        }
    })?;
    let lines = key_lines(text);
    let mut warnings = Vec::new();
    prune(&mut raw, known, "", path, &lines, &mut warnings);
    let value: T = serde_path_to_error::deserialize(raw.clone()).map_err(|e| {
        let key = e.path().to_string();
        LoadError::Value {
            path: path.to_path_buf(),
            line: line_of(&lines, &key),
            key,
            message: e.into_inner().to_string(),
        }
    })?;
    Ok(Loaded {
        value,
        raw,
        warnings,
        lines,
    })
}

/// The line of `key` (or of its closest recorded ancestor); 1 when unknown.
pub fn line_of(lines: &HashMap<String, usize>, key: &str) -> usize {
    let mut k = key;
    loop {
        if let Some(l) = lines.get(k) {
            return *l;
        }
        match k.rfind(['.', '[']) {
            Some(i) => k = &k[..i],
            None => return 1,
        }
    }
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Is this key a comment by our convention?
pub fn is_comment_key(k: &str) -> bool {
    k.starts_with('$') || k.starts_with('_') || k.starts_with("//")
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Removes comment keys and unknown keys (with a warning each), recursively.
fn prune(
    v: &mut Value,
    known: &Value,
    prefix: &str,
    path: &Path,
    lines: &HashMap<String, usize>,
    warnings: &mut Vec<String>,
) {
    match (v, known) {
        (Value::Object(map), Value::Object(kmap)) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let full = join(prefix, &k);
                if is_comment_key(&k) {
                    map.remove(&k);
                    continue;
                }
                match kmap.get(&k) {
                    Some(kv) => {
                        if let Some(child) = map.get_mut(&k) {
                            prune(child, kv, &full, path, lines, warnings);
                        }
                    }
                    None => {
                        let valid: Vec<&str> = kmap
                            .keys()
                            .map(String::as_str)
                            .filter(|s| !is_comment_key(s))
                            .collect();
                        let suggestion = match closest(&k, &valid) {
                            Some(c) => format!("did you mean `{}`?", join(prefix, c)),
                            None => format!("valid keys here: {}", valid.join(", ")),
                        };
                        warnings.push(format!(
                            "`{}` line {}: unknown key `{full}` is ignored; {suggestion}",
                            path.display(),
                            line_of(lines, &full),
                        ));
                        map.remove(&k);
                    }
                }
            }
        }
        (Value::Array(items), Value::Array(kitems)) => {
            if let Some(shape) = kitems.first() {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(
                        item,
                        shape,
                        &format!("{prefix}[{i}]"),
                        path,
                        lines,
                        warnings,
                    );
                }
            }
        }
        _ => {}
    }
}

/// The valid key closest to `k` by edit distance, if it is close enough to be a typo.
pub fn closest<'a>(k: &str, valid: &[&'a str]) -> Option<&'a str> {
    let lower = k.to_ascii_lowercase();
    // A key cut short or run on (`timeout` for `timeout_sec`) is the likeliest meaning.
    let affix = valid.iter().find(|v| {
        let v = v.to_ascii_lowercase();
        lower.len() >= 4 && v.len() >= 4 && (v.starts_with(&lower) || lower.starts_with(&v))
    });
    if let Some(v) = affix {
        return Some(v);
    }
    valid
        .iter()
        .map(|v| (strsim::levenshtein(&lower, &v.to_ascii_lowercase()), *v))
        // Fewer edits than either key has letters: `cwd` is not a typo of `id`.
        .filter(|(d, v)| *d <= (v.len() / 3).max(2) && *d < lower.len().min(v.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// The last object key that starts before (line, column), for syntax errors.
fn key_before(text: &str, line: usize, column: usize) -> Option<String> {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            offset += column.min(l.len());
            break;
        }
        offset += l.len();
    }
    let head = text.get(..offset.min(text.len()))?;
    let mut last = None;
    let mut scan = Scanner::new(head);
    while let Some((k, _)) = scan.next_key() {
        last = Some(k);
    }
    last
}

/// Maps every key path (`verify.timeout_sec`, `runners[1].kind`) to its 1-based line. The
/// text must be valid JSON (it has parsed already); this is a small scanner, not a parser.
pub fn key_lines(text: &str) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    let b = text.as_bytes();
    // Stack of containers: for objects, the current key path; for arrays, the next index.
    enum Frame {
        Obj(String, Option<String>),
        Arr(String, usize),
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // The path of the value about to start.
    let value_path = |stack: &Vec<Frame>| -> String {
        match stack.last() {
            Some(Frame::Obj(p, Some(k))) => join(p, k),
            Some(Frame::Arr(p, n)) => format!("{p}[{n}]"),
            Some(Frame::Obj(p, None)) => p.clone(),
            None => String::new(),
        }
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => line += 1,
            b'{' => {
                let p = value_path(&stack);
                stack.push(Frame::Obj(p, None));
            }
            b'[' => {
                let p = value_path(&stack);
                stack.push(Frame::Arr(p, 0));
            }
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(Frame::Arr(_, n)) = stack.last_mut() {
                    *n += 1;
                }
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                let mut s = String::new();
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                if let Some(raw) = text.get(start..j.min(b.len())) {
                    s = serde_json::from_str::<String>(&format!("\"{raw}\""))
                        .unwrap_or_else(|_| raw.to_string());
                }
                i = j;
                // A string followed by ':' is a key.
                let mut k = i + 1;
                while k < b.len() && b[k].is_ascii_whitespace() {
                    if b[k] == b'\n' {
                        // counted when the main loop reaches it
                    }
                    k += 1;
                }
                if k < b.len()
                    && b[k] == b':'
                    && let Some(Frame::Obj(p, key)) = stack.last_mut()
                {
                    out.entry(join(p, &s)).or_insert(line);
                    *key = Some(s);
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Iterates `"key":` occurrences in (possibly truncated) JSON text, for [`key_before`].
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn new(s: &'a str) -> Self {
        Scanner {
            b: s.as_bytes(),
            i: 0,
        }
    }
    fn next_key(&mut self) -> Option<(String, usize)> {
        while self.i < self.b.len() {
            if self.b[self.i] == b'"' {
                let start = self.i + 1;
                let mut j = start;
                while j < self.b.len() && self.b[j] != b'"' {
                    if self.b[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                let end = j.min(self.b.len());
                self.i = j + 1;
                let mut k = self.i;
                while k < self.b.len() && self.b[k].is_ascii_whitespace() {
                    k += 1;
                }
                if k < self.b.len() && self.b[k] == b':' {
                    let s = String::from_utf8_lossy(&self.b[start..end]).into_owned();
                    return Some((s, start));
                }
            } else {
                self.i += 1;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, Default)]
    #[serde(default)]
    struct Inner {
        timeout_sec: u64,
        name: String,
    }
    #[derive(Deserialize, Debug, Default)]
    #[serde(default)]
    struct Doc {
        verify: Inner,
        items: Vec<Inner>,
    }

    fn known() -> Value {
        serde_json::json!({"verify": {"timeout_sec": 0, "name": ""},
                           "items": [{"timeout_sec": 0, "name": ""}]})
    }

    #[test]
    fn unknown_key_warns_with_the_closest_key_and_line() {
        let text = "{\n  \"_comment\": \"hi\",\n  \"verify\": {\n    \"timout_sec\": 5\n  }\n}";
        let l: Loaded<Doc> = load(Path::new("c.json"), text, &known()).unwrap();
        assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
        let w = &l.warnings[0];
        assert!(w.contains("line 4"), "{w}");
        assert!(w.contains("`verify.timout_sec`"), "{w}");
        assert!(w.contains("did you mean `verify.timeout_sec`?"), "{w}");
        assert_eq!(l.value.verify.timeout_sec, 0);
    }

    #[test]
    fn wrong_type_names_key_path_and_line() {
        let text =
            "{\"items\": [\n {\"name\": \"a\"},\n {\"name\": \"b\",\n  \"timeout_sec\": \"x\"}]}";
        let e = load::<Doc>(Path::new("p.json"), text, &known()).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("`items[1].timeout_sec`"), "{s}");
        assert!(s.contains("line 4"), "{s}");
        assert!(s.contains("`p.json`"), "{s}");
    }

    #[test]
    fn syntax_error_names_line_and_nearby_key() {
        let text = "{\n  \"verify\": {\n    \"timeout_sec\": 5,\n  ]\n}";
        let e = load::<Doc>(Path::new("c.json"), text, &known()).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("line 4"), "{s}");
        assert!(s.contains("after key `timeout_sec`"), "{s}");
        assert!(e.hint().contains("trailing commas"));
    }

    #[test]
    fn jsonc_loads_and_later_errors_keep_their_line() {
        let text = "{\n  // the verify section\n  \"verify\": {\n    /* five */ \"timeout_sec\": 5,\n  },\n}";
        let l: Loaded<Doc> = load(Path::new("c.json"), text, &known()).unwrap();
        assert_eq!(l.value.verify.timeout_sec, 5);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!(l.lines.get("verify.timeout_sec"), Some(&4));
        // A wrong type after comments still names its own line.
        let text = "{\n  /* a\n     b */\n  // c\n  \"verify\": {\"timeout_sec\": \"x\"},\n}";
        let s = load::<Doc>(Path::new("c.json"), text, &known())
            .unwrap_err()
            .to_string();
        assert!(
            s.contains("line 5") && s.contains("`verify.timeout_sec`"),
            "{s}"
        );
        // A syntax error after a comment: line and column of the user's file.
        let text =
            "{\n  // c, with \"quotes\"\n  \"verify\": {\"timeout_sec\": 5 \"name\": \"a\"}\n}";
        let s = load::<Doc>(Path::new("c.json"), text, &known())
            .unwrap_err()
            .to_string();
        assert!(s.contains("line 3, column 31"), "{s}");
        assert!(s.contains("after key `timeout_sec`"), "{s}");
    }

    #[test]
    fn closest_only_for_typos() {
        assert_eq!(closest("comand", &["command", "kind"]), Some("command"));
        assert_eq!(closest("zzzzzz", &["command", "kind"]), None);
        // A key cut short is its full name; a short unrelated key is nobody's typo.
        let runner = ["command", "id", "kind", "timeout_sec"];
        assert_eq!(closest("timeout", &runner), Some("timeout_sec"));
        assert_eq!(closest("cwd", &runner), None);
        assert_eq!(closest("env", &runner), None);
        assert_eq!(closest("jbos", &["jobs", "fsync"]), Some("jobs"));
    }
}
