//! cargo-fuzz target `xml_tests`: see `codeloop::parsers::fuzzing::Target::XmlTests`.
#![no_main]

use codeloop_fuzz::parsers::fuzzing::{Target, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| run(Target::XmlTests, data));
