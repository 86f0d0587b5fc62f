//! PLACEHOLDER: the tsc parser is being written; until then it refuses every file.

use std::io::BufRead;

use super::{ParseError, ParseOptions, Sink};

pub fn parse(
    _reader: &mut dyn BufRead,
    _opts: &ParseOptions,
    _sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    Err(ParseError::new(
        "the tsc parser is not available in this build",
    ))
}

/// `src/a.ts(3,7): error TS2322: ...`
pub fn looks_like_tsc_line(line: &str) -> bool {
    line.contains("): error TS")
        || line.contains("): warning TS")
        || (line.contains(" - error TS") && line.contains(':'))
}
