//! Source locations from stack traces and messages: which frame belongs to the user, and how
//! to turn the path a CI machine printed into a repo-relative one.
//!
//! Each language has its own frame shape (below); a trace is scanned with every shape, the
//! frames are put innermost-first, library frames (stdlib, site-packages, node_modules,
//! registry crates, Go module cache, gems, test frameworks) are dropped, and the first frame
//! that maps into the workspace wins. A trace in an unknown shape yields no location: a
//! missing location is better than a wrong one.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use regex::Regex;

use crate::model::Location;

/// One frame found in a trace: a path as printed, a line, maybe a column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub file: String,
    pub line: u32,
    pub column: Option<u32>,
    /// Known to be framework/library code from the frame's own text (e.g. a Java class in
    /// `org.junit`), independent of its path.
    pub library: bool,
    /// Byte offset of the frame in the text (for evidence around it).
    pub at: usize,
}

/// How to make printed paths repo-relative.
#[derive(Clone, Debug, Default)]
pub struct PathContext {
    /// Absolute directories that are the workspace root (the run's cwd, `GITHUB_WORKSPACE`,
    /// `CI_PROJECT_DIR`), `/`-separated, without trailing slash.
    pub roots: Vec<String>,
    /// Directory the runner ran in, relative to the workspace (`python`, or empty): relative
    /// paths in its traces are relative to it.
    pub base: String,
    /// The workspace's files (repo-relative), when the caller listed them: an absolute path
    /// from another machine or container (`/app/src/x.py`, `C:\\build\\src\\X.cs`) is
    /// then mapped to the one workspace file whose path is its longest suffix (two
    /// components at least).
    pub files: Option<Arc<HashSet<String>>>,
}

impl PathContext {
    /// The same context, with the workspace's file list.
    pub fn with_files(mut self, files: Option<Arc<HashSet<String>>>) -> Self {
        self.files = files;
        self
    }

    pub fn new(roots: impl IntoIterator<Item = String>, base: &str) -> Self {
        let roots = roots
            .into_iter()
            .map(|r| r.replace('\\', "/").trim_end_matches('/').to_string())
            .filter(|r| !r.is_empty() && r != "/")
            .collect();
        let base = base.replace('\\', "/");
        let base = base.trim_start_matches("./").trim_matches('/').to_string();
        PathContext {
            roots,
            base: if base == "." { String::new() } else { base },
            files: None,
        }
    }
}

/// Well-known CI checkout directories, stripped when the run's own cwd did not match.
static CI_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:",
        r"/github/workspace/",
        r"|/home/runner/work/[^/]+/[^/]+/",
        r"|/Users/runner/work/[^/]+/[^/]+/",
        r"|[A-Za-z]:/a/[^/]+/[^/]+/",
        r"|/builds/[^/]+/[^/]+/",
        r"|/_/", // .NET deterministic builds (`/_/src/...`)
        r")"
    ))
    .expect("static regex")
});

/// Path fragments that mark library, stdlib and toolchain code.
const LIBRARY_MARKERS: &[&str] = &[
    "node_modules/",
    "site-packages/",
    "dist-packages/",
    "/.cargo/registry/",
    ".cargo/registry/",
    "/.cargo/git/",
    "/rustc/",
    "/.rustup/",
    "/go/pkg/mod/",
    "pkg/mod/",
    "/gems/",
    "vendor/bundle/",
    "vendor/phpunit/",
    "/vendor/",
    "/lib/ruby/",
    "/usr/lib/",
    "/usr/local/go/",
    "/usr/local/lib/",
    "/usr/include/",
    "/usr/share/",
    "/opt/hostedtoolcache/",
    "/.venv/",
    ".venv/",
    "/_pytest/",
    "/pluggy/",
    "/library/std/",
    "/library/core/",
    "/library/alloc/",
];

/// True when `path` (as printed) is library or toolchain code.
pub fn is_library_path(path: &str) -> bool {
    let p = path.replace('\\', "/");
    if p.starts_with("node:")
        || p.starts_with("internal/")
        || p.starts_with('<')
        || p.contains("<anonymous>")
        || p.starts_with("/rustc/")
        || p.starts_with("$GOROOT")
    {
        return true;
    }
    LIBRARY_MARKERS.iter().any(|m| p.contains(m))
}

