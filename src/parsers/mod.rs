//! The parser registry: the single entry point that turns a result file into the normalized
//! model. Each format lives in its own module and is registered in [`Format`]; `auto` sniffs
//! the first bytes of a file ([`sniff`]).
//!
//! Parsers are pure (they read from a `BufRead` they are given and write to a [`Sink`]) and
//! stream: a parser never holds the whole file, and hands every case to the sink as soon as it
//! is complete, so memory grows with the number of failures kept by the sink, not with the
//! size of the file.

pub mod bound;
pub mod catalog;
pub mod collect;
pub mod input;
pub mod json;
pub mod text;
pub mod textbuf;
pub mod xml;

pub mod junit;

pub mod ctrf;
pub mod dart_json;
pub mod generic_json;
pub mod go_test_json;
pub mod jest_json;
pub mod libtest_json;
pub mod mocha_json;
pub mod pytest_json;
pub mod rspec_json;
pub mod tap;

pub mod catch2_xml;
pub mod googletest_json;
pub mod nunit;
pub mod trx;
pub mod xunit_net;

pub mod cargo_json;
pub mod checkstyle;
pub mod eslint_json;
pub mod flake8;
pub mod generic_lint;
pub mod golangci_json;
pub mod rubocop_json;
pub mod ruff_json;
pub mod sarif;
pub mod tsc;

pub mod lint_util;

#[doc(hidden)]
pub mod fuzzing;

use std::io::{BufRead, Read};

pub use collect::Collector;

use crate::model::{Case, Finding, ParseIssue, Position, Status, SuiteError};

/// Receives what a parser finds, as it finds it.
pub trait Sink {
    fn case(&mut self, case: Case);
    /// A case the parser keeps (it refills the same `Case` for the next test, so a huge file
    /// of passing tests allocates nothing per test). Sinks that only look at the case (count
    /// it, stream it) override this; the default hands a copy to [`Sink::case`].
    fn case_ref(&mut self, case: &Case) {
        self.case(case.clone());
    }
    /// A passing case offered before its names are decoded: a sink that only needs its
    /// status and duration for most cases (the [`Collector`]) asks for the full case only
    /// when it needs it. The default builds it and hands it to [`Sink::case_ref`], so every
    /// other sink sees exactly what it saw before.
    fn case_lazy(&mut self, outcome: Outcome, case: &mut dyn LazyCase) {
        let _ = outcome;
        let c: &Case = case.case();
        self.case_ref(c);
    }
    fn finding(&mut self, finding: Finding);
    fn suite_error(&mut self, error: SuiteError);
    /// Something was read leniently (raw control characters, a bad duration, ...).
    fn warning(&mut self, position: Option<Position>, message: String);
}

/// What a lazy case is known to be before it is built: passed by value with it, so that a
/// chain of sinks reads it without a call through each wrapper (this runs per test).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    pub status: Status,
    pub flaky: bool,
    pub duration: Option<f64>,
}

impl Outcome {
    /// The outcome of a built case.
    pub fn of(case: &Case) -> Outcome {
        Outcome {
            status: case.status,
            flaky: case.flaky,
            duration: case.duration,
        }
    }
}

/// A case whose [`Outcome`] is known and whose other fields (names, suite path, file, line)
/// are decoded from the raw attributes only when [`LazyCase::case`] is called; its status,
/// flaky flag and duration agree with the outcome it was offered with.
pub trait LazyCase {
    /// Whether the built case's texts are already bounded and cleaned exactly as
    /// [`bound::BoundedSink`] would bound them (the JUnit parser does it while decoding, in
    /// the same pass, so a million names are not scanned twice). The parser fuzz checks hold
    /// either way: every text reaching a sink is within its bound.
    fn bounded(&self) -> bool {
        false
    }
    /// The full case (built on the first call). Mutable so that a wrapping sink can set
    /// fields such as `runner` without copying it.
    fn case(&mut self) -> &mut Case;
}

/// Options every parser honours.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// Bound for each message / trace / output text (head and tail kept).
    pub max_text_bytes: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_text_bytes: 16 * 1024,
        }
    }
}

