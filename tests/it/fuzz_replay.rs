//! The fuzz targets' checks on stable, in the normal suite: every kept crash input
//! (`fuzz/regressions/<target>/`) and every seed `scripts/fuzz-seed.sh` writes (the shared
//! corpus, the lint fixtures, `fuzz/seeds/`) must hold the invariants of
//! `codeloop::parsers::fuzzing::check`. Fuzzing itself needs nightly (see BENCHMARKS.md).

use std::path::{Path, PathBuf};

use codeloop::parsers::Format;
use codeloop::parsers::fuzzing::{SNIFF_NAMES, Target, check};

use crate::common::corpus_dir;
use crate::corpus::rows;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Seeds are cut to this many bytes, as scripts/fuzz-seed.sh does.
const SEED_BYTES: usize = 16384;

/// The manifest's format column (`name  [producer]`, `name (detail)`) as a registry format,
/// like the script.
fn manifest_format(column: &str) -> Option<Format> {
    match column.split_whitespace().next().unwrap_or("") {
        "nunit2-xml" | "nunit3-xml" => Some(Format::Nunit),
        other => Format::from_name(other),
    }
}

/// The lint fixture's format, by file name (as the script maps it).
fn lint_fixture_format(name: &str) -> Format {
    match name {
        n if n.starts_with("cargo-") || n == "rustc-error.json" => Format::CargoJson,
        n if n.ends_with(".sarif") => Format::Sarif,
        n if n.starts_with("eslint") => Format::EslintJson,
        "ruff.json" => Format::RuffJson,
        "flake8.txt" => Format::Flake8,
        n if n.starts_with("tsc") => Format::Tsc,
        n if n.starts_with("golangci") => Format::GolangciJson,
        "rubocop.json" => Format::RubocopJson,
        _ => Format::GenericLint,
    }
}

/// The sniff_auto selector for a file name (as the script's `sniff_selector`).
fn sniff_name_for(file: &str) -> &'static str {
    let ext = file.rsplit_once('.').map_or("", |(_, e)| e);
    let ext = if ext == "log" { "txt" } else { ext };
    SNIFF_NAMES
        .iter()
        .copied()
        .find(|n| !ext.is_empty() && n.ends_with(&format!(".{ext}")))
        .unwrap_or(SNIFF_NAMES[0])
}

fn with_selector(sel: u8, bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(bytes.len().min(SEED_BYTES) + 1);
    v.push(sel);
    v.extend_from_slice(&bytes[..bytes.len().min(SEED_BYTES)]);
    v
}

/// Runs one seed file through sniff_auto and, when it has a format, its family target.
fn replay_seed(path: &Path, format: Option<Format>, failures: &mut Vec<String>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let sel = Target::sniff_selector(sniff_name_for(&name)).unwrap();
    let mut runs = vec![(Target::SniffAuto, with_selector(sel, &bytes))];
    if let Some(f) = format {
        let t = Target::of_format(f);
        runs.push((t, with_selector(t.selector(f).unwrap(), &bytes)));
    }
    for (t, input) in runs {
        if let Err(e) = check(t, &input) {
            failures.push(format!("{} ({}): {e}", path.display(), t.name()));
        }
    }
}