/// JVM and .NET packages of the runtime and the test frameworks: their frames around the
/// user's are how the assertion was called, not where it failed.
const FRAMEWORK_PACKAGES: &[&str] = &[
    "java.",
    "javax.",
    "jdk.",
    "sun.",
    "com.sun.",
    "org.junit.",
    "junit.",
    "org.testng.",
    "org.apache.maven.surefire.",
    "org.gradle.",
    "org.assertj.",
    "org.hamcrest.",
    "kotlin.",
    "scala.",
    "System.",
    "NUnit.Framework.",
    "Xunit.",
    "Microsoft.VisualStudio.TestTools.",
];

/// True when one line of a trace is a frame in library, runtime or test-framework code
/// (`at org.testng.Assert.fail(Assert.java:99)`, `at new Promise (<anonymous>)`,
/// `at f (/ws/node_modules/jest-circus/x.js:1:2)`): left out of an excerpt beside the user's.
pub fn is_library_frame(line: &str) -> bool {
    let Some(frame) = line.trim().strip_prefix("at ") else {
        return false;
    };
    // JavaScript: `at fn (path:line:col)` or `at path:line:col`.
    if let Some(open) = frame.rfind(" (")
        && frame.ends_with(')')
    {
        return is_library_path(&frame[open + 2..frame.len() - 1]);
    }
    if frame.contains('/') || frame.starts_with("node:") || frame.starts_with('<') {
        return is_library_path(frame);
    }
    FRAMEWORK_PACKAGES.iter().any(|p| frame.starts_with(p))
}

/// Makes a printed path repo-relative: strips `file://`, the workspace roots and the CI
/// checkout prefixes; prefixes relative paths with the runner's base directory. Returns
/// `None` for paths outside the workspace (other absolute paths, `../`).
pub fn normalize_path(raw: &str, ctx: &PathContext) -> Option<String> {
    let mut p = raw.trim().replace('\\', "/");
    if let Some(rest) = p.strip_prefix("file://") {
        p = rest.to_string();
    }
    // Windows drive paths printed as /D:/a/...
    if p.len() > 3 && p.starts_with('/') && p.as_bytes()[2] == b':' {
        p.remove(0);
    }
    let absolute = p.starts_with('/') || (p.len() > 2 && p.as_bytes()[1] == b':');
    let rel = if absolute {
        let mut found = None;
        for root in &ctx.roots {
            if let Some(rest) = p.strip_prefix(root.as_str())
                && let Some(rest) = rest.strip_prefix('/')
            {
                found = Some(rest.to_string());
                break;
            }
        }
        match found {
            Some(r) => r,
            None => match CI_PREFIX.find(&p) {
                Some(m) => p[m.end()..].to_string(),
                None => return foreign_suffix(&p, ctx.files.as_deref()?),
            },
        }
    } else {
        let r = p.trim_start_matches("./");
        // A bare file name (Go `t.Error`, GoogleTest) is relative to a package or build
        // directory we cannot know here: keep it bare for the workspace lookup.
        if ctx.base.is_empty() || !r.contains('/') {
            r.to_string()
        } else {
            format!("{}/{r}", ctx.base)
        }
    };
    clean_relative(&rel)
}

/// The workspace file named by the longest suffix (at least `dir/file`) of a foreign
/// absolute path; `None` when no suffix names a workspace file.
fn foreign_suffix(abs: &str, files: &HashSet<String>) -> Option<String> {
    let parts: Vec<&str> = abs.split('/').filter(|s| !s.is_empty()).collect();
    (1..parts.len().saturating_sub(1))
        .map(|i| parts[i..].join("/"))
        .find(|suffix| files.contains(suffix))
}

/// Resolves `.` and `..` segments; `None` when the path climbs out of the workspace.
fn clean_relative(p: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            s => out.push(s),
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out.join("/"))
    }
}

// Word boundaries in these shapes are ASCII (`(?-u:\b)`), as in `super::CRASH`: a Unicode
// `\b` sends every non-ASCII trace to the regex engine's slow PikeVM.

/// Frame shapes, one per language family. Each capture has `file`, `line`, maybe `col`.
struct Shape {
    re: &'static LazyLock<Regex>,
    /// Frames in this shape are printed outermost first (Python): reverse them.
    outermost_first: bool,
    /// Literals every match contains (one of them at least): a text with none of them is
    /// not searched with `re` (one scan for all shapes instead of one regex pass each).
    needs: &'static [&'static str],
}

