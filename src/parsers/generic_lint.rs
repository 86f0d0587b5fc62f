//! PLACEHOLDER: the generic_lint parser is being written; until then it refuses every file.

use std::io::BufRead;

use super::{ParseError, ParseOptions, Sink};

pub fn parse(
    _reader: &mut dyn BufRead,
    _opts: &ParseOptions,
    _sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    Err(ParseError::new(
        "the generic_lint parser is not available in this build",
    ))
}

/// `path:line[:col]: [severity:] message`
pub fn looks_like_lint_line(line: &str) -> bool {
    let mut parts = line.splitn(4, ':');
    let (Some(file), Some(l)) = (parts.next(), parts.next()) else {
        return false;
    };
    !file.is_empty()
        && !file.contains(' ')
        && !l.is_empty()
        && l.chars().all(|c| c.is_ascii_digit())
}
