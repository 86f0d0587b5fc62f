//! Onboarding through the binary: `init` in a project that already has its files, `doctor`
//! naming every missing program of every runner, the Playwright and Flutter built-ins run
//! end to end with stub tools, and JSONC config files.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::bin;

fn codeloop(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args)
        .env("CI", "true")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        .env_remove("CODELOOP_CONFIG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run codeloop")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A directory of stub programs (`sh` included, so commands still run) for PATH.
fn stubs(dir: &Path, programs: &[(&str, &str)]) -> PathBuf {
    let bin = dir.join("stub-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["sh", "cat", "printf", "cp", "env"] {
        for prefix in ["/bin", "/usr/bin"] {
            let p = Path::new(prefix).join(tool);
            if p.exists() && !bin.join(tool).exists() {
                std::os::unix::fs::symlink(&p, bin.join(tool)).unwrap();
            }
        }
    }
    for (name, body) in programs {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

#[test]
fn init_keeps_the_users_files_and_writes_the_missing_ones() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join(".codeloop")).unwrap();
    let mine = "// my runners\n{\"runners\": [{\"id\": \"unit\", \"kind\": \"test\", \"command\": \"true\",},],}\n";
    let plugins = d.path().join(".codeloop/plugins.json");
    std::fs::write(&plugins, mine).unwrap();
    let cwd = d.path().to_str().unwrap();
    let out = codeloop(&["init", "--cwd", cwd, "--format", "json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kept"], serde_json::json!([".codeloop/plugins.json"]));
    let written: Vec<&str> = v["written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(
        written,
        [
            ".codeloop/config.json",
            ".codeloop/README.md",
            ".codeloop/.gitignore"
        ]
    );
    assert_eq!(std::fs::read_to_string(&plugins).unwrap(), mine);
    // Run again: everything exists, nothing is written, still a success.
    let again = codeloop(&["init", "--cwd", cwd], &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let s = text(&again.stdout);
    assert!(!s.contains("wrote "), "{s}");
    assert!(
        s.contains("kept .codeloop/config.json") && s.contains("--force"),
        "{s}"
    );
    // --force overwrites.
    let forced = codeloop(&["init", "--cwd", cwd, "--force"], &[]);
    assert_eq!(forced.status.code(), Some(0));
    assert_ne!(std::fs::read_to_string(&plugins).unwrap(), mine);
}

#[test]
fn doctor_names_every_missing_program_of_every_runner() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join(".codeloop")).unwrap();
    std::fs::write(
        d.path().join(".codeloop/plugins.json"),
        r#"{"runners": [
            {"id": "unit", "kind": "test", "command": "pytest --junitxml={run_dir}/u.xml && coverage-report"},
            {"id": "lint", "kind": "lint", "command": "ruff check . --output-format=json > {runner_dir}/r.json"},
            {"id": "script", "kind": "test", "command": "./scripts/run-tests.sh"}
        ]}"#,
    )
    .unwrap();
    let path = stubs(d.path(), &[("ruff", "exit 0")]);
    let cwd = d.path().to_str().unwrap();
    let env = [("PATH", path.to_str().unwrap())];
    let out = codeloop(&["doctor", "--cwd", cwd, "--format", "json"], &env);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let runner = |id: &str| {
        v["runners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {v:#}"))
            .clone()
    };
    assert_eq!(
        runner("unit")["missing"],
        serde_json::json!(["pytest", "coverage-report"])
    );
    assert_eq!(runner("lint")["missing"], serde_json::json!([]));
    assert_eq!(runner("lint")["programs"], serde_json::json!(["ruff"]));
    assert_eq!(
        runner("script")["missing"],
        serde_json::json!(["./scripts/run-tests.sh"])
    );
    let problems: Vec<String> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["problem"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems[0].contains("`unit` runs `pytest`, which is not on PATH"),
        "{problems:?}"
    );
    assert!(problems[1].contains("`coverage-report`"), "{problems:?}");
    assert!(
        problems[2].contains("does not exist or is not executable"),
        "{problems:?}"
    );

    // Human output: no "no problems found", each missing program named, with a fix.
    let human = codeloop(&["doctor", "--cwd", cwd], &env);
    let s = text(&human.stdout);
    assert!(!s.contains("no problems found"), "{s}");
    assert!(s.contains("MISSING: pytest, coverage-report"), "{s}");
    assert!(s.contains("fix: install `pytest`"), "{s}");

    // With the script in place and pytest installed, only coverage-report is left.
    std::fs::create_dir_all(d.path().join("scripts")).unwrap();
    let script = d.path().join("scripts/run-tests.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    stubs(d.path(), &[("pytest", "exit 0")]);
    let out = codeloop(&["doctor", "--cwd", cwd, "--format", "json"], &env);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["problems"].as_array().unwrap().len(), 1, "{v:#}");
}