// Python traceback: `File "/x/y.py", line 12, in test_x`
static PY_TRACEBACK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"File "(?P<file>[^"]+\.pyx?)", line (?P<line>\d+)"#).expect("static regex")
});
// pytest long repr: `tests/test_x.py:19: AssertionError` / `tests/x.py:23: in recurse`
static PY_PYTEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^(?P<file>[^\s:]+\.py):(?P<line>\d+): \S").expect("static regex")
});
// Rust panic: `panicked at src/lib.rs:16:9:` ; backtrace: `at ./src/lib.rs:16:9`
static RUST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:panicked at |(?m:^)\s+at )(?P<file>[^\s:()]+\.rs):(?P<line>\d+)(?::(?P<col>\d+))?",
    )
    .expect("static regex")
});
// Go: `    calc_test.go:17: msg` (t.Error) and `\t/path/x_test.go:9 +0x2e` (panic stack)
static GO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^\s+(?P<file>[^\s:]+\.go):(?P<line>\d+)(?:: | \+0x|$)").expect("static regex")
});
// JS/TS V8 frames: `at fn (/x/y.js:14:9)`, `at /x/y.ts:1:2`; vitest: ` ❯ spec/x.js:14:9`;
// jest/vitest JSON `at: "/x/y.js:14:9"`.
static JS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?m)(?:^\s*at (?:.*? \()?|^\s*❯ |"at": ?"|(?-u:\b)at: ")(?P<file>(?:file://)?[^\s():"]*\.(?:[cm]?[jt]sx?|vue|svelte)):(?P<line>\d+):(?P<col>\d+)"#,
    )
    .expect("static regex")
});
// Java/Kotlin/Scala: `at com.x.FooTest.method(FooTest.java:15)`
static JVM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?m)^\s*at (?P<class>[\w$.]+)\.[\w$<>]+\((?P<file>[\w$]+\.(?:java|kt|kts|scala|groovy)):(?P<line>\d+)\)",
    )
    .expect("static regex")
});
// Ruby: `./spec/x_spec.rb:7:in 'block'`, `# /x/y.rb:12:in`, `./spec/x_spec.rb:27`
static RUBY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)(?:^|\s|#\s)(?P<file>[^\s:'`]+\.rb):(?P<line>\d+)(?::in(?-u:\b)|\s*$)")
        .expect("static regex")
});
// .NET: `at A.B() in /x/Y.cs:line 25`; Mono: `at A.B () [0x0] in /x/Y.cs:121`
static DOTNET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^\s*at (?P<method>[^\n]*?) in (?P<file>[^\n<>]+?\.(?:cs|fs|vb)):(?:line )?(?P<line>\d+)")
        .expect("static regex")
});
// C/C++: gcc/clang `x.c:12:5: error:`, GoogleTest `x.cc:9` / `x.cc:12: Failure`, Catch2
// `at x.cpp:11`, MSVC/Catch2 `x.cpp(11):`.
static CFAMILY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?m)(?:^\s*|(?-u:\b)at )(?P<file>[^\s:()]+\.(?:c|cc|cpp|cxx|c\+\+|h|hh|hpp|hxx|m|mm))(?::(?P<line>\d+)(?::(?P<col>\d+))?|\((?P<line2>\d+)\))(?::|\s*$)",
    )
    .expect("static regex")
});

// Perl (die, Test::More diagnostics): `at t/mixed.t line 19.`, `at lib/Foo.pm line 12.`
static PERL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)at (?P<file>[^\s]+\.(?:t|pm|pl)) line (?P<line>\d+)(?-u:\b)")
        .expect("static regex")
});
// PHP (PHPUnit traces): `/x/tests/FooTest.php:12`
static PHP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^(?:#\d+ )?(?P<file>[^\s:()]+\.php)(?::(?P<line>\d+)|\((?P<line2>\d+)\))")
        .expect("static regex")
});

