//! What the cargo-fuzz targets in `fuzz/` run, and what they assert, kept in the library so
//! the normal (stable) test suite replays every seed and every kept crash input through the
//! very same checks without nightly.
//!
//! Five targets cover every format of the registry and sniffing. Each input's first byte is a
//! selector: within a family it picks the format (so each format is fuzzed with its own
//! seeds), and for [`Target::SniffAuto`] it picks the file name that sniffing sees (some
//! formats are recognized by extension). The rest of the input is the file.
//!
//! The invariants ([`check`]) are what a user relies on: no panic; the counts add up
//! (`passed + failed + errored + skipped == tests`, and every case is counted once); every
//! bounded text stays within the configured bound; a parse error either says where
//! (a position inside the file) or is a whole-file verdict ("not a ... report", "the file is
//! empty").

use super::{Collector, Format, FormatKind, ParseError, ParseOptions, parse};
use crate::model::{Counts, LintCounts};

/// One cargo-fuzz target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Sniffing + the parser it picks, as `verify --report` does with format `auto`.
    SniffAuto,
    /// The XML test formats, and checkstyle (XML lint).
    XmlTests,
    /// The JSON test formats that are one document.
    JsonTests,
    /// Line-oriented formats: JSON lines, TAP and the text lint forms.
    Lines,
    /// The JSON lint/build formats.
    JsonLint,
}

const XML_TESTS: &[Format] = &[
    Format::JunitXml,
    Format::Trx,
    Format::Nunit,
    Format::XunitNet,
    Format::Catch2Xml,
    Format::Checkstyle,
];

const JSON_TESTS: &[Format] = &[
    Format::PytestJson,
    Format::RspecJson,
    Format::JestJson,
    Format::MochaJson,
    Format::CtrfJson,
    Format::LibtestJson,
    Format::GoogletestJson,
    Format::DartJson,
    Format::GenericJson,
];

const LINES: &[Format] = &[
    Format::GoTestJson,
    Format::Tap,
    Format::Flake8,
    Format::Tsc,
    Format::GenericLint,
];

const JSON_LINT: &[Format] = &[
    Format::CargoJson,
    Format::EslintJson,
    Format::RuffJson,
    Format::GolangciJson,
    Format::RubocopJson,
    Format::Sarif,
];

/// The file names [`Target::SniffAuto`] hands to sniffing, by selector byte (modulo the
/// length): no extension, and every extension sniffing looks at or that reports commonly have.
pub const SNIFF_NAMES: &[&str] = &[
    "report",
    "report.xml",
    "report.json",
    "results.trx",
    "events.jsonl",
    "out.tap",
    "lint.sarif",
    "out.txt",
];

/// The bound the targets configure for bounded texts: small, so that fuzz inputs exceed it.
pub const MAX_TEXT: usize = 256;

impl Target {
    pub const ALL: [Target; 5] = [
        Target::SniffAuto,
        Target::XmlTests,
        Target::JsonTests,
        Target::Lines,
        Target::JsonLint,
    ];

