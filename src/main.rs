//! The `codeloop` binary: parse the command line, hand it to the library, exit with its code.

use clap::Parser;

// musl's own malloc is slow for the parse's many small allocations (see Cargo.toml).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = codeloop::cli::Cli::parse();
    std::process::exit(codeloop::app::run(cli));
}