/// CFAMILY's extensions, each followed by `:` (`x.c:12`) or `(` (`x.cpp(11)`).
const CFAMILY_NEEDS: [&str; 22] = [
    ".c:", ".c(", ".cc:", ".cc(", ".cpp:", ".cpp(", ".cxx:", ".cxx(", ".c++:", ".c++(", ".h:",
    ".h(", ".hh:", ".hh(", ".hpp:", ".hpp(", ".hxx:", ".hxx(", ".m:", ".m(", ".mm:", ".mm(",
];

/// Every shape's literals in one automaton; pattern `i` belongs to shape `NEEDS.1[i]`.
static NEEDS: LazyLock<(aho_corasick::AhoCorasick, Vec<usize>)> = LazyLock::new(|| {
    let mut pats = Vec::new();
    let mut owner = Vec::new();
    for (i, shape) in SHAPES.iter().enumerate() {
        for p in shape.needs {
            pats.push(*p);
            owner.push(i);
        }
    }
    let ac = aho_corasick::AhoCorasick::new(pats).expect("static literals");
    (ac, owner)
});

/// Which shapes can match `text` (bit `i` for `SHAPES[i]`), from one overlapping scan.
fn possible_shapes(text: &str) -> u32 {
    let (ac, owner) = &*NEEDS;
    let all = (1u32 << SHAPES.len()) - 1;
    let mut mask = 0u32;
    for m in ac.find_overlapping_iter(text) {
        mask |= 1 << owner[m.pattern().as_usize()];
        if mask == all {
            break;
        }
    }
    mask
}

// A static, not a const: before Rust 1.89 a const may not refer to the regex statics (their
// LazyLock is interior mutability), and 1.88 is our rust-version and the image's toolchain.
static SHAPES: &[Shape] = &[
    Shape {
        re: &PY_TRACEBACK,
        outermost_first: true,
        needs: &["\", line "],
    },
    Shape {
        re: &PY_PYTEST,
        outermost_first: true,
        needs: &[".py:"],
    },
    Shape {
        re: &RUST,
        outermost_first: false,
        needs: &[".rs:"],
    },
    Shape {
        re: &GO,
        outermost_first: false,
        needs: &[".go:"],
    },
    Shape {
        re: &JS,
        outermost_first: false,
        needs: &["js:", "jsx:", "ts:", "tsx:", ".vue:", ".svelte:"],
    },
    Shape {
        re: &JVM,
        outermost_first: false,
        needs: &[".java:", ".kt:", ".kts:", ".scala:", ".groovy:"],
    },
    Shape {
        re: &RUBY,
        outermost_first: false,
        needs: &[".rb:"],
    },
    Shape {
        re: &DOTNET,
        outermost_first: false,
        needs: &[".cs:", ".fs:", ".vb:"],
    },
    Shape {
        re: &CFAMILY,
        outermost_first: false,
        needs: &CFAMILY_NEEDS,
    },
    Shape {
        re: &PERL,
        outermost_first: false,
        needs: &[".t line ", ".pm line ", ".pl line "],
    },
    Shape {
        re: &PHP,
        outermost_first: false,
        needs: &[".php:", ".php("],
    },
];

/// JVM classes of the JDK and test frameworks: never the user's frame.
const JVM_LIBRARY: &[&str] = &[
    "java.",
    "javax.",
    "jdk.",
    "sun.",
    "com.sun.",
    "kotlin.",
    "kotlinx.",
    "scala.",
    "org.junit.",
    "junit.",
    "org.hamcrest.",
    "org.assertj.",
    "org.opentest4j.",
    "org.testng.",
    "org.mockito.",
    "org.apache.maven.",
    "org.gradle.",
    "org.spockframework.",
    "io.kotest.",
];

/// .NET namespaces of the runtime and test frameworks.
const DOTNET_LIBRARY: &[&str] = &[
    "System.",
    "Microsoft.",
    "NUnit.Framework.",
    "Xunit.",
    "(wrapper",
];

/// Every frame of every known shape in `text`, innermost first within each shape, shapes in
/// the order above. Library frames are marked, not removed.
pub fn frames(text: &str) -> Vec<Frame> {
    frames_in(text, possible_shapes(text))
}