/// A file could not be parsed (further). What the parser already gave the sink stays valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}{}", .position.map(|p| format!(" at {p}")).unwrap_or_default())]
pub struct ParseError {
    pub position: Option<Position>,
    pub message: String,
}

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        ParseError {
            position: None,
            message: message.into(),
        }
    }
    pub fn at(position: Position, message: impl Into<String>) -> Self {
        ParseError {
            position: Some(position),
            message: message.into(),
        }
    }
    pub fn into_issue(self, file: &str) -> ParseIssue {
        ParseIssue {
            missing: false,
            shard: None,
            file: file.to_string(),
            position: self.position,
            message: self.message,
        }
    }
}

/// Whether a format carries test cases or lint/build findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatKind {
    Tests,
    Findings,
}

macro_rules! formats {
    ($( $variant:ident => $name:literal, $kind:ident, $module:ident; )*) => {
        /// Every format the registry knows, by its registry name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Format { $( $variant, )* }

        impl Format {
            pub const ALL: &'static [Format] = &[ $( Format::$variant, )* ];

            /// The registry name (`result_format` in plugins.json, `--format-hint`).
            pub fn name(self) -> &'static str {
                match self { $( Format::$variant => $name, )* }
            }

            pub fn kind(self) -> FormatKind {
                match self { $( Format::$variant => FormatKind::$kind, )* }
            }

            fn run(
                self,
                reader: &mut dyn BufRead,
                opts: &ParseOptions,
                sink: &mut dyn Sink,
            ) -> Result<(), ParseError> {
                match self { $( Format::$variant => $module::parse(reader, opts, sink), )* }
            }
        }
    };
}

formats! {
    JunitXml => "junit-xml", Tests, junit;
    PytestJson => "pytest-json-report", Tests, pytest_json;
    RspecJson => "rspec-json", Tests, rspec_json;
    JestJson => "jest-json", Tests, jest_json;
    GoTestJson => "go-test-json", Tests, go_test_json;
    Tap => "tap", Tests, tap;
    MochaJson => "mocha-json", Tests, mocha_json;
    Trx => "trx", Tests, trx;
    Nunit => "nunit", Tests, nunit;
    XunitNet => "xunit-net", Tests, xunit_net;
    CtrfJson => "ctrf-json", Tests, ctrf;
    LibtestJson => "libtest-json", Tests, libtest_json;
    GoogletestJson => "googletest-json", Tests, googletest_json;
    Catch2Xml => "catch2-xml", Tests, catch2_xml;
    GenericJson => "generic-json", Tests, generic_json;
    DartJson => "dart-json", Tests, dart_json;
    CargoJson => "cargo-json", Findings, cargo_json;
    EslintJson => "eslint-json", Findings, eslint_json;
    RuffJson => "ruff-json", Findings, ruff_json;
    Flake8 => "flake8", Findings, flake8;
    Tsc => "tsc", Findings, tsc;
    GolangciJson => "golangci-lint-json", Findings, golangci_json;
    RubocopJson => "rubocop-json", Findings, rubocop_json;
    Checkstyle => "checkstyle", Findings, checkstyle;
    Sarif => "sarif", Findings, sarif;
    GenericLint => "generic-lint", Findings, generic_lint;
}

impl Format {
    /// Looks a registry name up; accepts the aliases of [`ALIASES`].
    pub fn from_name(name: &str) -> Option<Format> {
        let n = name.trim().to_ascii_lowercase();
        let name = ALIASES
            .iter()
            .find(|(alias, _)| *alias == n)
            .map_or(n.as_str(), |(_, to)| *to);
        Format::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// The other names [`Format::from_name`] accepts for this format.
    pub fn aliases(self) -> Vec<&'static str> {
        ALIASES
            .iter()
            .filter(|(_, to)| *to == self.name())
            .map(|(alias, _)| *alias)
            .collect()
    }

    /// Registry names, for error messages ("valid formats are: ...").
    pub fn names() -> Vec<&'static str> {
        Format::ALL.iter().map(|f| f.name()).collect()
    }
}

