//! PLACEHOLDER: `codeloop verify` is being written.

pub fn run(_args: crate::cli::VerifyArgs) -> i32 {
    eprintln!("error: `codeloop verify` is not available in this build");
    crate::exit::USAGE
}
