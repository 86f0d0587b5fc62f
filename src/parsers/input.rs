//! Input normalization shared by every parser: byte-order marks and UTF-16 are transcoded to
//! UTF-8 on the fly (streaming, never the whole file), the first [`SNIFF_BYTES`] are kept so
//! that `auto` can look at them, and then the same bytes are replayed to the parser.
//! Also owns content sniffing ([`sniff`]).

use std::io::{self, BufRead, BufReader, Read};

use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};

use super::{Format, ParseError, SNIFF_BYTES, Sink};

/// UTF-16 written without a byte-order mark (some .NET and PowerShell tools do): every
/// report starts with an ASCII character (`<`, `{`, `[`, whitespace, a letter), which in
/// UTF-16 is that byte next to a zero byte. No UTF-8 report has a NUL as its 2nd or 4th byte.
fn utf16_without_bom(p: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let ascii = |b: u8| b.is_ascii_graphic() || b.is_ascii_whitespace();
    match *p {
        [a, 0, b, 0] if ascii(a) && ascii(b) => Some(encoding_rs::UTF_16LE),
        [0, a, 0, b] if ascii(a) && ascii(b) => Some(encoding_rs::UTF_16BE),
        _ => None,
    }
}

/// The first bytes of a file as UTF-8, for [`sniff`] outside a parse (the parse transcodes
/// as it reads): a UTF-16 head, with or without its byte-order mark, is decoded; any other
/// head is returned as it is.
pub fn head_to_utf8(head: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let encoding = match head {
        [0xFF, 0xFE, ..] => Some(encoding_rs::UTF_16LE),
        [0xFE, 0xFF, ..] => Some(encoding_rs::UTF_16BE),
        _ => head.get(..4).and_then(utf16_without_bom),
    };
    match encoding {
        Some(e) => {
            std::borrow::Cow::Owned(e.decode_with_bom_removal(head).0.into_owned().into_bytes())
        }
        None => std::borrow::Cow::Borrowed(head),
    }
}

/// A `BufRead` over a report file, transcoded to UTF-8, whose head can be inspected first.
pub struct Input<R: Read> {
    head: Vec<u8>,
    pos: usize,
    inner: BufReader<Source<R>>,
}

/// The first bytes read to look for a byte-order mark, replayed before the rest of the file.
type Peeked<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

/// Where the bytes come from: straight from the file when it has no byte-order mark (the
/// common case: UTF-8, or invalid UTF-8 that parsers repair), through the transcoder
/// otherwise. Going around the transcoder saves a copy of every byte of a huge report
/// (with `utf8_passthru` it would only copy them through its own buffer).
enum Source<R: Read> {
    Raw(Peeked<R>),
    Decoded(Box<DecodeReaderBytes<Peeked<R>, Vec<u8>>>),
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Raw(r) => r.read(buf),
            Source::Decoded(r) => r.read(buf),
        }
    }
}

/// Input buffer size; a reader asking for at least this much at once (the XML reader does)
/// reads straight from the file, past the buffer.
const BUF_SIZE: usize = 256 * 1024;

