//! Helpers shared by the integration tests: paths to the shared corpus and the built binary.

#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/corpus` relative to the repository root.
pub fn corpus_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        root.join("../shared/corpus"),
        root.join("../../shared/corpus"),
    ];
    for c in &candidates {
        if c.join("MANIFEST.tsv").is_file() {
            return c.clone();
        }
    }
    panic!(
        "the shared corpus is missing: expected MANIFEST.tsv under {}",
        candidates[0].display()
    );
}

/// The `codeloop` binary cargo built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_codeloop"))
}
