//! `go test -json` (also `gotestsum --jsonfile`): one JSON event a line (`run`, `output`,
//! `pass`, `fail`, `skip`, `pause`, `cont`, `start`, `build-output`, `build-fail`), with
//! non-JSON lines interleaved when stderr is merged in (compiler errors under `# pkg`
//! headers, `FAIL pkg [build failed]`). Read line by line; only running tests and their
//! bounded output are held.
//!
//! Counting rules (they match gotestsum's `DONE N tests, N skipped, N failures, N errors`):
//! - every test *and subtest* that ends is one case: `pass` → passed, `fail` → failed, `skip`
//!   → skipped (Go has no test-level error category: `t.Error`, `t.Fatal` and panics are
//!   failures; a parent whose subtest failed fails too and is counted too); runnable
//!   examples are tests;
//! - a package that failed to build (`# pkg` compiler output, `FAIL pkg [build failed]`,
//!   go ≥ 1.24 `build-fail`) is a [`SuiteError`] of kind `build` — gotestsum's "errors";
//! - a package that failed with no failing test (a panic in `init`/`TestMain`, a timeout, a
//!   crash) is a [`SuiteError`] of kind `package`; tests of that package that started but
//!   never ended are failed, with the package output attached;
//! - package-level `pass`/`skip` (`[no test files]`) are not tests.
//!
//! A case's output is the test's own `output` events without go's `=== RUN`/`--- FAIL`
//! framing; its failure message is the first `file_test.go:N: message` line (or the panic),
//! whose file and line become the case's location.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::BufRead;

use serde_json::Value;

use super::json::{self, Keep};
use super::textbuf::TextBuf;
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Case, Failure, Position, Status, SuiteError};

/// The event fields read below; the others (`Time`, ...) are checked, not built.
const EVENT_KEYS: Keep = Keep::Only(&[
    ("Action", Keep::All),
    ("Package", Keep::All),
    ("ImportPath", Keep::All),
    ("Test", Keep::All),
    ("Output", Keep::All),
    ("Elapsed", Keep::All),
    ("FailedBuild", Keep::All),
]);

struct Running {
    out: TextBuf,
}

#[derive(Default)]
struct Pkg {
    out: Option<TextBuf>,
    failed_tests: u64,
    build_failed: bool,
}

struct State {
    max: usize,
    running: HashMap<(String, String), Running>,
    pkgs: HashMap<String, Pkg>,
    /// Raw compiler output under a `# pkg` header, by package.
    build: HashMap<String, TextBuf>,
    build_order: Vec<String>,
    current_build: Option<String>,
    reported_build: HashSet<String>,
    events: u64,
}

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut st = State {
        max: opts.max_text_bytes,
        running: HashMap::new(),
        pkgs: HashMap::new(),
        build: HashMap::new(),
        build_order: Vec::new(),
        current_build: None,
        reported_build: HashSet::new(),
        events: 0,
    };
    json::for_each_line_fast(reader, sink, EVENT_KEYS, |line, sink| {
        match line {
            json::FastLine::Json(raw, pos) => match Ev::strict(raw) {
                Some(ev) => on_event(&mut st, &ev, pos, sink),
                None => return Ok(false),
            },
            json::FastLine::Line(json::Line::Value(v, pos)) => {
                on_event(&mut st, &Ev::of(&v), pos, sink)
            }
            json::FastLine::Line(json::Line::Other(text, _)) => raw_line(&mut st, text, sink),
        }
        Ok(true)
    })?;
    if st.events == 0 && st.build.is_empty() {
        return Err(ParseError::new(
            "not a `go test -json` stream: no lines with an `Action`",
        ));
    }
    // Compiler output never followed by a FAIL line: still a build failure.
    for pkg in std::mem::take(&mut st.build_order) {
        if !st.reported_build.contains(&pkg) {
            report_build(&mut st, &pkg, sink);
        }
    }
    // Tests that started and never ended (the stream was cut).
    let mut left: Vec<(String, String)> = st.running.keys().cloned().collect();
    left.sort();
    for key in left {
        if let Some(r) = st.running.remove(&key) {
            sink.warning(
                None,
                format!(
                    "test `{}` in `{}` started but never ended: the run was cut short",
                    key.1, key.0
                ),
            );
            let case = finish(&key.0, &key.1, Status::Failed, None, r.out, st.max, true);
            sink.case(case);
        }
    }
    Ok(())
}

