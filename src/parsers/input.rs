//! Input normalization shared by every parser: byte-order marks and UTF-16 are transcoded to
//! UTF-8 on the fly (streaming, never the whole file), the first [`SNIFF_BYTES`] are kept so
//! that `auto` can look at them, and then the same bytes are replayed to the parser.
//! Also owns content sniffing ([`sniff`]).

use std::io::{self, BufRead, BufReader, Read};

use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};

use super::{Format, ParseError, SNIFF_BYTES, Sink};

/// A `BufRead` over a report file, transcoded to UTF-8, whose head can be inspected first.
pub struct Input<R: Read> {
    head: Vec<u8>,
    pos: usize,
    inner: BufReader<DecodeReaderBytes<R, Vec<u8>>>,
}

impl<R: Read> Input<R> {
    /// Reads the head of the file. Invalid UTF-8 without a BOM is passed through untouched
    /// (parsers repair it where it matters, with a warning).
    pub fn new(reader: R, _sink: &mut dyn Sink) -> Result<Self, ParseError> {
        let decoder = DecodeReaderBytesBuilder::new()
            .bom_sniffing(true)
            .utf8_passthru(true)
            .strip_bom(true)
            .build(reader);
        let mut inner = BufReader::with_capacity(256 * 1024, decoder);
        let mut head = Vec::with_capacity(8 * 1024);
        (&mut inner)
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(|e| ParseError::new(format!("cannot read the file: {e}")))?;
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
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
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
    sniff_text(t, &lower_name)
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
            rest = &r[r.find('>')? + 1..];
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
        "test-results" | "test-run" => Some(Format::Nunit),
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
    None
}

fn sniff_text(t: &str, name: &str) -> Option<Format> {
    let mut tap_lines = 0;
    let mut lint_lines = 0;
    let mut tsc_lines = 0;
    for line in t.lines().take(200) {
        let l = line.trim_end();
        if l.starts_with("TAP version") {
            return Some(Format::Tap);
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
        }
    }
    if tap_lines > 0 && tap_lines >= lint_lines {
        return Some(Format::Tap);
    }
    if tsc_lines > 0 && tsc_lines >= lint_lines {
        return Some(Format::Tsc);
    }
    if lint_lines > 0 {
        return Some(if name.contains("flake8") {
            Format::Flake8
        } else {
            Format::GenericLint
        });
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

    #[test]
    fn tap_is_sniffed() {
        assert_eq!(
            sniff(b"1..2\nok 1 - a\nnot ok 2 - b\n", "x"),
            Some(Format::Tap)
        );
        assert_eq!(sniff(b"TAP version 14\n", "x"), Some(Format::Tap));
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
    }
}