    /// The cargo-fuzz target name (`fuzz/fuzz_targets/<name>.rs`).
    pub fn name(self) -> &'static str {
        match self {
            Target::SniffAuto => "sniff_auto",
            Target::XmlTests => "xml_tests",
            Target::JsonTests => "json_tests",
            Target::Lines => "lines",
            Target::JsonLint => "json_lint",
        }
    }

    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The formats the selector byte chooses from (empty for [`Target::SniffAuto`]).
    pub fn formats(self) -> &'static [Format] {
        match self {
            Target::SniffAuto => &[],
            Target::XmlTests => XML_TESTS,
            Target::JsonTests => JSON_TESTS,
            Target::Lines => LINES,
            Target::JsonLint => JSON_LINT,
        }
    }

    /// The family target that fuzzes `format` (every format has exactly one).
    pub fn of_format(format: Format) -> Target {
        Target::ALL
            .into_iter()
            .find(|t| t.formats().contains(&format))
            // Unreachable while `every_format_has_one_family` holds; sniffing covers it anyway.
            .unwrap_or(Target::SniffAuto)
    }

    /// The selector byte that makes this target parse its input as `format`.
    pub fn selector(self, format: Format) -> Option<u8> {
        let i = self.formats().iter().position(|f| *f == format)?;
        u8::try_from(i).ok()
    }

    /// The selector byte that makes [`Target::SniffAuto`] sniff with file name `name`.
    pub fn sniff_selector(name: &str) -> Option<u8> {
        let i = SNIFF_NAMES.iter().position(|n| *n == name)?;
        u8::try_from(i).ok()
    }

    /// Splits a fuzz input into (format hint, file name, file bytes).
    pub fn split(self, data: &[u8]) -> (Option<Format>, &'static str, &[u8]) {
        let Some((&sel, rest)) = data.split_first() else {
            return (None, SNIFF_NAMES[0], data);
        };
        let formats = self.formats();
        if formats.is_empty() {
            return (None, SNIFF_NAMES[sel as usize % SNIFF_NAMES.len()], rest);
        }
        let format = formats[sel as usize % formats.len()];
        (Some(format), "fuzz-input", rest)
    }
}

/// What one input yielded, for tests that want more than "the invariants hold".
#[derive(Debug)]
pub struct Outcome {
    pub format: Option<Format>,
    pub counts: Counts,
    pub lint: LintCounts,
    pub error: Option<ParseError>,
}

/// Messages of the parse errors that may come without a position: verdicts on the whole file.
const WHOLE_FILE_VERDICTS: &[&str] = &["not a", "no ", "the file is empty", "cannot read"];

/// Parses one fuzz input and checks the invariants; `Err` says which one broke and how.
pub fn check(target: Target, data: &[u8]) -> Result<Outcome, String> {
    let (hint, name, file) = target.split(data);
    let mut c = Collector::keep_all();
    let opts = ParseOptions {
        max_text_bytes: MAX_TEXT,
    };
    let result = parse(file, name, hint, &opts, &mut c);
    let format = match &result {
        Ok(p) => Some(p.format),
        Err(_) => hint,
    };
    let what = format.map_or("auto", Format::name);
    let fail = |msg: String| Err(format!("{what}: {msg}"));

    let n = c.counts;
    if n.tests != n.passed + n.failed + n.errored + n.skipped {
        return fail(format!("counts do not add up: {n:?}"));
    }
    let all = c.all.as_deref().unwrap_or_default();
    if all.len() as u64 != n.tests {
        return fail(format!("{} cases but tests = {}", all.len(), n.tests));
    }
    let mut recount = Counts::default();
    for case in all {
        recount.add_case(case.status, case.flaky);
    }
    if recount != n {
        return fail(format!("cases say {recount:?}, counts say {n:?}"));
    }
    if let Some(k) = all
        .iter()
        .find(|k| k.flaky && k.status != crate::model::Status::Passed)
    {
        return fail(format!(
            "`{}` is flaky but {:?} (flaky counts passed tests only)",
            k.name, k.status
        ));
    }
    let problems = all.iter().filter(|k| k.status.is_bad() || k.flaky).count();
    if problems != c.problems.len() {
        return fail(format!(
            "{problems} failed/errored/flaky cases but {} problems kept",
            c.problems.len()
        ));
    }
    if c.lint.total() != c.findings.len() as u64 {
        return fail(format!(
            "lint counts {:?} but {} findings",
            c.lint,
            c.findings.len()
        ));
    }
    if format.is_some_and(|f| f.kind() == FormatKind::Tests) && !c.findings.is_empty() {
        return fail(format!(
            "a test format yielded {} findings",
            c.findings.len()
        ));
    }

    // Bounded texts. Names, paths and lint messages are not bounded texts (they are short in
    // real reports and are budgeted where they are rendered).
    for case in all {
        let texts = [("output", &case.output), ("skip reason", &case.skip_reason)]
            .into_iter()
            .chain(
                case.failure
                    .iter()
                    .flat_map(|f| [("failure message", &f.message), ("failure trace", &f.trace)]),
            );
        for (label, text) in texts {
            if let Some(t) = text.as_deref().filter(|t| t.len() > MAX_TEXT) {
                return fail(format!(
                    "the {label} of `{}` has {} bytes, over the bound of {MAX_TEXT}",
                    case.name,
                    t.len()
                ));
            }
        }
    }
    for e in &c.suite_errors {
        if e.message.len() > MAX_TEXT {
            return fail(format!(
                "a suite error message has {} bytes, over the bound of {MAX_TEXT}",
                e.message.len()
            ));
        }
    }

    let error = result.err();
    if let Some(e) = &error {
        if e.message.trim().is_empty() {
            return fail("a parse error with an empty message".into());
        }
        match e.position {
            None if !WHOLE_FILE_VERDICTS.iter().any(|p| e.message.starts_with(p)) => {
                return fail(format!("a parse error without a position: {e}"));
            }
            None => {}
            // After transcoding a byte becomes at most 3 (invalid UTF-8 → U+FFFD, UTF-16 → UTF-8).
            Some(p) if p.byte > 3 * file.len() as u64 + 3 || p.line > file.len() as u64 + 1 => {
                return fail(format!(
                    "a parse error points outside the {}-byte file: {e}",
                    file.len()
                ));
            }
            Some(_) => {}
        }
    }
    Ok(Outcome {
        format,
        counts: n,
        lint: c.lint,
        error,
    })
}