impl<R: Read> Input<R> {
    /// Reads the head of the file. Invalid UTF-8 without a BOM is passed through untouched
    /// (parsers repair it where it matters, with a warning).
    pub fn new(mut reader: R, sink: &mut dyn Sink) -> Result<Self, ParseError> {
        let cannot = |e: io::Error| ParseError::new(format!("cannot read the file: {e}"));
        // Enough bytes to recognize any byte-order mark (UTF-8: 3, UTF-16: 2), and the first
        // two UTF-16 code units of a file written without one.
        let mut peek = Vec::with_capacity(4);
        (&mut reader)
            .take(4)
            .read_to_end(&mut peek)
            .map_err(cannot)?;
        let has_bom = peek.starts_with(&[0xEF, 0xBB, 0xBF])
            || peek.starts_with(&[0xFF, 0xFE])
            || peek.starts_with(&[0xFE, 0xFF]);
        let bomless = if has_bom {
            None
        } else {
            utf16_without_bom(&peek)
        };
        let peeked = io::Cursor::new(peek).chain(reader);
        let source = if has_bom {
            Source::Decoded(Box::new(
                DecodeReaderBytesBuilder::new()
                    .bom_sniffing(true)
                    .utf8_passthru(true)
                    .strip_bom(true)
                    .build(peeked),
            ))
        } else if let Some(enc) = bomless {
            sink.warning(
                Some(super::Position {
                    line: 1,
                    column: 1,
                    byte: 0,
                }),
                format!(
                    "the file is {} without a byte-order mark: read as such",
                    enc.name()
                ),
            );
            Source::Decoded(Box::new(
                DecodeReaderBytesBuilder::new()
                    .encoding(Some(enc))
                    .bom_sniffing(false)
                    .build(peeked),
            ))
        } else {
            Source::Raw(peeked)
        };
        let mut inner = BufReader::with_capacity(BUF_SIZE, source);
        let mut head = Vec::with_capacity(8 * 1024);
        (&mut inner)
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(cannot)?;
        Ok(Input {
            head,
            pos: 0,
            inner,
        })
    }

    /// The first bytes (up to [`SNIFF_BYTES`]), already UTF-8.
    pub fn head(&self) -> &[u8] {
        &self.head
    }
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.head.len() {
            let avail = &self.head[self.pos..];
            let n = avail.len().min(buf.len());
            buf[..n].copy_from_slice(&avail[..n]);
            self.consume(n);
            return Ok(n);
        }
        // `BufReader::read` hands large reads straight to the source once its buffer is
        // empty: no intermediate copy for readers with their own buffer.
        self.inner.read(buf)
    }
}

impl<R: Read> BufRead for Input<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos < self.head.len() {
            return Ok(&self.head[self.pos..]);
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if self.pos < self.head.len() {
            self.pos = (self.pos + amt).min(self.head.len());
            if self.pos == self.head.len() {
                // The head is replayed once; free it for the rest of the (possibly huge) file.
                self.head = Vec::new();
                self.pos = 0;
            }
        } else {
            self.inner.consume(amt);
        }
    }
}

/// Guesses the format of a report from its first bytes and its file name.
pub fn sniff(head: &[u8], file_name: &str) -> Option<Format> {
    let text = String::from_utf8_lossy(head);
    let t = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let lower_name = file_name.to_ascii_lowercase();
    if t.starts_with('<') {
        return sniff_xml(t);
    }
    if t.starts_with('{') || t.starts_with('[') {
        return sniff_json(t, &lower_name);
    }
    sniff_text(t, &lower_name).or_else(|| sniff_json_after_text(t, &lower_name))
}

/// A lint JSON report with a few lines of text before it (`npm warn ...` when stderr was
/// merged into the file): the lint parsers skip such lines, so the JSON part decides. Only
/// lint formats are accepted this way; test-report parsers do not skip leading text.
fn sniff_json_after_text(t: &str, name: &str) -> Option<Format> {
    let mut offset = 0;
    for line in t.split_inclusive('\n').take(20) {
        let l = line.trim_start();
        if l.starts_with('{') || l.starts_with('[') {
            let rest = &t[offset..];
            return sniff_json(rest.trim_start(), name)
                .filter(|f| f.kind() == super::FormatKind::Findings);
        }
        offset += line.len();
    }
    None
}

/// The root element's name when `head` looks like XML (for "not a report" messages).
pub fn xml_root_name(head: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    let t = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if !t.starts_with('<') {
        return None;
    }
    xml_root(t).filter(|r| !r.is_empty()).map(str::to_string)
}