fn is_framing(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("=== RUN")
        || t.starts_with("=== PAUSE")
        || t.starts_with("=== CONT")
        || t.starts_with("=== NAME")
        || t.starts_with("--- PASS:")
        || t.starts_with("--- FAIL:")
        || t.starts_with("--- SKIP:")
}

fn on_event(st: &mut State, ev: &Ev<'_>, pos: Position, sink: &mut dyn Sink) {
    if ev.has_action {
        st.events += 1;
        st.current_build = None;
        event(st, ev, pos, sink);
    }
}

/// What [`event`] reads of one event line.
#[derive(Debug, PartialEq)]
struct Ev<'a> {
    has_action: bool,
    action: Option<Cow<'a, str>>,
    pkg: Option<Cow<'a, str>>,
    test: Option<Cow<'a, str>>,
    output: Option<Cow<'a, str>>,
    elapsed: Option<f64>,
    failed_build: bool,
}

impl<'a> Ev<'a> {
    /// From the lenient reader's value (the reference behaviour).
    fn of(v: &'a Value) -> Self {
        let s = |k: &str| json::str_of(v, k).map(Cow::Borrowed);
        Ev {
            has_action: v.get("Action").is_some(),
            action: s("Action"),
            pkg: s("Package").or_else(|| s("ImportPath")),
            test: s("Test"),
            output: s("Output"),
            elapsed: json::seconds_of(v, "Elapsed", 1.0),
            failed_build: v.get("FailedBuild").is_some(),
        }
    }

    /// The fast path: serde_json on the raw line, with borrowed strings. `None` whenever the
    /// line is anything but plain strict JSON with only go's own keys (then the lenient
    /// reader reads it, with its warnings): serde refuses NaN, out-of-range numbers, control
    /// characters, bad escapes, lone surrogates, invalid UTF-8, duplicate and unknown keys.
    fn strict(raw: &'a [u8]) -> Option<Self> {
        let e: StrictEvent<'a> = serde_json::from_slice(raw).ok()?;
        let elapsed = match e.elapsed {
            Field::Absent | Field::Other => None,
            // `-0` is an integer 0 for the lenient reader, -0.0 for serde: let it decide.
            Field::Num(f) if f == 0.0 && f.is_sign_negative() => return None,
            Field::Num(f) => Some(f).filter(|f| f.is_finite() && *f >= 0.0),
            Field::Str(t) => {
                super::text::parse_seconds(t.trim().trim_end_matches('s')).filter(|f| *f >= 0.0)
            }
        };
        Some(Ev {
            has_action: !matches!(e.action, Field::Absent),
            action: e.action.into_str(),
            pkg: e.package.into_str().or_else(|| e.import_path.into_str()),
            test: e.test.into_str(),
            output: e.output.into_str(),
            elapsed,
            failed_build: !matches!(e.failed_build, Field::Absent),
        })
    }
}

/// One line of `go test -json` as serde reads it (see [`Ev::strict`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictEvent<'a> {
    #[serde(rename = "Time", default)]
    _time: Field<'a>,
    #[serde(rename = "Action", default, borrow)]
    action: Field<'a>,
    #[serde(rename = "Package", default, borrow)]
    package: Field<'a>,
    #[serde(rename = "ImportPath", default, borrow)]
    import_path: Field<'a>,
    #[serde(rename = "Test", default, borrow)]
    test: Field<'a>,
    #[serde(rename = "Output", default, borrow)]
    output: Field<'a>,
    #[serde(rename = "Elapsed", default, borrow)]
    elapsed: Field<'a>,
    #[serde(rename = "FailedBuild", default, borrow)]
    failed_build: Field<'a>,
}