/// The fuzz targets' body: [`check`], and a panic (which libFuzzer records as a crash) when an
/// invariant does not hold.
pub fn run(target: Target, data: &[u8]) {
    if let Err(violation) = check(target, data) {
        panic!("{}: invariant violated: {violation}", target.name());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_has_one_family() {
        for &f in Format::ALL {
            let families: Vec<Target> = Target::ALL
                .into_iter()
                .filter(|t| t.formats().contains(&f))
                .collect();
            assert_eq!(families.len(), 1, "{}: {families:?}", f.name());
            let t = Target::of_format(f);
            let sel = t.selector(f).unwrap();
            let input = [sel, b'x'];
            let (hint, _, rest) = t.split(&input);
            assert_eq!(hint, Some(f));
            assert_eq!(rest, b"x");
        }
    }

    #[test]
    fn sniff_auto_picks_the_file_name() {
        let sel = Target::sniff_selector("out.tap").unwrap();
        assert_eq!(
            Target::SniffAuto.split(&[sel, b'o', b'k']),
            (None, "out.tap", &b"ok"[..])
        );
        // Selectors wrap, so every byte is a valid selector.
        let (_, name, _) = Target::SniffAuto.split(&[sel + SNIFF_NAMES.len() as u8]);
        assert_eq!(name, "out.tap");
        assert_eq!(Target::SniffAuto.split(&[]).2, b"");
    }

    #[test]
    fn sound_and_long_reports_pass() {
        // A sound report passes.
        let junit = br#"<testsuite><testcase name="a"/><testcase name="b"><failure message="m"/></testcase></testsuite>"#;
        let mut input = vec![Target::XmlTests.selector(Format::JunitXml).unwrap()];
        input.extend_from_slice(junit);
        let out = check(Target::XmlTests, &input).unwrap();
        assert_eq!((out.counts.tests, out.counts.failed), (2, 1));
        // A long failure body is bounded, so it passes too.
        let long = format!(
            r#"<testsuite><testcase name="a"><failure>{}</failure></testcase></testsuite>"#,
            "x".repeat(10 * MAX_TEXT)
        );
        let mut input = vec![0];
        input.extend_from_slice(long.as_bytes());
        check(Target::XmlTests, &input).unwrap();
    }
}
