//! What each registered format is, for people: the tools that write it and how `auto`
//! recognises it (`codeloop formats`, docs). One `match` over [`Format`], so a new format
//! does not compile until it is described here; the sniffing rules described are the ones
//! in [`super::input::sniff`].

use serde::Serialize;

use super::{Format, FormatKind};

/// One format as `codeloop formats` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct FormatInfo {
    /// The registry name (`--format-hint`, `result_format`).
    pub name: &'static str,
    /// `tests` (test cases) or `findings` (lint/build diagnostics).
    pub kind: &'static str,
    /// Which tools, and which of their options, write it.
    pub reads: &'static str,
    /// How `auto` recognises it.
    pub sniffed: &'static str,
    /// Other names accepted for it.
    pub aliases: Vec<&'static str>,
}

/// Every format of the registry, in registry order.
pub fn all() -> Vec<FormatInfo> {
    Format::ALL.iter().map(|f| info(*f)).collect()
}

/// The description of one format.
pub fn info(f: Format) -> FormatInfo {
    let (reads, sniffed) = describe(f);
    FormatInfo {
        name: f.name(),
        kind: match f.kind() {
            FormatKind::Tests => "tests",
            FormatKind::Findings => "findings",
        },
        reads,
        sniffed,
        aliases: f.aliases(),
    }
}

fn describe(f: Format) -> (&'static str, &'static str) {
    match f {
        Format::JunitXml => (
            "JUnit XML in its dialects: Maven Surefire/Failsafe (flakyFailure, rerunFailure), \
             Gradle, pytest --junitxml, jest-junit, vitest, go-junit-report, gotestsum, \
             cargo nextest, libtest, PHPUnit, CTest, Catch2 -r junit, GoogleTest, mocha-junit",
            "XML root <testsuites> or <testsuite>",
        ),
        Format::PytestJson => (
            "pytest-json-report (pytest --json-report)",
            "JSON with \"exitcode\", \"root\" and \"tests\" or \"summary\"",
        ),
        Format::RspecJson => (
            "RSpec --format json",
            "JSON with \"examples\" and \"summary_line\" or \"full_description\"",
        ),
        Format::JestJson => (
            "jest --json and vitest --reporter=json",
            "JSON with \"numTotalTests\", \"numFailedTestSuites\", or \"testResults\" with \
             \"assertionResults\"",
        ),
        Format::GoTestJson => (
            "go test -json (also with compiler output merged in before the events)",
            "JSON lines whose first event has \"Action\" and \"Package\" or \"Time\"",
        ),
        Format::Tap => (
            "TAP 12/13/14 (node --test, prove, bats, tape)",
            "a `TAP version` line, or `ok` / `not ok` / `1..N` lines; a .tap file name",
        ),
        Format::MochaJson => (
            "mocha --reporter json",
            "JSON with \"stats\", \"tests\" and \"passes\" or \"pending\"",
        ),
        Format::Trx => (
            ".NET TRX (dotnet test --logger trx, VSTest)",
            "XML root <TestRun>",
        ),
        Format::Nunit => (
            "NUnit 2 and 3 result XML (nunit3-console, dotnet test --logger nunit)",
            "XML root <test-run>, <test-results> or <test-suite>",
        ),
        Format::XunitNet => (
            "xUnit.net v2/v3 XML (-xml, --logger xunit)",
            "XML root <assemblies> or <assembly>",
        ),
        Format::CtrfJson => (
            "CTRF JSON (the Common Test Report Format reporters of jest, playwright, \
             cypress, pytest, ...)",
            "JSON with \"results\", \"tool\", \"summary\" and \"tests\"",
        ),
        Format::LibtestJson => (
            "Rust libtest JSON (cargo test -- -Z unstable-options --format json, \
             nextest's libtest-json output)",
            "JSON lines whose first line has \"type\" and \"event\" for a suite or test",
        ),
        Format::GoogletestJson => (
            "GoogleTest --gtest_output=json",
            "JSON with \"testsuites\", \"failures\" and \"disabled\" or \"timestamp\"",
        ),
        Format::Catch2Xml => ("Catch2 -r xml", "XML root <Catch2TestRun> or <Catch>"),
        Format::GenericJson => (
            "codeloop's own generic JSON (docs/generic-json.md), for any other tool",
            "JSON with \"codeloop_generic\" (or `codeloop.generic`)",
        ),
        Format::DartJson => (
            "dart test / flutter test --reporter json",
            "JSON lines starting with \"protocolVersion\", or \"type\" events with \
             \"testStart\" / \"allSuites\"",
        ),
        Format::CargoJson => (
            "cargo build/check/clippy --message-format json (rustc diagnostics)",
            "JSON lines with \"reason\": \"compiler-message\" (or artifact/build events), or \
             \"$message_type\"; a file named clippy*/cargo* when empty",
        ),
        Format::EslintJson => (
            "eslint -f json",
            "JSON with \"filePath\", \"messages\" and \"errorCount\" or \"ruleId\"; a file \
             named eslint* when empty",
        ),
        Format::RuffJson => (
            "ruff check --output-format json",
            "JSON with \"filename\", \"location\", \"code\" and \"noqa_row\", \
             \"end_location\" or \"fix\"; a file named ruff* when empty",
        ),
        Format::Flake8 => (
            "flake8 (and pycodestyle / pylint --output-format=parseable) text",
            "`path:line:col: CODE message` lines, mostly with flake8 codes, or a file named \
             flake8*",
        ),
        Format::Tsc => (
            "tsc (TypeScript compiler) text, plain or --pretty",
            "`file(line,col): error TSnnnn: ...`, `file:line:col - error TSnnnn: ...` or \
             `error TSnnnn: ...` lines",
        ),
        Format::GolangciJson => (
            "golangci-lint run --out-format json",
            "JSON with \"Issues\" and \"FromLinter\" or \"Report\"; a file named golangci* \
             when empty",
        ),
        Format::RubocopJson => (
            "rubocop --format json",
            "JSON with \"rubocop_version\", or \"offenses\" and \"files\"",
        ),
        Format::Checkstyle => (
            "Checkstyle XML (checkstyle, ktlint, detekt, eslint -f checkstyle, ...)",
            "XML root <checkstyle>",
        ),
        Format::Sarif => (
            "SARIF 2.1.0 (CodeQL, semgrep, clippy-sarif, ...)",
            "JSON with \"$schema\" naming sarif, or \"runs\" with \"tool\" and \"driver\"; a \
             .sarif file name",
        ),
        Format::GenericLint => (
            "`file:line[:col]: severity: message` text (gcc, clang, mypy, shellcheck -f gcc, \
             ...)",
            "`path:line[:col]: [severity:] message` lines",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_is_described_with_its_aliases() {
        let all = all();
        assert_eq!(all.len(), Format::ALL.len());
        for f in &all {
            assert!(!f.reads.is_empty() && !f.sniffed.is_empty(), "{}", f.name);
            for a in &f.aliases {
                assert_eq!(Format::from_name(a).map(Format::name), Some(f.name));
            }
        }
        let junit = all.iter().find(|f| f.name == "junit-xml").unwrap();
        assert!(junit.aliases.contains(&"junit"));
        assert_eq!(junit.kind, "tests");
    }
}