#[test]
fn every_kept_fuzz_finding_holds_the_invariants() {
    let mut failures = Vec::new();
    let mut n = 0;
    for t in Target::ALL {
        let dir = root().join("fuzz/regressions").join(t.name());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            n += 1;
            if let Err(e) = check(t, &bytes) {
                failures.push(format!("{}: {e}", path.display()));
            }
        }
    }
    assert!(n > 0, "no regression inputs under fuzz/regressions/");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_fuzz_seed_holds_the_invariants() {
    let mut failures = Vec::new();
    let corpus = corpus_dir();
    let mut seeded = std::collections::HashSet::new();
    for row in rows() {
        let format = manifest_format(&row.format);
        if let Some(f) = format {
            seeded.insert(f);
        }
        replay_seed(&corpus.join(&row.path), format, &mut failures);
    }
    for e in std::fs::read_dir(root().join("tests/fixtures/lint")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name != "README.md" {
            let f = lint_fixture_format(&name);
            seeded.insert(f);
            replay_seed(&path, Some(f), &mut failures);
        }
    }
    seeded.insert(Format::GenericJson);
    replay_seed(
        &root().join("docs/generic-json.example.json"),
        Some(Format::GenericJson),
        &mut failures,
    );
    for e in std::fs::read_dir(root().join("fuzz/seeds")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let f = Format::from_name(name.split('.').next().unwrap_or(""))
            .unwrap_or_else(|| panic!("fuzz/seeds/{name}: name it <registry-format>.<ext>"));
        seeded.insert(f);
        replay_seed(&path, Some(f), &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every format is fuzzed from at least one real seed.
    let missing: Vec<&str> = Format::ALL
        .iter()
        .filter(|f| !seeded.contains(f))
        .map(|f| f.name())
        .collect();
    assert!(
        missing.is_empty(),
        "formats without a fuzz seed: {missing:?}"
    );
}

/// scripts/fuzz-seed.sh hard-codes the selector bytes (`<format>) sel <target> <byte> ;;`);
/// they must be the ones the targets decode.
#[test]
fn the_seed_script_uses_the_targets_selectors() {
    let script = std::fs::read_to_string(root().join("scripts/fuzz-seed.sh")).unwrap();
    let mut seen = Vec::new();
    for line in script.lines() {
        let l = line.trim();
        let Some((name, rest)) = l.split_once(") sel ") else {
            continue;
        };
        let words: Vec<&str> = rest.trim_end_matches(";;").split_whitespace().collect();
        let format = Format::from_name(name)
            .unwrap_or_else(|| panic!("fuzz-seed.sh: unknown format `{name}`"));
        assert_eq!(format.name(), name, "fuzz-seed.sh: use the registry name");
        let target = Target::of_format(format);
        assert_eq!(words.first().copied(), Some(target.name()), "{l}");
        let sel: u8 = words[1].parse().unwrap();
        assert_eq!(target.split(&[sel]).0, Some(format), "{l}");
        seen.push(format);
    }
    for f in Format::ALL {
        assert!(
            seen.contains(f),
            "fuzz-seed.sh has no selector for {}",
            f.name()
        );
    }
    // File-name selectors of sniff_auto.
    let mut exts = 0;
    for line in script.lines() {
        let l = line.trim();
        let Some((pattern, rest)) = l.split_once(") echo ") else {
            continue;
        };
        // `*) echo "" ;;` ends the format table, not a file-name selector.
        let Ok(sel) = rest.trim_end_matches(";;").trim().parse::<u8>() else {
            continue;
        };
        let (_, name, _) = Target::SniffAuto.split(&[sel]);
        for p in pattern.split(" | ") {
            let expected = if p == "*" {
                SNIFF_NAMES[0]
            } else {
                sniff_name_for(p)
            };
            assert_eq!(name, expected, "{l}");
            exts += 1;
        }
    }
    assert!(exts >= SNIFF_NAMES.len(), "{exts} file-name selectors");
}

/// The fuzz crate compiles src/model.rs and src/parsers/ itself (fuzz/src/lib.rs): every crate
/// of the main manifest they use must be a dependency there too, or the nightly build breaks
/// where stable CI cannot see it (it did once: model.rs started using `libc`).
#[test]
fn the_fuzz_crate_has_every_dependency_the_parsers_use() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let fuzz = std::fs::read_to_string(root().join("fuzz/Cargo.toml")).unwrap();
    let deps = |toml: &str| -> Vec<String> {
        toml.split("\n[")
            .find(|s| s.starts_with("dependencies]"))
            .unwrap_or("")
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
            .filter(|k| !k.is_empty() && !k.starts_with('#'))
            .collect()
    };
    let (main_deps, fuzz_deps) = (deps(&manifest), deps(&fuzz));
    assert!(
        main_deps.contains(&"quick-xml".to_string()),
        "{main_deps:?}"
    );
    let mut sources = vec![root().join("src/model.rs")];
    for e in std::fs::read_dir(root().join("src/parsers")).unwrap() {
        sources.push(e.unwrap().path());
    }
    let mut missing = Vec::new();
    for path in sources {
        let code = std::fs::read_to_string(&path).unwrap();
        for dep in &main_deps {
            let ident = dep.replace('-', "_");
            let used =
                code.contains(&format!("{ident}::")) || code.contains(&format!("use {ident}"));
            if used && !fuzz_deps.contains(dep) {
                missing.push(format!("{} uses `{dep}`", path.display()));
            }
        }
    }
    assert!(missing.is_empty(), "add to fuzz/Cargo.toml: {missing:?}");
}
