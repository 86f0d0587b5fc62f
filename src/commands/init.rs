//! PLACEHOLDER: `codeloop init` is being written.

pub fn run(_args: crate::cli::InitArgs) -> i32 {
    eprintln!("error: `codeloop init` is not available in this build");
    crate::exit::USAGE
}
