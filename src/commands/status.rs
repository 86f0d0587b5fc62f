//! PLACEHOLDER: `codeloop status` is being written.

pub fn run(_args: crate::cli::StatusArgs) -> i32 {
    eprintln!("error: `codeloop status` is not available in this build");
    crate::exit::USAGE
}