/// [`frames`] for the shapes in `mask` only.
fn frames_in(text: &str, mask: u32) -> Vec<Frame> {
    let mut all = Vec::new();
    for (i, shape) in SHAPES.iter().enumerate() {
        if mask & (1 << i) == 0 {
            continue;
        }
        let mut found: Vec<Frame> = Vec::new();
        for c in shape.re.captures_iter(text) {
            let Some(file) = c.name("file") else { continue };
            let at = c.get(0).map(|m| m.start()).unwrap_or(0);
            let line = c
                .name("line")
                .or_else(|| c.name("line2"))
                .and_then(|m| m.as_str().parse::<u32>().ok());
            let Some(line) = line.filter(|l| *l > 0) else {
                continue;
            };
            let column = c
                .name("col")
                .and_then(|m| m.as_str().parse::<u32>().ok())
                .filter(|c| *c > 0);
            let mut file = file.as_str().to_string();
            let mut library = false;
            if let Some(class) = c.name("class") {
                // Java frames name only the file; the package gives its directory.
                let class = class.as_str();
                library = JVM_LIBRARY.iter().any(|p| class.starts_with(p));
                let pkg: Vec<&str> = class.split('.').collect();
                if pkg.len() > 1 {
                    let dirs = pkg[..pkg.len() - 1].join("/");
                    file = format!("{dirs}/{file}");
                }
            }
            if let Some(method) = c.name("method") {
                let m = method.as_str().trim();
                library = DOTNET_LIBRARY.iter().any(|p| m.starts_with(p));
            }
            found.push(Frame {
                file,
                line,
                column,
                library,
                at,
            });
        }
        if shape.outermost_first {
            found.reverse();
        }
        all.extend(found);
    }
    all
}

/// The user's frame: the innermost non-library frame whose path maps into the workspace.
/// When `prefer_file` (a repo-relative path the format itself named) is given, a frame in
/// that file wins over frames elsewhere.
pub fn user_frame(text: &str, ctx: &PathContext, prefer_file: Option<&str>) -> Option<Location> {
    user_frame_at(text, ctx, prefer_file).map(|(l, _)| l)
}

/// [`user_frame`] plus the byte offset of that frame in `text`.
pub fn user_frame_at(
    text: &str,
    ctx: &PathContext,
    prefer_file: Option<&str>,
) -> Option<(Location, usize)> {
    let mut first = None;
    for f in frames(text) {
        if f.library || is_library_path(&f.file) {
            continue;
        }
        let Some(file) = normalize_path(&f.file, ctx) else {
            continue;
        };
        let loc = Location {
            file,
            line: Some(f.line),
            column: f.column,
            exists: None,
        };
        match prefer_file {
            Some(p) if same_file(&loc.file, p) => return Some((loc, f.at)),
            Some(_) => {
                if first.is_none() {
                    first = Some((loc, f.at));
                }
            }
            None => return Some((loc, f.at)),
        }
    }
    first
}

/// Same file, allowing one side to be a suffix of the other (`calc_test.go` vs
/// `go/calc/calc_test.go`, `Foo.java` printed by a frame vs the report's path).
pub fn same_file(a: &str, b: &str) -> bool {
    a == b || a.ends_with(&format!("/{b}")) || b.ends_with(&format!("/{a}"))
}

/// Resolves a location whose path is only a suffix of the real one (Java frames give
/// `com/x/Foo.java`, Go `t.Error` lines give `calc_test.go`, pytest paths are relative to its
/// rootdir) against the workspace's file list. Returns the unique match; `hint` (e.g. a Go
/// package path) breaks ties by directory. `None` when it is absent or ambiguous.
pub fn resolve_suffix<'a>(file: &str, index: &'a [String], hint: Option<&str>) -> Option<&'a str> {
    if let Some(exact) = index.iter().find(|f| f.as_str() == file) {
        return Some(exact);
    }
    let suffix = format!("/{file}");
    let matches: Vec<&String> = index.iter().filter(|f| f.ends_with(&suffix)).collect();
    match matches.len() {
        0 => None,
        1 => Some(matches[0]),
        _ => {
            let hint = hint?.replace('\\', "/");
            let hinted: Vec<&&String> = matches
                .iter()
                .filter(|f| {
                    let dir = f.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    !dir.is_empty()
                        && (hint.ends_with(&format!("/{dir}")) || hint == dir || {
                            let last = dir.rsplit('/').next().unwrap_or(dir);
                            hint.rsplit('/').next() == Some(last)
                        })
                })
                .collect();
            (hinted.len() == 1).then(|| hinted[0].as_str())
        }
    }
}

