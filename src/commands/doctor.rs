//! PLACEHOLDER: `codeloop doctor` is being written.

pub fn run(_args: crate::cli::DoctorArgs) -> i32 {
    eprintln!("error: `codeloop doctor` is not available in this build");
    crate::exit::USAGE
}
