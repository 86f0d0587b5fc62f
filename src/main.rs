//! The `codeloop` binary: parse the command line, hand it to the library, exit with its code.

use clap::Parser;

fn main() {
    let cli = codeloop::cli::Cli::parse();
    std::process::exit(codeloop::app::run(cli));
}