/// Makes a diagnosis's locations relative to the repository root instead of the project
/// directory: `prefix` is the project directory relative to the root (`backend` for
/// `working-directory: backend`). Every view of diagnose.json — annotations, check run,
/// comment and summary links, SARIF, GitLab Code Quality — then names files as the
/// repository does. Task titles that quote a location (`... at tests/x.py:3`) follow.
/// A problem's reproduce command keeps project-relative paths (it runs in the project
/// directory: `codeloop_rerun_failed` runs it there); a task's, which the comment, the summary
/// and the terminal show beside repo-relative locations, starts with `cd <prefix> && ` so that
/// it runs as shown from the repository root.
pub fn rebase(doc: &mut crate::model::DiagnoseDoc, prefix: &str) {
    let Some(prefix) = clean_prefix(prefix) else {
        return;
    };
    // Returns the location as it was shown and its file, before the move.
    let move_loc = |loc: &mut Location| -> (String, String) {
        let before = (loc.to_string(), loc.file.clone());
        loc.file = format!("{prefix}/{}", loc.file);
        before
    };
    for p in &mut doc.problems {
        if let Some(loc) = p.location.as_mut() {
            move_loc(loc);
        }
    }
    for t in &mut doc.tasks {
        if let Some(cmd) = t.reproduce.as_mut() {
            *cmd = format!("cd {} && {cmd}", super::reproduce::sh_quote(&prefix));
        }
        let Some(loc) = t.location.as_mut() else {
            continue;
        };
        let (before, before_file) = move_loc(loc);
        let after = loc.to_string();
        t.title = t
            .title
            .replacen(&format!(" at {before}"), &format!(" at {after}"), 1)
            .replacen(
                &format!(" in {before_file}:"),
                &format!(" in {}:", loc.file),
                1,
            );
    }
}

/// A project directory relative to the root as a path prefix (`backend`), or `None` when the
/// project is the root.
fn clean_prefix(prefix: &str) -> Option<String> {
    let prefix = prefix.replace('\\', "/");
    let prefix = prefix.trim_matches('/').trim_start_matches("./");
    (!prefix.is_empty() && prefix != ".").then(|| prefix.to_string())
}