/// Any JSON value, as the lenient accessors see it: a string, a number, something else, or
/// no key at all. Nested values are walked (not skipped) so that serde checks all of them.
#[derive(Default)]
enum Field<'a> {
    #[default]
    Absent,
    Str(Cow<'a, str>),
    Num(f64),
    Other,
}

impl<'a> Field<'a> {
    fn into_str(self) -> Option<Cow<'a, str>> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Field<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Field<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Owned(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Field<'a>, E> {
                Ok(Field::Num(v as f64))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Field<'a>, E> {
                Ok(Field::Num(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Field<'a>, E> {
                Ok(Field::Num(v))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Field<'a>, E> {
                Ok(Field::Other)
            }
            fn visit_unit<E>(self) -> Result<Field<'a>, E> {
                Ok(Field::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Field<'a>, A::Error> {
                while a.next_element::<Field<'de>>()?.is_some() {}
                Ok(Field::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Field<'a>, A::Error> {
                while a.next_entry::<Field<'de>, Field<'de>>()?.is_some() {}
                Ok(Field::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

fn event(st: &mut State, v: &Ev<'_>, pos: Position, sink: &mut dyn Sink) {
    let action = v.action.as_deref().unwrap_or("");
    let pkg = v.pkg.as_deref().unwrap_or("").to_string();
    let test = v.test.as_deref().map(str::to_string);
    let max = st.max;
    match (action, test) {
        ("build-output", _) => {
            let key = pkg.split(" [").next().unwrap_or(&pkg).to_string();
            if !st.build.contains_key(&key) {
                st.build_order.push(key.clone());
            }
            let buf = st.build.entry(key).or_insert_with(|| TextBuf::new(max));
            if let Some(o) = v.output.as_deref() {
                buf.push(o);
            }
        }
        ("build-fail", _) => {
            let key = pkg.split(" [").next().unwrap_or(&pkg).to_string();
            report_build(st, &key, sink);
        }
        ("run", Some(t)) => {
            st.running.insert(
                (pkg, t),
                Running {
                    out: TextBuf::new(max),
                },
            );
        }
        ("output", Some(t)) => {
            let o = v.output.as_deref().unwrap_or("");
            if let Some(r) = st.running.get_mut(&(pkg.clone(), t)) {
                if !is_framing(o) {
                    r.out.push(o);
                }
            } else {
                // Output after the test ended (or without `run`): keep it with the package.
                pkg_out(st, &pkg).push(o);
            }
        }
        ("pass" | "fail" | "skip", Some(t)) => {
            let status = match action {
                "pass" => Status::Passed,
                "fail" => Status::Failed,
                _ => Status::Skipped,
            };
            let key = (pkg.clone(), t);
            let out = st
                .running
                .remove(&key)
                .map(|r| r.out)
                .unwrap_or_else(|| TextBuf::new(max));
            if status == Status::Failed {
                st.pkgs.entry(pkg.clone()).or_default().failed_tests += 1;
            }
            let elapsed = v.elapsed;
            sink.case(finish(&key.0, &key.1, status, elapsed, out, max, false));
        }
        ("output", None) => {
            let o = v.output.as_deref().unwrap_or("").to_string();
            if o.starts_with("FAIL\t")
                && (o.contains("[build failed]") || o.contains("[setup failed]"))
            {
                pkg_out(st, &pkg).push(&o);
                report_build(st, &pkg, sink);
            } else {
                pkg_out(st, &pkg).push(&o);
            }
        }
        ("fail", None) => {
            let failed_build = v.failed_build;
            if failed_build {
                report_build(st, &pkg, sink);
            }
            // Tests of this package still running: the binary died under them.
            let mut orphans: Vec<(String, String)> = st
                .running
                .keys()
                .filter(|(p, _)| *p == pkg)
                .cloned()
                .collect();
            orphans.sort();
            let pkg_text = st
                .pkgs
                .get(&pkg)
                .and_then(|p| p.out.as_ref())
                .map(TextBuf::text)
                .unwrap_or_default();
            for key in &orphans {
                if let Some(mut r) = st.running.remove(key) {
                    r.out.push(&pkg_text);
                    st.pkgs.entry(pkg.clone()).or_default().failed_tests += 1;
                    sink.case(finish(
                        &key.0,
                        &key.1,
                        Status::Failed,
                        None,
                        r.out,
                        max,
                        true,
                    ));
                }
            }
            let p = st.pkgs.entry(pkg.clone()).or_default();
            if p.failed_tests == 0 && !p.build_failed {
                let text = p.out.as_ref().map(TextBuf::text).unwrap_or_default();
                let cleaned = super::text::clean_control(&text);
                let reason = cleaned
                    .lines()
                    .map(str::trim)
                    .find(|l| {
                        l.starts_with("panic:")
                            || l.contains("test timed out")
                            || l.starts_with("fatal error:")
                    })
                    .or_else(|| {
                        cleaned
                            .lines()
                            .map(str::trim)
                            .find(|l| !l.is_empty() && *l != "FAIL" && !l.starts_with("FAIL\t"))
                    })
                    .unwrap_or("the package's test binary failed without a failing test")
                    .to_string();
                sink.suite_error(SuiteError {
                    suite: pkg.clone(),
                    // Package name and output line are not bounded; the message is (fuzzing).
                    message: json::clean(&format!("package `{pkg}` failed: {reason}"), max),
                    kind: "package".into(),
                    trace: json::clean_opt(Some(&text), max),
                    ..Default::default()
                });
                p.build_failed = true; // report once
            }
            // The package is done; free its buffer.
            if let Some(p) = st.pkgs.get_mut(&pkg) {
                p.out = None;
            }
        }
        ("pass" | "skip", None) => {
            if let Some(p) = st.pkgs.get_mut(&pkg) {
                p.out = None;
            }
        }
        ("start" | "pause" | "cont" | "bench", _) => {}
        (other, _) => {
            sink.warning(Some(pos), format!("unknown `Action` `{other}`; ignored"));
        }
    }
}

fn pkg_out<'a>(st: &'a mut State, pkg: &str) -> &'a mut TextBuf {
    let max = st.max;
    st.pkgs
        .entry(pkg.to_string())
        .or_default()
        .out
        .get_or_insert_with(|| TextBuf::new(max))
}

fn raw_line(st: &mut State, line: &str, sink: &mut dyn Sink) {
    if let Some(h) = line.strip_prefix("# ") {
        // `# example.com/pkg` or `# example.com/pkg [example.com/pkg.test]`
        let pkg = h.split(" [").next().unwrap_or(h).trim().to_string();
        if !pkg.is_empty() && !pkg.contains(char::is_whitespace) {
            if !st.build.contains_key(&pkg) {
                st.build_order.push(pkg.clone());
            }
            st.build
                .entry(pkg.clone())
                .or_insert_with(|| TextBuf::new(st.max));
            st.current_build = Some(pkg);
            return;
        }
    }
    if let Some(rest) = line.strip_prefix("FAIL")
        && (rest.contains("[build failed]") || rest.contains("[setup failed]"))
    {
        let pkg = rest.split_whitespace().next().unwrap_or("").to_string();
        if !pkg.is_empty() {
            report_build(st, &pkg, sink);
        }
        st.current_build = None;
        return;
    }
    if let Some(pkg) = st.current_build.clone()
        && let Some(b) = st.build.get_mut(&pkg)
    {
        b.push(line);
        b.push("\n");
    }
}

fn report_build(st: &mut State, pkg: &str, sink: &mut dyn Sink) {
    if pkg.is_empty() || !st.reported_build.insert(pkg.to_string()) {
        return;
    }
    st.pkgs.entry(pkg.to_string()).or_default().build_failed = true;
    let text = st.build.remove(pkg).map(|b| b.text()).unwrap_or_default();
    let cleaned = super::text::clean_control(&text);
    let first = cleaned
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let loc = go_location(first);
    let message = match &loc {
        Some((_, _, msg)) => msg.to_string(),
        None if !first.is_empty() => first.to_string(),
        None => "build failed".to_string(),
    };
    sink.suite_error(SuiteError {
        suite: pkg.to_string(),
        message: json::clean(
            &format!("package `{pkg}` failed to build: {message}"),
            st.max,
        ),
        file: loc.as_ref().map(|l| l.0.clone()),
        line: loc.as_ref().map(|l| l.1),
        kind: "build".into(),
        trace: json::clean_opt(Some(&text), st.max),
        ..Default::default()
    });
}

/// `path/file.go:12:5: message` or `file_test.go:12: message` → (file, line, message).
/// (Diagnose reads gotestsum's JUnit texts with it too.)
pub(crate) fn go_location(line: &str) -> Option<(String, u32, &str)> {
    let t = line.trim();
    let go = t.find(".go:")?;
    let file = &t[..go + 3];
    if file.contains(' ') {
        return None;
    }
    let rest = &t[go + 4..];
    let (ln, rest) = rest.split_once(':')?;
    let ln: u32 = ln.parse().ok()?;
    // Optional column.
    let rest = match rest.split_once(':') {
        Some((col, r)) if col.chars().all(|c| c.is_ascii_digit()) && !col.is_empty() => r,
        _ => rest,
    };
    Some((file.to_string(), ln, rest.trim()))
}

fn finish(
    pkg: &str,
    test: &str,
    status: Status,
    elapsed: Option<f64>,
    out: TextBuf,
    max: usize,
    orphan: bool,
) -> Case {
    let mut case = Case::new(test, status);
    if !pkg.is_empty() {
        case.classname = Some(pkg.to_string());
        case.suite = vec![pkg.to_string()];
    }
    case.duration = elapsed;
    let text = out.text();
    let cleaned = super::text::clean_control(&text);
    match status {
        Status::Failed => {
            let loc = cleaned.lines().find_map(go_location);
            let panic = cleaned
                .lines()
                .map(str::trim)
                .find(|l| l.starts_with("panic:"))
                .map(|l| l.trim_end_matches(" [recovered]").to_string());
            let message = match (&loc, panic) {
                (_, Some(p)) => Some(p),
                (Some((_, _, m)), None) if !m.is_empty() => Some(m.to_string()),
                _ if orphan => {
                    Some("the test never finished: its package's test binary failed".into())
                }
                _ => cleaned
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .map(str::to_string),
            };
            if let Some((f, l, _)) = loc {
                case.file = Some(f);
                case.line = Some(l);
            }
            case.failure = Some(Failure {
                kind: None,
                message: message.map(|m| json::clean(&m, max)),
                trace: json::clean_opt(Some(&cleaned), max),
            });
            case.output = None;
        }
        Status::Skipped => {
            case.skip_reason = cleaned
                .lines()
                .find_map(go_location)
                // Bounded like every text (found by fuzzing).
                .map(|(_, _, m)| json::clean(m, max))
                .filter(|m| !m.is_empty());
        }
        _ => {}
    }
    case
}

#[cfg(test)]
mod tests {
    use crate::parsers::{Format, parse_bytes};

    /// The lenient reader on one line: its event and whether it warned.
    fn lenient(line: &[u8]) -> Option<(String, bool)> {
        let mut b = line;
        let mut jr = crate::parsers::json::JsonReader::new(&mut b);
        let v = jr.read_value().and_then(|v| jr.finish().map(|_| v)).ok()?;
        let mut c = crate::parsers::Collector::default();
        jr.flush_warnings(&mut c);
        Some((format!("{:?}", super::Ev::of(&v)), !c.warnings.is_empty()))
    }

    fn strict_agrees(line: &[u8]) {
        if let Some(ev) = super::Ev::strict(line) {
            let (lenient, warned) = lenient(line).expect("serde accepted what the reader refuses");
            assert!(
                !warned,
                "serde accepted a line the reader warns about: {line:?}"
            );
            assert_eq!(
                format!("{ev:?}"),
                lenient,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn strict_fast_path_is_the_lenient_reading_or_declines() {
        let lines: &[&[u8]] = &[
            br#"{"Time":"2024-01-01T00:00:00Z","Action":"pass","Package":"p","Test":"T","Elapsed":0.25}"#,
            br#"{"Action":"output","Package":"p","Test":"T","Output":"a\tb\n\u00e9\"q\"\n"}"#,
            br#"{"Action":"fail","ImportPath":"p [p.test]","FailedBuild":null}"#,
            br#"{"Action":"pass","Package":"p","Elapsed":"1.5s"}"#,
            br#"{"Action":null,"Package":1,"Test":["x"],"Elapsed":-0}"#,
            br#"{"Action":"pass","Elapsed":-0.0}"#,
            br#"{"Action":"pass","Elapsed":-2}"#,
            br#"{"Action":"pass","Elapsed":1e400}"#,
            br#"{"Action":"pass","Elapsed":NaN}"#,
            br#"{"Action":"pass","Action":"fail"}"#,
            br#"{"Action":"pass","Extra":{"k":[1,2]}}"#,
            br#"{"Action":"output","Output":"\ud800"}"#,
            b"{\"Action\":\"output\",\"Output\":\"raw\x01ctl\"}",
            b"{\"Action\":\"output\",\"Output\":\"bad \xff utf8\"}",
            br#"{"Action":"run","Test":"T"} trailing"#,
        ];
        for l in lines {
            strict_agrees(l);
        }
        // The common lines do take the fast path.
        assert!(super::Ev::strict(lines[0]).is_some());
        assert!(super::Ev::strict(lines[1]).is_some());
        assert!(super::Ev::strict(lines[5]).is_none());
        assert!(super::Ev::strict(lines[9]).is_none());
    }

    proptest::proptest! {
        #[test]
        fn strict_fast_path_agrees_on_damaged_lines(
            flips in proptest::collection::vec((0usize..200, proptest::prelude::any::<u8>()), 0..3),
        ) {
            let base = br#"{"Time":"2024-01-01T00:00:00.5Z","Action":"output","Package":"example.com/p","Test":"TestX/sub","Output":"    x_test.go:12: want 1, got 2\n","Elapsed":0.01}"#;
            let mut d = base.to_vec();
            for (at, b) in flips {
                if let Some(x) = d.get_mut(at % base.len()) {
                    *x = b;
                }
            }
            strict_agrees(&d);
        }
    }

    #[test]
    fn subtests_output_and_package_failures() {
        let doc = br#"{"Action":"start","Package":"ex/a"}
{"Action":"run","Package":"ex/a","Test":"TestP"}
{"Action":"output","Package":"ex/a","Test":"TestP","Output":"=== RUN   TestP\n"}
{"Action":"run","Package":"ex/a","Test":"TestP/sub"}
{"Action":"output","Package":"ex/a","Test":"TestP/sub","Output":"    a_test.go:15: expected 1, got 2\n"}
{"Action":"output","Package":"ex/a","Test":"TestP/sub","Output":"--- FAIL: TestP/sub (0.00s)\n"}
{"Action":"fail","Package":"ex/a","Test":"TestP/sub","Elapsed":0.25}
{"Action":"fail","Package":"ex/a","Test":"TestP","Elapsed":0.5}
{"Action":"run","Package":"ex/a","Test":"TestS"}
{"Action":"output","Package":"ex/a","Test":"TestS","Output":"    a_test.go:20: needs docker\n"}
{"Action":"skip","Package":"ex/a","Test":"TestS","Elapsed":0}
{"Action":"fail","Package":"ex/a","Elapsed":0.6}
# ex/broken
broken/b.go:3:9: undefined: nope
FAIL	ex/broken [build failed]
{"Action":"run","Package":"ex/c","Test":"TestHang"}
{"Action":"output","Package":"ex/c","Output":"panic: test timed out after 1s\n"}
{"Action":"fail","Package":"ex/c","Elapsed":1}
{"Action":"output","Package":"ex/d","Output":"panic: init failed\n"}
{"Action":"fail","Package":"ex/d","Elapsed":0}
"#;
        let (c, r) = parse_bytes(doc, "r.jsonl", Some(Format::GoTestJson));
        r.unwrap();
        let n = c.counts;
        assert_eq!((n.tests, n.passed, n.failed, n.skipped), (4, 0, 3, 1));
        let all = c.all.as_ref().unwrap();
        let sub = &all[0];
        assert_eq!(
            (sub.name.as_str(), sub.file.as_deref(), sub.line),
            ("TestP/sub", Some("a_test.go"), Some(15))
        );
        assert_eq!(
            sub.failure.as_ref().unwrap().message.as_deref(),
            Some("expected 1, got 2")
        );
        assert_eq!(all[2].skip_reason.as_deref(), Some("needs docker"));
        assert!(
            all[3]
                .failure
                .as_ref()
                .unwrap()
                .trace
                .as_deref()
                .unwrap()
                .contains("timed out")
        );
        let kinds: Vec<&str> = c.suite_errors.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, vec!["build", "package"]);
        assert_eq!(c.suite_errors[0].file.as_deref(), Some("broken/b.go"));
        assert_eq!(c.suite_errors[0].line, Some(3));
        assert!(c.suite_errors[0].message.contains("undefined: nope"));
        assert!(c.suite_errors[1].message.contains("init failed"));
    }

    #[test]
    fn long_package_failures_are_bounded() {
        // Found by fuzzing: package and build failure messages quoted an output line whole.
        let long = "p".repeat(40_000);
        let doc = format!(
            "{{\"Action\":\"output\",\"Package\":\"ex/d\",\"Output\":\"panic: {long}\\n\"}}\n\
             {{\"Action\":\"fail\",\"Package\":\"ex/d\",\"Elapsed\":0}}\n\
             # ex/b\nb.go:3:9: {long}\nFAIL\tex/b [build failed]\n"
        );
        let (c, _) = parse_bytes(doc.as_bytes(), "r.jsonl", Some(Format::GoTestJson));
        let max = crate::parsers::ParseOptions::default().max_text_bytes;
        assert_eq!(c.suite_errors.len(), 2, "{:?}", c.suite_errors);
        for e in &c.suite_errors {
            assert!(e.message.len() <= max, "{}: {}", e.kind, e.message.len());
        }
    }

    #[test]
    fn long_skip_reasons_are_bounded() {
        // Found by fuzzing: the reason taken from the `t.Skip` output line was not bounded.
        let long = "r".repeat(40_000);
        let doc = format!(
            "{{\"Action\":\"run\",\"Package\":\"p\",\"Test\":\"TestS\"}}\n\
             {{\"Action\":\"output\",\"Package\":\"p\",\"Test\":\"TestS\",\"Output\":\"    a_test.go:20: {long}\\n\"}}\n\
             {{\"Action\":\"skip\",\"Package\":\"p\",\"Test\":\"TestS\",\"Elapsed\":0}}\n"
        );
        let (c, r) = parse_bytes(doc.as_bytes(), "r.jsonl", Some(Format::GoTestJson));
        r.unwrap();
        let reason = c.all.as_ref().unwrap()[0].skip_reason.as_deref().unwrap();
        let max = crate::parsers::ParseOptions::default().max_text_bytes;
        assert!(
            reason.len() <= max && reason.starts_with("rrr"),
            "{}",
            reason.len()
        );
    }
}
