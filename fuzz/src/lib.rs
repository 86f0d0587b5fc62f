//! The parser registry, compiled on its own for the fuzz targets.
//!
//! The parsers (`src/parsers/`) depend only on `src/model.rs` and a few small crates, while
//! the `codeloop` crate as a whole pulls in ~320 crates (tokio, octocrab, rustls, resvg, ...).
//! Instrumenting all of them for libFuzzer on nightly takes far longer than fuzzing itself on
//! a small CI machine, so the targets compile the very same source files here. If a parser
//! ever uses another module of the crate, add it below (or switch to a path dependency on
//! `codeloop`).
#![allow(dead_code, unused_imports, clippy::all)]

#[path = "../../src/model.rs"]
pub mod model;
#[path = "../../src/parsers/mod.rs"]
pub mod parsers;