/// Names the result files of a run's parse errors relative to the repository root, as
/// [`rebase`] does locations: the diagnosis's "cannot read result file" tasks and the gate's
/// `unreadable` reason then say `backend/reports/junit.xml`, the path a reader of the pull
/// request can find, not the one the reports pattern matched in the project directory.
/// Absolute paths stay as they are. verify.json on disk keeps the paths as matched (verify's
/// own output and the reproduce commands speak from the project directory).
pub fn rebase_result_files(verify: &mut crate::model::VerifyDoc, prefix: &str) {
    let Some(prefix) = clean_prefix(prefix) else {
        return;
    };
    for pe in verify.runners.iter_mut().flat_map(|r| &mut r.parse_errors) {
        if pe.file.is_empty() || std::path::Path::new(&pe.file).is_absolute() {
            continue;
        }
        let file = pe.file.trim_start_matches("./");
        pe.file = format!("{prefix}/{file}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefilter_finds_what_every_shape_finds() {
        // Every result file in the repository's fixtures and corpus, searched whole (their
        // traces are in every language we know): skipping shapes by their literals must
        // change nothing.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        let all = (1u32 << SHAPES.len()) - 1;
        let (mut files, mut found) = (0, 0);
        for e in walkdir::WalkDir::new(&root)
            .into_iter()
            .filter_map(Result::ok)
        {
            let Ok(text) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            if text.len() > 1 << 20 {
                continue;
            }
            files += 1;
            let every = frames_in(&text, all);
            found += every.len();
            assert_eq!(frames(&text), every, "{}", e.path().display());
        }
        assert!(files > 100 && found > 100, "{files} files, {found} frames");
        // And each shape's own sample, alone in its text.
        for t in [
            "File \"/w/t.py\", line 3, in f",
            "tests/x.py:19: AssertionError",
            "panicked at src/lib.rs:16:9:",
            "\tcalc_test.go:17: msg",
            "    at f (/w/a.mjs:1:2)",
            "\tat com.x.FooTest.m(FooTest.kt:15)",
            "./spec/x_spec.rb:7:in 'b'",
            "   at A.B() in /w/Y.vb:line 25",
            "src/x.c++(11): error",
            "died at t/x.pm line 19.",
            "#0 /w/tests/FooTest.php(12)",
        ] {
            assert!(!frames(t).is_empty(), "{t}");
            assert_eq!(frames(t), frames_in(t, all), "{t}");
        }
    }

    #[test]
    fn rebase_prefixes_locations_and_task_titles() {
        use crate::model::{Category, DiagnoseDoc, Problem, RepairTask, Severity};
        let loc = Location {
            file: "tests/test_x.py".into(),
            line: Some(3),
            column: None,
            exists: Some(true),
        };
        let mut doc = DiagnoseDoc {
            schema_version: 1,
            run_id: "r".into(),
            problems: vec![Problem {
                id: "p1".into(),
                category: Category::TestFailure,
                runner: "pytest".into(),
                test: None,
                title: "t".into(),
                location: Some(loc.clone()),
                evidence: String::new(),
                reproduce: Some("pytest tests/test_x.py".into()),
                severity: Severity::Error,
                suite_error: None,
            }],
            tasks: vec![RepairTask {
                id: "t1".into(),
                category: Category::TestFailure,
                title: "2 tests fail the same way at tests/test_x.py:3: boom".into(),
                location: Some(loc),
                evidence: String::new(),
                reproduce: Some("pytest tests/test_x.py::test_a".into()),
                problems: vec!["p1".into()],
                tests: Vec::new(),
            }],
            truncated: 0,
        };
        let same = doc.clone();
        rebase(&mut doc, "");
        rebase(&mut doc, "./");
        assert_eq!(doc, same);
        rebase(&mut doc, "backend/");
        assert_eq!(
            doc.problems[0].location.as_ref().unwrap().file,
            "backend/tests/test_x.py"
        );
        // The reproduce command runs in the project directory: unchanged.
        assert_eq!(doc.problems[0].reproduce, same.problems[0].reproduce);
        // The task's, shown beside `backend/tests/test_x.py:3`, runs from the root.
        assert_eq!(
            doc.tasks[0].reproduce.as_deref(),
            Some("cd backend && pytest tests/test_x.py::test_a")
        );
        assert_eq!(
            doc.tasks[0].title,
            "2 tests fail the same way at backend/tests/test_x.py:3: boom"
        );
    }

    fn ctx() -> PathContext {
        PathContext::new(["/work/repo".to_string()], "")
    }

    #[test]
    fn strips_ci_prefixes_and_roots() {
        let c = ctx();
        for (raw, want) in [
            ("/github/workspace/src/a.rs", Some("src/a.rs")),
            ("/home/runner/work/r/r/pkg/x.py", Some("pkg/x.py")),
            ("/builds/grp/proj/lib/y.rb", Some("lib/y.rb")),
            ("/work/repo/tests/t.py", Some("tests/t.py")),
            ("D:\\a\\r\\r\\src\\A.cs", Some("src/A.cs")),
            ("file:///work/repo/a/b.ts", Some("a/b.ts")),
            ("./spec/x_spec.rb", Some("spec/x_spec.rb")),
            ("/usr/lib/python3/x.py", None),
            ("../outside.py", None),
        ] {
            assert_eq!(normalize_path(raw, &c).as_deref(), want, "{raw}");
        }
        let sub = PathContext::new(Vec::new(), "./python/");
        assert_eq!(
            normalize_path("tests/t.py", &sub).as_deref(),
            Some("python/tests/t.py")
        );
    }

    #[test]
    fn foreign_absolute_paths_map_to_a_workspace_file_by_suffix() {
        let files: HashSet<String> = [
            "Pickles.TestHarness/Pickles.TestHarness.NUnit/Steps.cs",
            "src/app/models.py",
            "models.py",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = ctx().with_files(Some(Arc::new(files)));
        // peers/publish-unit-test-result-action nunit/mstest/pickles.xml
        let t = "at Pickles.TestHarness.xUnit.Steps.ThenTheResultShouldBePass(Int32 result) in C:\\dev\\pickles-results-harness\\Pickles.TestHarness\\Pickles.TestHarness.NUnit\\Steps.cs:line 26";
        assert_eq!(
            user_frame(t, &c, None).unwrap().to_string(),
            "Pickles.TestHarness/Pickles.TestHarness.NUnit/Steps.cs:26"
        );
        // Tests that ran in a container under /app.
        assert_eq!(
            normalize_path("/app/src/app/models.py", &c).as_deref(),
            Some("src/app/models.py")
        );
        // A bare file name is not enough evidence; an unknown file stays unknown.
        assert_eq!(normalize_path("/srv/models.py", &c), None);
        assert_eq!(normalize_path("/app/src/other.py", &c), None);
        // Without the list nothing is guessed.
        assert_eq!(normalize_path("/app/src/app/models.py", &ctx()), None);
    }

    #[test]
    fn unknown_shapes_give_no_location() {
        for t in [
            "something went wrong at line 12",
            "at Corpus.Sample.MixedTests.Add (System.Int32 a) [0x00000] in <16e46ec4a1>:0",
            "Expected: 5\n  But was:  4",
            "error in foo:bar",
        ] {
            assert_eq!(user_frame(t, &ctx(), None), None, "{t}");
        }
    }

    #[test]
    fn perl_and_php_frames() {
        // generated/tap-perl/mixed.tap
        let t = "#   Failed (TODO) test 'todo that fails (expected)'\n#   at t/mixed.t line 19.\n";
        assert_eq!(
            user_frame(t, &ctx(), None).unwrap().to_string(),
            "t/mixed.t:19"
        );
        let p = "Failed asserting that 4 is identical to 5.\n\n/work/repo/tests/CalcTest.php:21\n/work/repo/vendor/phpunit/phpunit/src/Framework/TestCase.php:1200\n";
        assert_eq!(
            user_frame(p, &ctx(), None).unwrap().to_string(),
            "tests/CalcTest.php:21"
        );
    }

    #[test]
    fn skips_library_frames() {
        let t = "Traceback (most recent call last):\n  File \"/work/repo/tests/test_a.py\", line 7, in test_a\n    f()\n  File \"/usr/lib/python3.12/json/__init__.py\", line 346, in loads\n";
        let l = user_frame(t, &ctx(), None).unwrap();
        assert_eq!(l.to_string(), "tests/test_a.py:7");
        let j = "Error: x\n    at f (/work/repo/node_modules/lib/a.js:1:2)\n    at Object.<anonymous> (/work/repo/src/a.test.ts:9:3)";
        assert_eq!(
            user_frame(j, &ctx(), None).unwrap().to_string(),
            "src/a.test.ts:9:3"
        );
    }

    #[test]
    fn resolves_suffixes_uniquely() {
        let idx: Vec<String> = [
            "go/calc/calc_test.go",
            "go/other/util_test.go",
            "svc/a/util_test.go",
            "src/test/java/com/x/FooTest.java",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            resolve_suffix("calc_test.go", &idx, None),
            Some("go/calc/calc_test.go")
        );
        assert_eq!(resolve_suffix("util_test.go", &idx, None), None);
        assert_eq!(
            resolve_suffix("util_test.go", &idx, Some("example.com/m/other")),
            Some("go/other/util_test.go")
        );
        assert_eq!(
            resolve_suffix("com/x/FooTest.java", &idx, None),
            Some("src/test/java/com/x/FooTest.java")
        );
        assert_eq!(resolve_suffix("Nope.java", &idx, None), None);
    }

    #[test]
    fn library_frames_are_the_runtimes_and_frameworks() {
        for lib in [
            "\tat org.testng.Assert.assertEquals(Assert.java:122)",
            "at sun.reflect.NativeMethodAccessorImpl.invoke0(Native Method)",
            "    at new Promise (<anonymous>)",
            "    at callAsyncCircusFn (/ws/node_modules/jest-circus/build/utils.js:1774:10)",
            "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
            "   at NUnit.Framework.Assert.That(Object actual)",
        ] {
            assert!(is_library_frame(lib), "{lib}");
        }
        for own in [
            "\tat org.apache.pulsar.VersionTest.testVersionStrings(VersionTest.java:29)",
            "    at Object.<anonymous> (/ws/test/a.test.js:7:3)",
            "    at /ws/src/cart.js:3:1",
            "E   AssertionError: at the end",
            "at least one",
        ] {
            assert!(!is_library_frame(own), "{own}");
        }
    }
}