#[test]
fn playwright_and_flutter_are_detected_and_run_end_to_end() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("package.json"), r#"{"name": "web"}"#).unwrap();
    std::fs::write(p.join("playwright.config.ts"), "export default {};\n").unwrap();
    std::fs::write(
        p.join("pubspec.yaml"),
        "name: app\ndependencies:\n  flutter:\n    sdk: flutter\n",
    )
    .unwrap();
    let machine = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/onboard/flutter-machine.json");
    // The stubs do what the real tools do: Playwright's JUnit reporter writes the file named
    // by PLAYWRIGHT_JUNIT_OUTPUT_NAME; `flutter test --machine` prints JSON events.
    let npx = r#"case "$*" in *"playwright test --reporter=junit"*) ;; *) echo "unexpected: $*" >&2; exit 9;; esac
printf '<testsuites><testsuite name="e2e" tests="2" failures="1"><testcase classname="home.spec.ts" name="loads"/><testcase classname="home.spec.ts" name="logs in"><failure message="timeout">home.spec.ts:12</failure></testcase></testsuite></testsuites>' > "$PLAYWRIGHT_JUNIT_OUTPUT_NAME"
exit 1"#;
    let flutter = format!(
        "[ \"$*\" = \"test --machine\" ] || exit 9\ncat '{}'\nexit 1",
        machine.display()
    );
    let path = stubs(p, &[("npx", npx), ("flutter", &flutter)]);
    let cwd = p.to_str().unwrap();
    let env = [("PATH", path.to_str().unwrap())];

    let doc = codeloop(&["doctor", "--cwd", cwd, "--format", "json"], &env);
    let v: Value = serde_json::from_slice(&doc.stdout).unwrap();
    let stacks = v["stacks"].as_array().unwrap();
    assert!(
        stacks.contains(&"playwright".into()) && stacks.contains(&"flutter".into()),
        "{v:#}"
    );

    let art = tempfile::tempdir().unwrap();
    let out = codeloop(
        &[
            "verify",
            "--cwd",
            cwd,
            "--artifacts-dir",
            art.path().to_str().unwrap(),
            "--runner",
            "playwright",
            "--runner",
            "flutter-test",
            "--format",
            "json",
        ],
        &env,
    );
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)));
    let runner = |id: &str| {
        v["runners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {v:#}"))
            .clone()
    };
    let pw = runner("playwright");
    assert_eq!(pw["counts"]["tests"], 2, "{pw:#}");
    assert_eq!(pw["counts"]["failed"], 1, "{pw:#}");
    let fl = runner("flutter-test");
    // dorny/test-reporter's fixture: 6 tests, 1 passed, 4 failing (failed + errored), 1 skipped.
    assert_eq!(fl["counts"]["tests"], 6, "{fl:#}");
    assert_eq!(fl["counts"]["passed"], 1, "{fl:#}");
    assert_eq!(fl["counts"]["skipped"], 1, "{fl:#}");
    assert_eq!(
        fl["counts"]["failed"].as_u64().unwrap() + fl["counts"]["errored"].as_u64().unwrap(),
        4,
        "{fl:#}"
    );
}

#[test]
fn jsonc_config_and_plugins_load_and_errors_keep_file_line_column() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join(".codeloop")).unwrap();
    std::fs::write(
        d.path().join(".codeloop/config.json"),
        "{\n  // one runner at a time\n  \"verify\": {\"jobs\": 1, /* seconds */ \"timeout_sec\": 30,},\n  \"gate\": {\"fail_on_empty\": false,},\n}\n",
    )
    .unwrap();
    let plugins = d.path().join(".codeloop/plugins.json");
    std::fs::write(
        &plugins,
        "/* runners */\n{\"runners\": [\n  // the unit tests\n  {\"id\": \"unit\", \"kind\": \"test\", \"command\": \"echo 'a // not a comment'\",},\n],}\n",
    )
    .unwrap();
    let cwd = d.path().to_str().unwrap();
    let art = tempfile::tempdir().unwrap();
    let out = codeloop(
        &[
            "verify",
            "--cwd",
            cwd,
            "--artifacts-dir",
            art.path().to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runners"][0]["id"], "unit");
    assert_eq!(v["runners"][0]["command"], "echo 'a // not a comment'");

    // A syntax error after comments: the user's line and column.
    std::fs::write(
        &plugins,
        "// c\n/* c\n c */ {\"runners\": [\n  {\"id\": \"unit\" \"kind\": \"test\"}]}\n",
    )
    .unwrap();
    let out = codeloop(&["verify", "--cwd", cwd], &[]);
    assert_eq!(out.status.code(), Some(2));
    let e = text(&out.stderr);
    assert!(
        e.contains("plugins.json") && e.contains("line 4, column 17"),
        "{e}"
    );
    assert!(e.contains("hint:"), "{e}");
    // An unterminated block comment is an error at its line, not a silent truncation.
    std::fs::write(
        d.path().join(".codeloop/config.json"),
        "{\n  \"gate\": {}\n  /* never closed\n}\n",
    )
    .unwrap();
    let out = codeloop(&["doctor", "--cwd", cwd], &[]);
    assert_eq!(out.status.code(), Some(2));
    let s = text(&out.stdout) + &text(&out.stderr);
    assert!(s.contains("config.json") && s.contains("line 3"), "{s}");
}