/// Other names accepted for a registry name (`--format-hint`, `result_format`).
pub const ALIASES: &[(&str, &str)] = &[
    ("junit", "junit-xml"),
    ("xunit-xml", "junit-xml"),
    ("junit_xml", "junit-xml"),
    ("pytest-json", "pytest-json-report"),
    ("pytest_json", "pytest-json-report"),
    ("vitest-json", "jest-json"),
    ("go-json", "go-test-json"),
    ("gotest-json", "go-test-json"),
    ("tap13", "tap"),
    ("tap14", "tap"),
    ("nunit2", "nunit"),
    ("nunit3", "nunit"),
    ("nunit-xml", "nunit"),
    ("xunit", "xunit-net"),
    ("xunit-net-xml", "xunit-net"),
    ("ctrf", "ctrf-json"),
    ("dart", "dart-json"),
    ("flutter-json", "dart-json"),
    ("dart_json", "dart-json"),
    ("clippy", "cargo-json"),
    ("rustc-json", "cargo-json"),
    ("eslint", "eslint-json"),
    ("ruff", "ruff-json"),
    ("golangci-lint", "golangci-lint-json"),
    ("golangci", "golangci-lint-json"),
    ("golangci-json", "golangci-lint-json"),
    ("typescript", "tsc"),
    ("tsc-text", "tsc"),
    ("gcc", "generic-lint"),
    ("clang", "generic-lint"),
    ("shellcheck", "generic-lint"),
    ("mypy", "generic-lint"),
    ("rubocop", "rubocop-json"),
    ("generic", "generic-lint"),
    ("lint", "generic-lint"),
];

/// How many leading bytes [`sniff`] looks at.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// Guesses the format from the first bytes of a file (already transcoded to UTF-8 by
/// [`input`]) and its name. `None` when nothing matches.
pub fn sniff(head: &[u8], file_name: &str) -> Option<Format> {
    input::sniff(head, file_name)
}

/// What one file yielded, besides what went to the sink.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub format: Format,
}

/// Parses one file: transcodes (BOM, UTF-16), sniffs when `hint` is `None`, and runs the
/// format's parser. `file_name` is used for sniffing by extension and in messages only.
pub fn parse(
    reader: impl Read,
    file_name: &str,
    hint: Option<Format>,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<Parsed, ParseError> {
    // Every text a parser hands on is bounded here, whatever the format forgot (see `bound`).
    let sink = &mut bound::BoundedSink::new(sink, opts.max_text_bytes);
    let mut input = input::Input::new(reader, sink)?;
    let format = match hint {
        Some(f) => f,
        None => {
            let head = input.head();
            if head.iter().all(|b| b.is_ascii_whitespace()) {
                return Err(ParseError::new(
                    "the file is empty: the runner may have crashed before writing its report",
                ));
            }
            sniff(head, file_name).ok_or_else(|| {
                // JSON that does not parse: say where (a better hint than "unknown format").
                if let Some(e) = json::explain_unrecognized(head) {
                    return e;
                }
                if let Some(root) = input::xml_root_name(head) {
                    return ParseError::new(format!(
                        "not a test or lint report codeloop recognizes: an XML document whose \
                         root element is <{root}> (reports have <testsuites>, <testsuite>, \
                         <TestRun>, <test-run>, <assemblies>, <Catch2TestRun> or \
                         <checkstyle>); if it is one, set the format explicitly \
                         (result_format / --format-hint), one of: {}",
                        Format::names().join(", ")
                    ));
                }
                ParseError::at(
                    Position {
                        line: 1,
                        column: 1,
                        byte: 0,
                    },
                    format!(
                        "not a test or lint report codeloop recognizes (starts with {:?}); \
                     set the format explicitly (result_format / --format-hint), one of: {}",
                        text::preview(head, 40),
                        Format::names().join(", ")
                    ),
                )
            })?
        }
    };
    // With a hint, what `auto` would have picked: named when the hinted parser fails, since
    // a wrong hint is the likeliest cause.
    let sniffed = hint
        .and_then(|_| sniff(input.head(), file_name))
        .filter(|s| *s != format);
    format.run(&mut input, opts, sink).map_err(|mut e| {
        if let Some(s) = sniffed {
            e.message.push_str(&format!(
                "; the content looks like {} (format hint {} given): drop the hint or use `{}`",
                s.name(),
                format.name(),
                s.name()
            ));
        }
        e
    })?;
    Ok(Parsed { format })
}

/// Convenience for tests and small inputs: parse bytes into a [`Collector`].
pub fn parse_bytes(
    bytes: &[u8],
    file_name: &str,
    hint: Option<Format>,
) -> (Collector<'static>, Result<Parsed, ParseError>) {
    let mut c = Collector::keep_all();
    let r = parse(bytes, file_name, hint, &ParseOptions::default(), &mut c);
    (c, r)
}
