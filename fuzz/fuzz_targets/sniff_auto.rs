//! cargo-fuzz target `sniff_auto`: see `codeloop::parsers::fuzzing::Target::SniffAuto`.
#![no_main]

use codeloop_fuzz::parsers::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| run(Target::SniffAuto, data));
