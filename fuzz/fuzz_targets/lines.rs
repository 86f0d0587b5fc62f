//! cargo-fuzz target `lines`: see `codeloop::parsers::fuzzing::Target::Lines`.
#![no_main]

use codeloop_fuzz::parsers::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| run(Target::Lines, data));
