//! cargo-fuzz target `json_tests`: see `codeloop::parsers::fuzzing::Target::JsonTests`.
#![no_main]

use codeloop_fuzz::parsers::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| run(Target::JsonTests, data));