/// The name of the first element that is not a declaration, comment or doctype.
fn xml_root(t: &str) -> Option<&str> {
    let mut rest = t;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("<?") {
            rest = &r[r.find("?>")? + 2..];
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = &r[r.find("-->")? + 3..];
        } else if let Some(r) = rest.strip_prefix("<!") {
            // A DOCTYPE's internal subset `[ <!ENTITY …> ]` holds `>`s of its own.
            let gt = r.find('>')?;
            rest = match r.find('[') {
                Some(open) if open < gt => {
                    let close = open + r[open..].find(']')?;
                    &r[close + r[close..].find('>')? + 1..]
                }
                _ => &r[gt + 1..],
            };
        } else if let Some(r) = rest.strip_prefix('<') {
            let end = r
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(r.len());
            let name = &r[..end];
            // Strip a namespace prefix (`<ns:TestRun>`).
            return Some(name.rsplit(':').next().unwrap_or(name));
        } else {
            return None;
        }
    }
}

fn sniff_xml(t: &str) -> Option<Format> {
    match xml_root(t)? {
        "testsuites" | "testsuite" => Some(Format::JunitXml),
        // A bare `<test-suite>` is what NUnit 3 writes for one assembly (`--result` of a
        // single suite, the mstest/nunit converters): JUnit never uses a hyphenated name.
        "test-results" | "test-run" | "test-suite" => Some(Format::Nunit),
        "assemblies" | "assembly" => Some(Format::XunitNet),
        "TestRun" => Some(Format::Trx),
        "Catch" | "Catch2TestRun" => Some(Format::Catch2Xml),
        "checkstyle" => Some(Format::Checkstyle),
        _ => None,
    }
}

fn sniff_json(t: &str, name: &str) -> Option<Format> {
    let has = |k: &str| t.contains(&format!("\"{k}\""));
    // JSON Lines formats: decide on the first line.
    let first_line = t.lines().next().unwrap_or("");
    let first_has = |k: &str| first_line.contains(&format!("\"{k}\""));
    if first_has("Action") && (first_has("Package") || first_has("Time")) {
        return Some(Format::GoTestJson);
    }
    if first_has("reason")
        && (first_line.contains("compiler-message")
            || first_line.contains("compiler-artifact")
            || first_line.contains("build-script-executed")
            || first_line.contains("build-finished"))
        || first_has("$message_type")
    {
        return Some(Format::CargoJson);
    }
    // Dart/Flutter `--reporter json`: the first event is `start` with protocol versions.
    if first_has("protocolVersion")
        || first_has("type") && (t.contains("\"testStart\"") || t.contains("\"allSuites\""))
    {
        return Some(Format::DartJson);
    }
    if first_has("type")
        && first_has("event")
        && (first_line.contains("\"suite\"") || first_line.contains("\"test\""))
    {
        return Some(Format::LibtestJson);
    }
    if has("$schema") && t.contains("sarif") || has("runs") && has("tool") && has("driver") {
        return Some(Format::Sarif);
    }
    if has("codeloop_generic") || t.contains("codeloop.generic") {
        return Some(Format::GenericJson);
    }
    if has("results") && has("tool") && has("summary") && has("tests") {
        return Some(Format::CtrfJson);
    }
    if has("numTotalTests")
        || has("numFailedTestSuites")
        || has("testResults") && has("assertionResults")
    {
        return Some(Format::JestJson);
    }
    if has("exitcode") && has("root") && (has("tests") || has("summary")) {
        return Some(Format::PytestJson);
    }
    if has("examples") && (has("summary_line") || has("full_description")) {
        return Some(Format::RspecJson);
    }
    if has("stats") && (has("passes") || has("pending")) && has("tests") {
        return Some(Format::MochaJson);
    }
    if has("testsuites") && has("failures") && (has("disabled") || has("timestamp")) {
        return Some(Format::GoogletestJson);
    }
    if has("Issues") && (has("FromLinter") || has("Report")) {
        return Some(Format::GolangciJson);
    }
    if has("rubocop_version") || has("offenses") && has("files") {
        return Some(Format::RubocopJson);
    }
    if has("filePath") && has("messages") && (has("errorCount") || has("ruleId")) {
        return Some(Format::EslintJson);
    }
    if has("filename")
        && has("location")
        && has("code")
        && (has("noqa_row") || has("end_location") || has("fix"))
    {
        return Some(Format::RuffJson);
    }
    if name.ends_with(".sarif") {
        return Some(Format::Sarif);
    }
    sniff_lint_name(name)
}

