//! PLACEHOLDER: `codeloop history` is being written.

pub fn run(_args: crate::cli::HistoryArgs) -> i32 {
    eprintln!("error: `codeloop history` is not available in this build");
    crate::exit::USAGE
}