/// A lint report with nothing in it (`[]` from a clean ruff run) says nothing about its
/// format; its file name may (`ruff.json`, `eslint-report.json`). Only consulted after every
/// content check failed.
fn sniff_lint_name(name: &str) -> Option<Format> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    [
        ("ruff", Format::RuffJson),
        ("eslint", Format::EslintJson),
        ("golangci", Format::GolangciJson),
        ("rubocop", Format::RubocopJson),
        ("clippy", Format::CargoJson),
        ("cargo", Format::CargoJson),
        ("sarif", Format::Sarif),
    ]
    .into_iter()
    .find(|(k, _)| base.contains(k))
    .map(|(_, f)| f)
}

fn sniff_text(t: &str, name: &str) -> Option<Format> {
    // `go test -json` with compiler output (`# pkg`, `file.go:3:5: ...`) merged in before
    // the first event.
    if t.lines().take(200).any(|l| {
        let l = l.trim_start();
        l.starts_with('{') && l.contains("\"Action\"") && l.contains("\"Package\"")
    }) {
        return Some(Format::GoTestJson);
    }
    let mut tap_lines = 0;
    let mut lint_lines = 0;
    let mut flake8_lines = 0;
    let mut tsc_lines = 0;
    for line in t.lines().take(200) {
        let l = line.trim_end();
        if l.starts_with("TAP version") {
            return Some(Format::Tap);
        }
        // cargo's JSON messages with its own text (stderr merged into the file) around them.
        if l.starts_with("{\"reason\":\"compiler-")
            || l.starts_with("{\"reason\":\"build-")
            || l.starts_with("{\"$message_type\":\"diagnostic\"")
        {
            return Some(Format::CargoJson);
        }
        let lt = l.trim_start();
        if lt.starts_with("ok ")
            || lt.starts_with("not ok ")
            || lt == "ok"
            || lt == "not ok"
            || (lt.starts_with("1..") && lt[3..].chars().next().is_some_and(|c| c.is_ascii_digit()))
            || lt.starts_with("Bail out!")
        {
            tap_lines += 1;
        }
        if super::tsc::looks_like_tsc_line(l) {
            tsc_lines += 1;
        } else if super::generic_lint::looks_like_lint_line(l) {
            lint_lines += 1;
            if super::flake8::looks_like_flake8_line(l) {
                flake8_lines += 1;
            }
        }
    }
    if tap_lines > 0 && tap_lines >= lint_lines {
        return Some(Format::Tap);
    }
    if tsc_lines > 0 && tsc_lines >= lint_lines {
        return Some(Format::Tsc);
    }
    if lint_lines > 0 {
        // flake8's `path:row:col: CODE message` is a special case of the generic form.
        return Some(
            if name.contains("flake8") || flake8_lines * 2 > lint_lines {
                Format::Flake8
            } else {
                Format::GenericLint
            },
        );
    }
    if name.ends_with(".tap") {
        return Some(Format::Tap);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_roots_are_found_past_prologs() {
        let x = "<?xml version=\"1.0\"?>\n<!-- c -->\n<!DOCTYPE x>\n<testsuites name=\"a\">";
        assert_eq!(sniff(x.as_bytes(), "r.xml"), Some(Format::JunitXml));
        assert_eq!(sniff(b"<test-run id='2'>", "r.xml"), Some(Format::Nunit));
        let xxe = "<?xml version=\"1.0\"?>\n<!DOCTYPE t [\n <!ENTITY x SYSTEM \"f.txt\">\n]>\n<test-results>";
        assert_eq!(sniff(xxe.as_bytes(), "r.xml"), Some(Format::Nunit));
        assert_eq!(
            sniff(b"<test-suite type='Assembly'>", "r.xml"),
            Some(Format::Nunit)
        );
        assert_eq!(sniff(b"<project><modelVersion>", "pom.xml"), None);
        assert_eq!(sniff(b"<svg xmlns='x'>", "a.svg"), None);
    }

    #[test]
    fn non_reports_are_named_by_their_root_element() {
        assert_eq!(
            xml_root_name(b"<?xml version='1.0'?>\n<project xmlns='m'>").as_deref(),
            Some("project")
        );
        assert_eq!(xml_root_name(b"{\"a\": 1}"), None);
        let (_, r) = crate::parsers::parse_bytes(
            b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            "badge.svg",
            None,
        );
        let e = r.unwrap_err();
        assert!(e.message.contains("root element is <svg>"), "{e}");
    }

    #[test]
    fn json_lines_are_told_apart() {
        let go = br#"{"Time":"2024-01-01T00:00:00Z","Action":"start","Package":"x"}"#;
        assert_eq!(sniff(go, "a.json"), Some(Format::GoTestJson));
        let lt = br#"{ "type": "suite", "event": "started", "test_count": 2 }"#;
        assert_eq!(sniff(lt, "a.json"), Some(Format::LibtestJson));
        assert_eq!(
            sniff(br#"{"name":"x","version":"1.0.0"}"#, "package.json"),
            None
        );
    }

    /// One realistic head per JSON/TAP format; each must sniff as its own format only.
    #[test]
    fn json_and_tap_formats_are_never_confused() {
        let samples: &[(&str, &str, Format)] = &[
            (
                r#"{"created": 1.7e9, "duration": 0.3, "exitcode": 1, "root": "/w", "environment": {}, "summary": {"passed": 1}, "tests": [{"nodeid": "t.py::a", "outcome": "passed"}]}"#,
                "report.json",
                Format::PytestJson,
            ),
            (
                r#"{"version": "3.12.0", "examples": [{"id": "./spec/a_spec.rb[1:1]", "description": "works", "full_description": "A works", "status": "passed"}], "summary": {}, "summary_line": "1 example, 0 failures"}"#,
                "rspec.json",
                Format::RspecJson,
            ),
            (
                r#"{"numFailedTestSuites": 0, "numTotalTests": 1, "testResults": [{"assertionResults": [], "name": "/w/a.test.js"}]}"#,
                "jest.json",
                Format::JestJson,
            ),
            (
                "{\"Time\":\"2024-01-01T00:00:00Z\",\"Action\":\"start\",\"Package\":\"ex/a\"}\n{\"Action\":\"run\",\"Package\":\"ex/a\",\"Test\":\"TestA\"}",
                "go.json",
                Format::GoTestJson,
            ),
            (
                "# ex/broken\nbroken/b.go:3:9: undefined: nope\n{\"Time\":\"2024-01-01T00:00:00Z\",\"Action\":\"start\",\"Package\":\"ex/a\"}",
                "go.json",
                Format::GoTestJson,
            ),
            (
                r#"{"stats": {"suites": 1, "tests": 1, "passes": 1, "pending": 0, "failures": 0}, "tests": [], "pending": [], "failures": [], "passes": []}"#,
                "mocha.json",
                Format::MochaJson,
            ),
            (
                r#"{"reportFormat": "CTRF", "results": {"tool": {"name": "jest"}, "summary": {"tests": 1}, "tests": [{"name": "a", "status": "passed"}]}}"#,
                "ctrf.json",
                Format::CtrfJson,
            ),
            (
                "{ \"type\": \"suite\", \"event\": \"started\", \"test_count\": 1 }\n{ \"type\": \"test\", \"event\": \"started\", \"name\": \"a\" }",
                "libtest.json",
                Format::LibtestJson,
            ),
            (
                r#"{"tests": 1, "failures": 0, "disabled": 0, "errors": 0, "timestamp": "2024-01-01T00:00:00Z", "time": "0s", "name": "AllTests", "testsuites": [{"name": "M", "testsuite": []}]}"#,
                "gtest.json",
                Format::GoogletestJson,
            ),
            (
                "{\"protocolVersion\":\"0.1.1\",\"runnerVersion\":\"1.15.4\",\"pid\":1,\"type\":\"start\",\"time\":0}\n{\"suite\":{\"id\":0,\"platform\":\"vm\",\"path\":\"t.dart\"},\"type\":\"suite\",\"time\":0}",
                "dart.json",
                Format::DartJson,
            ),
            (
                r#"{"codeloop_generic": 1, "tests": [{"name": "a", "status": "passed"}]}"#,
                "results.json",
                Format::GenericJson,
            ),
            ("TAP version 14\n1..1\nok 1 - a\n", "out.txt", Format::Tap),
            ("ok 1 - a\nnot ok 2 - b\n1..2\n", "out.txt", Format::Tap),
            (
                "# addition\nok 1 - add(2, 2) == 4\n",
                "out.txt",
                Format::Tap,
            ),
            ("1..0 # SKIP Windows only\n", "t.tap", Format::Tap),
        ];
        for (head, name, want) in samples {
            assert_eq!(sniff(head.as_bytes(), name), Some(*want), "{head}");
        }
        // Not reports: no format at all.
        for (head, name) in [
            (
                r#"{"name": "pkg", "version": "1.0.0", "scripts": {"test": "jest"}}"#,
                "package.json",
            ),
            (r#"{"compilerOptions": {"strict": true}}"#, "tsconfig.json"),
            (r#"[1, 2, 3]"#, "data.json"),
            ("this is not json", "x.json"),
        ] {
            assert_eq!(sniff(head.as_bytes(), name), None, "{head}");
        }
    }

    #[test]
    fn tap_is_sniffed() {
        assert_eq!(
            sniff(b"1..2\nok 1 - a\nnot ok 2 - b\n", "x"),
            Some(Format::Tap)
        );
        assert_eq!(sniff(b"TAP version 14\n", "x"), Some(Format::Tap));
    }

    #[test]
    fn lint_outputs_are_sniffed_as_their_formats() {
        let cases: &[(&str, &str, Format)] = &[
            (
                "pkg/a.py:1:1: F401 'os' imported but unused\npkg/a.py:5:10: E231 missing whitespace after ','\n",
                "lint.txt",
                Format::Flake8,
            ),
            (
                "main.c: In function 'main':\nmain.c:4:9: warning: unused variable 'x' [-Wunused-variable]\n    4 |     int x;\n",
                "build.log",
                Format::GenericLint,
            ),
            (
                "deploy.sh:6:1: warning: Use 'cd ... || exit'. [SC2164]\n",
                "sc.txt",
                Format::GenericLint,
            ),
            (
                "src/a.ts(1,7): error TS2322: Type 'number' is not assignable to type 'string'.\n",
                "tsc.log",
                Format::Tsc,
            ),
            (
                "\u{1b}[96msrc/a.ts\u{1b}[0m:\u{1b}[93m1\u{1b}[0m:\u{1b}[93m7\u{1b}[0m - \u{1b}[91merror\u{1b}[0m\u{1b}[90m TS2322: \u{1b}[0mType\n",
                "tsc.log",
                Format::Tsc,
            ),
            (
                "error TS5023: Unknown compiler option '--x'.\n",
                "tsc.log",
                Format::Tsc,
            ),
            (
                "   Compiling x v0.1.0 (/w/x)\n{\"reason\":\"compiler-message\",\"message\":{}}\n",
                "build.log",
                Format::CargoJson,
            ),
            (
                "{\"$message_type\":\"diagnostic\",\"message\":\"m\",\"level\":\"error\",\"spans\":[]}\n",
                "rustc.json",
                Format::CargoJson,
            ),
            (
                "[{\"filePath\":\"/w/a.js\",\"messages\":[],\"errorCount\":0}]",
                "out.json",
                Format::EslintJson,
            ),
            (
                "[{\"cell\":null,\"code\":\"F401\",\"end_location\":{},\"filename\":\"a.py\",\"location\":{}}]",
                "out.json",
                Format::RuffJson,
            ),
            (
                "{\"metadata\":{\"rubocop_version\":\"1.39.0\"},\"files\":[]}",
                "out.json",
                Format::RubocopJson,
            ),
            (
                "{\"Issues\":[{\"FromLinter\":\"errcheck\"}],\"Report\":{}}",
                "out.json",
                Format::GolangciJson,
            ),
            (
                "{\"version\":\"2.1.0\",\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"runs\":[]}",
                "out.json",
                Format::Sarif,
            ),
            ("[]", "reports/ruff.json", Format::RuffJson),
            ("[]", "eslint-report.json", Format::EslintJson),
        ];
        for (text, name, want) in cases {
            assert_eq!(sniff(text.as_bytes(), name), Some(*want), "{text}");
        }
    }

    #[test]
    fn test_outputs_and_logs_are_not_taken_for_lint_output() {
        let tap = "1..2\nnot ok 1 - adds\n  ---\n  at: test/a.js:3:1\n  ...\nok 2 - b\n";
        assert_eq!(sniff(tap.as_bytes(), "a.txt"), Some(Format::Tap));
        assert_eq!(
            sniff(b"12:30:45 build started\n12:30:46 done\n", "ci.log"),
            None
        );
        assert_eq!(sniff(b"[]", "report.json"), None);
        assert_eq!(
            sniff(
                b"--- FAIL: TestX (0.00s)\n    x_test.go:12: expected 1\n",
                "go.txt"
            ),
            None
        );
        let go = br#"{"Time":"2024-01-01T00:00:00Z","Action":"output","Package":"x","Output":"x_test.go:12: boom\n"}"#;
        assert_eq!(sniff(go, "a.json"), Some(Format::GoTestJson));
    }

    #[test]
    fn bom_and_utf16_are_transcoded() {
        struct Nop;
        impl Sink for Nop {
            fn case(&mut self, _: crate::model::Case) {}
            fn finding(&mut self, _: crate::model::Finding) {}
            fn suite_error(&mut self, _: crate::model::SuiteError) {}
            fn warning(&mut self, _: Option<crate::model::Position>, _: String) {}
        }
        let mut utf16 = vec![0xFF, 0xFE];
        for u in "<testsuite/>".encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        let mut inp = Input::new(&utf16[..], &mut Nop).unwrap();
        assert_eq!(inp.head(), b"<testsuite/>");
        let mut all = String::new();
        inp.read_to_string(&mut all).unwrap();
        assert_eq!(all, "<testsuite/>");
        // Without a byte-order mark, in both byte orders: transcoded, with a warning.
        for be in [false, true] {
            let mut raw = Vec::new();
            for u in "<testsuite/>".encode_utf16() {
                raw.extend_from_slice(&if be { u.to_be_bytes() } else { u.to_le_bytes() });
            }
            let mut c = crate::parsers::Collector::default();
            let mut inp = Input::new(&raw[..], &mut c).unwrap();
            assert_eq!(inp.head(), b"<testsuite/>");
            let mut all = String::new();
            inp.read_to_string(&mut all).unwrap();
            assert_eq!(all, "<testsuite/>");
            assert!(
                c.warnings[0].1.contains("without a byte-order mark"),
                "{c:?}"
            );
        }
        // UTF-8 that merely starts with a NUL-free ASCII pair is left alone.
        assert_eq!(utf16_without_bom(b"<tes"), None);
        assert_eq!(utf16_without_bom(b"<\0"), None);
    }
}
