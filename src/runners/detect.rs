//! Built-in runner detection (DESIGN §2): looks at the project's files and returns runners
//! that make each tool write a machine-readable report into the run directory.
//!
//! | stack  | detected by                              | runners                                   |
//! |--------|------------------------------------------|-------------------------------------------|
//! | Rust   | Cargo.toml                               | cargo-build, nextest (or cargo-test), clippy |
//! | Node   | package.json (+ lockfile picks npm/pnpm/yarn) | node-build, jest / vitest / mocha / node-test, eslint |
//! | Python | pyproject.toml, pytest.ini, setup.cfg, tox.ini, conftest.py | pytest, ruff  |
//! | Go     | go.mod                                   | go-build, go-test, golangci-lint          |
//! | Ruby   | Gemfile + spec/                          | rspec, rubocop                            |
//! | .NET   | *.sln / *.csproj / *.fsproj              | dotnet-build, dotnet-test (TRX)           |
//! | Java   | pom.xml / build.gradle(.kts)             | maven (Surefire XML), gradle (JUnit XML)  |
//! | Playwright | playwright.config.{ts,js,mjs,cjs}    | playwright (its JUnit reporter)           |
//! | Flutter | pubspec.yaml with a `flutter` dependency | flutter-test (`--machine`: dart JSON)     |
//!
//! Reports go to `{runner_dir}` (= `<run_dir>/runners/<id>/`); tools that print their report
//! on stdout use `{runner_dir}/stdout.log` as the result file.

use std::path::Path;

use super::RunnerDef;
use crate::model::{RunnerKind, RunnerSource};
use crate::parsers::Format;

/// Which tools are on PATH; injected so detection is testable.
pub trait Tools {
    fn has(&self, program: &str) -> bool;
}

/// The real PATH.
pub struct PathTools;

impl Tools for PathTools {
    fn has(&self, program: &str) -> bool {
        super::find_on_path(program).is_some()
    }
}

// One flat constructor keeps the table of built-ins below readable.
#[allow(clippy::too_many_arguments)]
fn def(
    id: &str,
    kind: RunnerKind,
    detect: &str,
    tool: &str,
    command: String,
    result: &str,
    format: Format,
    hint: &str,
) -> RunnerDef {
    let mut d = RunnerDef::new(id, kind, RunnerSource::Builtin);
    d.detect_file = Some(detect.to_string());
    d.tool = Some(tool.to_string());
    d.command = Some(command);
    if !result.is_empty() {
        d.result_files = vec![result.to_string()];
    }
    d.result_format = Some(format);
    d.install_hint = Some(hint.to_string());
    d
}

const RUST_HINT: &str = "install Rust with rustup: https://rustup.rs";
const NODE_HINT: &str =
    "install Node.js (https://nodejs.org) and run the package manager's install first";
const PY_HINT: &str = "install Python 3 and pytest (`python3 -m pip install pytest`)";
const GO_HINT: &str = "install Go: https://go.dev/dl/";
const RUBY_HINT: &str = "install Ruby and Bundler, then `bundle install`";
const DOTNET_HINT: &str = "install the .NET SDK: https://dotnet.microsoft.com/download";
const MVN_HINT: &str = "install Maven (https://maven.apache.org) or add the Maven wrapper (mvnw)";
const GRADLE_HINT: &str = "install Gradle or add the Gradle wrapper (gradlew)";

/// Every built-in runner that applies to `dir`.
pub fn detect(dir: &Path, tools: &dyn Tools) -> Vec<RunnerDef> {
    let mut out = Vec::new();
    rust(dir, tools, &mut out);
    node(dir, tools, &mut out);
    python(dir, tools, &mut out);
    go(dir, tools, &mut out);
    ruby(dir, tools, &mut out);
    dotnet(dir, &mut out);
    java(dir, &mut out);
    playwright(dir, &mut out);
    flutter(dir, &mut out);
    out
}

/// The stacks found in `dir`, for `init` and `doctor`.
pub fn stacks(dir: &Path) -> Vec<&'static str> {
    let mut v = Vec::new();
    let has = |f: &str| dir.join(f).exists();
    if has("Cargo.toml") {
        v.push("rust");
    }
    if has("package.json") {
        v.push("node");
    }
    if python_marker(dir).is_some() {
        v.push("python");
    }
    if has("go.mod") {
        v.push("go");
    }
    if has("Gemfile") {
        v.push("ruby");
    }
    if dotnet_marker(dir).is_some() {
        v.push("dotnet");
    }
    if has("pom.xml") || has("build.gradle") || has("build.gradle.kts") {
        v.push("java");
    }
    if playwright_config(dir).is_some() {
        v.push("playwright");
    }
    if is_flutter(dir) {
        v.push("flutter");
    }
    v
}

/// The built-in nextest runner's command (`sh -c`).
///
/// 1. A tool config file adds a `codeloop` profile with a JUnit report and no fail-fast, and
///    puts nextest's store (where the report is written) in the runner's directory, without
///    touching the project's own `.config/nextest.toml` (whose retries, timeouts and overrides
///    still apply: every profile inherits the default profile). nextest resolves its store
///    from the workspace root, not from `CARGO_TARGET_DIR`; a project that sets its own
///    `[store] dir` wins over a tool config, so `${CARGO_TARGET_DIR:-target}/nextest` is
///    tried next.
/// 2. nextest's JUnit leaves the tests it skipped out (`#[ignore]`d ones, which its summary
///    counts as "N skipped"), so they are listed afterwards with
///    `cargo nextest list --run-ignored only --message-format oneline` (one
///    `<binary-id> <test name>` line each, from the binaries the run just built) and appended
///    to the report as a second JUnit document (the parser reads concatenated documents): one
///    `<testsuite>` per test, named like nextest names the run's suites (the binary id), with
///    a `<skipped>` case. `sed` escapes the names for XML. Nothing is appended when the run
///    wrote no report (a build failure); a failing listing only loses the skips.
/// 3. The exit status is the run's.
///
/// Not covered: tests a `default-filter` leaves out (nextest counts those as skipped too).
const NEXTEST_COMMAND: &str = concat!(
    r#"d=$(cd {runner_dir} && pwd) && printf '[store]\ndir = "%s/nextest-store"\n[profile.codeloop]\nfail-fast = false\n[profile.codeloop.junit]\npath = "junit.xml"\n' "$d" > "$d/nextest.toml""#,
    r#" && cargo nextest run --tool-config-file "codeloop:$d/nextest.toml" --profile codeloop;"#,
    r#" s=$?; { cp "$d/nextest-store/codeloop/junit.xml" "$d/junit.xml" 2>/dev/null"#,
    r#" || cp "${CARGO_TARGET_DIR:-target}/nextest/codeloop/junit.xml" "$d/junit.xml" 2>/dev/null; }"#,
    r#" && cargo nextest list --tool-config-file "codeloop:$d/nextest.toml" --profile codeloop"#,
    r#" --run-ignored only --message-format oneline"#,
    r#" | sed -e 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g; s/"/\&quot;/g'"#,
    r#" -e 's|^\([^ ]*\) \(.*\)$|<testsuite name="\1"><testcase classname="\1" name="\2"><skipped message="ignored (listed by cargo nextest list --run-ignored only)"/></testcase></testsuite>|'"#,
    r#" >> "$d/junit.xml"; exit $s"#,
);

fn rust(dir: &Path, tools: &dyn Tools, out: &mut Vec<RunnerDef>) {
    if !dir.join("Cargo.toml").is_file() {
        return;
    }
    out.push(def(
        "cargo-build",
        RunnerKind::Build,
        "Cargo.toml",
        "cargo",
        "cargo build --all-targets --message-format=json".into(),
        "{runner_dir}/stdout.log",
        Format::CargoJson,
        RUST_HINT,
    ));
    if tools.has("cargo-nextest") {
        out.push(def(
            "nextest",
            RunnerKind::Test,
            "Cargo.toml",
            "cargo-nextest",
            NEXTEST_COMMAND.into(),
            "{runner_dir}/junit.xml",
            Format::JunitXml,
            "install cargo-nextest: `cargo install cargo-nextest --locked`",
        ));
    } else {
        // libtest's JSON output is unstable; RUSTC_BOOTSTRAP lets the stable harness emit it.
        out.push(def(
            "cargo-test",
            RunnerKind::Test,
            "Cargo.toml",
            "cargo",
            "RUSTC_BOOTSTRAP=1 cargo test --no-fail-fast -- -Z unstable-options --format json --report-time".into(),
            "{runner_dir}/stdout.log",
            Format::LibtestJson,
            RUST_HINT,
        ));
    }
    if tools.has("cargo-clippy") {
        out.push(def(
            "clippy",
            RunnerKind::Lint,
            "Cargo.toml",
            "cargo-clippy",
            "cargo clippy --all-targets --message-format=json".into(),
            "{runner_dir}/stdout.log",
            Format::CargoJson,
            "install clippy: `rustup component add clippy`",
        ));
        // clippy compiles the crate: after a failed `cargo build` it would only say the same
        // compiler errors again (counted twice, one task saying "2 errors" for one).
        if let Some(d) = out.last_mut() {
            d.after_build = true;
        }
    }
}

fn node(dir: &Path, _tools: &dyn Tools, out: &mut Vec<RunnerDef>) {
    let Ok(text) = std::fs::read_to_string(dir.join("package.json")) else {
        return;
    };
    let pkg: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let has_dep = |name: &str| {
        ["dependencies", "devDependencies"]
            .iter()
            .any(|k| pkg.get(k).and_then(|d| d.get(name)).is_some())
    };
    let has_script = |name: &str| pkg.get("scripts").and_then(|s| s.get(name)).is_some();
    let (pm, exec, lock) = if dir.join("pnpm-lock.yaml").is_file() {
        ("pnpm", "pnpm exec", "pnpm-lock.yaml")
    } else if dir.join("yarn.lock").is_file() {
        ("yarn", "yarn run", "yarn.lock")
    } else {
        ("npm", "npx --no-install", "package.json")
    };
    if has_script("build") {
        out.push(def(
            "node-build",
            RunnerKind::Build,
            lock,
            pm,
            format!("{pm} run build"),
            "",
            Format::Tsc,
            NODE_HINT,
        ));
        if let Some(d) = out.last_mut() {
            d.result_files.clear();
            d.result_format = None;
        }
    }
    if has_dep("vitest") {
        out.push(def(
            "vitest",
            RunnerKind::Test,
            "package.json",
            pm,
            format!("{exec} vitest run --reporter=json --outputFile={{runner_dir}}/vitest.json"),
            "{runner_dir}/vitest.json",
            Format::JestJson,
            NODE_HINT,
        ));
    } else if has_dep("jest") {
        out.push(def(
            "jest",
            RunnerKind::Test,
            "package.json",
            pm,
            format!("{exec} jest --ci --json --outputFile={{runner_dir}}/jest.json"),
            "{runner_dir}/jest.json",
            Format::JestJson,
            NODE_HINT,
        ));
    } else if has_dep("mocha") {
        // Mocha's suites use its globals (`describe`, `it`): `node --test` cannot run them.
        // The JSON reporter writes the file named by its `output` option (mocha 9.2+).
        out.push(def(
            "mocha",
            RunnerKind::Test,
            "package.json",
            pm,
            format!(
                "{exec} mocha --reporter json --reporter-option output={{runner_dir}}/mocha.json"
            ),
            "{runner_dir}/mocha.json",
            Format::MochaJson,
            NODE_HINT,
        ));
    } else if has_script("test") || dir.join("test").is_dir() {
        out.push(def(
            "node-test",
            RunnerKind::Test,
            "package.json",
            "node",
            "node --test --test-reporter=junit --test-reporter-destination={runner_dir}/node-test.xml --test-reporter=spec --test-reporter-destination=stdout".into(),
            "{runner_dir}/node-test.xml",
            Format::JunitXml,
            NODE_HINT,
        ));
    }
    if has_dep("eslint") {
        out.push(def(
            "eslint",
            RunnerKind::Lint,
            "package.json",
            pm,
            format!("{exec} eslint . -f json -o {{runner_dir}}/eslint.json"),
            "{runner_dir}/eslint.json",
            Format::EslintJson,
            NODE_HINT,
        ));
    }
}

fn python_marker(dir: &Path) -> Option<&'static str> {
    [
        "pytest.ini",
        "pyproject.toml",
        "setup.cfg",
        "tox.ini",
        "conftest.py",
    ]
    .into_iter()
    .find(|f| dir.join(f).is_file())
}

fn python(dir: &Path, tools: &dyn Tools, out: &mut Vec<RunnerDef>) {
    let Some(marker) = python_marker(dir) else {
        return;
    };
    let py = if tools.has("python3") || !tools.has("python") {
        "python3"
    } else {
        "python"
    };
    out.push(def(
        "pytest",
        RunnerKind::Test,
        marker,
        py,
        format!("{py} -m pytest --junitxml={{runner_dir}}/pytest.xml -o junit_family=xunit2"),
        "{runner_dir}/pytest.xml",
        Format::JunitXml,
        PY_HINT,
    ));
    let pyproject = std::fs::read_to_string(dir.join("pyproject.toml")).unwrap_or_default();
    if dir.join("ruff.toml").is_file() || pyproject.contains("[tool.ruff") {
        out.push(def(
            "ruff",
            RunnerKind::Lint,
            marker,
            "ruff",
            "ruff check --output-format=json --output-file={runner_dir}/ruff.json .".into(),
            "{runner_dir}/ruff.json",
            Format::RuffJson,
            "install ruff: `python3 -m pip install ruff`",
        ));
    }
}

fn go(dir: &Path, _tools: &dyn Tools, out: &mut Vec<RunnerDef>) {
    if !dir.join("go.mod").is_file() {
        return;
    }
    out.push(def(
        "go-build",
        RunnerKind::Build,
        "go.mod",
        "go",
        "go build ./...".into(),
        "",
        Format::GoTestJson,
        GO_HINT,
    ));
    if let Some(d) = out.last_mut() {
        d.result_format = None;
    }
    out.push(def(
        "go-test",
        RunnerKind::Test,
        "go.mod",
        "go",
        "go test -json ./...".into(),
        "{runner_dir}/stdout.log",
        Format::GoTestJson,
        GO_HINT,
    ));
    if [
        ".golangci.yml",
        ".golangci.yaml",
        ".golangci.toml",
        ".golangci.json",
    ]
    .iter()
    .any(|f| dir.join(f).is_file())
    {
        out.push(def(
            "golangci-lint",
            RunnerKind::Lint,
            "go.mod",
            "golangci-lint",
            "golangci-lint run --out-format json ./...".into(),
            "{runner_dir}/stdout.log",
            Format::GolangciJson,
            "install golangci-lint: https://golangci-lint.run/welcome/install/",
        ));
    }
}

fn ruby(dir: &Path, _tools: &dyn Tools, out: &mut Vec<RunnerDef>) {
    if !dir.join("Gemfile").is_file() {
        return;
    }
    if dir.join("spec").is_dir() {
        out.push(def(
            "rspec",
            RunnerKind::Test,
            "Gemfile",
            "bundle",
            "bundle exec rspec --format progress --format json --out {runner_dir}/rspec.json"
                .into(),
            "{runner_dir}/rspec.json",
            Format::RspecJson,
            RUBY_HINT,
        ));
    }
    if dir.join(".rubocop.yml").is_file() {
        out.push(def(
            "rubocop",
            RunnerKind::Lint,
            ".rubocop.yml",
            "bundle",
            "bundle exec rubocop --format json --out {runner_dir}/rubocop.json".into(),
            "{runner_dir}/rubocop.json",
            Format::RubocopJson,
            RUBY_HINT,
        ));
    }
}

fn dotnet_marker(dir: &Path) -> Option<String> {
    let rd = std::fs::read_dir(dir).ok()?;
    let mut names: Vec<String> = rd
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter(|n| n.ends_with(".sln") || n.ends_with(".csproj") || n.ends_with(".fsproj"))
        .collect();
    names.sort();
    names.into_iter().next()
}

fn dotnet(dir: &Path, out: &mut Vec<RunnerDef>) {
    let Some(marker) = dotnet_marker(dir) else {
        return;
    };
    out.push(def(
        "dotnet-build",
        RunnerKind::Build,
        &marker,
        "dotnet",
        "dotnet build".into(),
        "",
        Format::Trx,
        DOTNET_HINT,
    ));
    if let Some(d) = out.last_mut() {
        d.result_format = None;
    }
    out.push(def(
        "dotnet-test",
        RunnerKind::Test,
        &marker,
        "dotnet",
        "dotnet test --no-build --logger trx --results-directory {runner_dir}/trx".into(),
        "{runner_dir}/trx/**/*.trx",
        Format::Trx,
        DOTNET_HINT,
    ));
}

fn java(dir: &Path, out: &mut Vec<RunnerDef>) {
    if dir.join("pom.xml").is_file() {
        let (tool, cmd) = if dir.join("mvnw").is_file() {
            ("sh", "./mvnw -B test")
        } else {
            ("mvn", "mvn -B test")
        };
        out.push(def(
            "maven",
            RunnerKind::Test,
            "pom.xml",
            tool,
            cmd.into(),
            "**/target/surefire-reports/TEST-*.xml",
            Format::JunitXml,
            MVN_HINT,
        ));
    }
    let gradle = ["build.gradle", "build.gradle.kts"]
        .into_iter()
        .find(|f| dir.join(f).is_file());
    if let Some(marker) = gradle {
        let (tool, cmd) = if dir.join("gradlew").is_file() {
            ("sh", "./gradlew test --continue")
        } else {
            ("gradle", "gradle test --continue")
        };
        out.push(def(
            "gradle",
            RunnerKind::Test,
            marker,
            tool,
            cmd.into(),
            "**/build/test-results/**/*.xml",
            Format::JunitXml,
            GRADLE_HINT,
        ));
    }
}

const PLAYWRIGHT_CONFIGS: [&str; 4] = [
    "playwright.config.ts",
    "playwright.config.js",
    "playwright.config.mjs",
    "playwright.config.cjs",
];

fn playwright_config(dir: &Path) -> Option<&'static str> {
    PLAYWRIGHT_CONFIGS
        .into_iter()
        .find(|f| dir.join(f).is_file())
}

/// Playwright Test: its JUnit reporter writes the file named by
/// `PLAYWRIGHT_JUNIT_OUTPUT_NAME` (the `list` reporter alongside keeps the log readable).
/// The package manager follows the lockfile, like the other Node runners.
fn playwright(dir: &Path, out: &mut Vec<RunnerDef>) {
    let Some(config) = playwright_config(dir) else {
        return;
    };
    let (pm, exec) = if dir.join("pnpm-lock.yaml").is_file() {
        ("pnpm", "pnpm exec")
    } else if dir.join("yarn.lock").is_file() {
        ("yarn", "yarn run")
    } else {
        ("npx", "npx --no-install")
    };
    out.push(def(
        "playwright",
        RunnerKind::Test,
        config,
        pm,
        format!(
            "PLAYWRIGHT_JUNIT_OUTPUT_NAME={{runner_dir}}/playwright.xml {exec} playwright test --reporter=junit,list"
        ),
        "{runner_dir}/playwright.xml",
        Format::JunitXml,
        "install Node.js and Playwright (`npm install -D @playwright/test && npx playwright install --with-deps`)",
    ));
}

/// A Flutter app or package: `pubspec.yaml` depends on the Flutter SDK (`flutter:` under
/// `dependencies`, written `sdk: flutter`).
fn is_flutter(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("pubspec.yaml")) else {
        return false;
    };
    text.lines().any(|l| {
        let t = l.trim();
        // Indented: a dependency (or an `environment:` constraint), not the top-level
        // `flutter:` assets section a plain Dart package cannot have anyway.
        t == "sdk: flutter" || (l.starts_with([' ', '\t']) && t.starts_with("flutter:"))
    })
}

/// `flutter test --machine` prints the Dart JSON reporter's event stream on stdout.
fn flutter(dir: &Path, out: &mut Vec<RunnerDef>) {
    if !is_flutter(dir) {
        return;
    }
    out.push(def(
        "flutter-test",
        RunnerKind::Test,
        "pubspec.yaml",
        "flutter",
        "flutter test --machine".into(),
        "{runner_dir}/stdout.log",
        Format::DartJson,
        "install Flutter: https://docs.flutter.dev/get-started/install",
    ));
}

/// The command a person types to rerun a built-in runner by hand: its command without what
/// makes the tool write codeloop's report into the run directory (`--junitxml={runner_dir}/…`,
/// `-f json -o …`, nextest's tool config). `None` for an id that is not a built-in's.
pub fn rerun(id: &str, command: &str) -> Option<String> {
    // The part of the command before the first of `markers` (trimmed).
    let before = |markers: &[&str]| -> String {
        let cut = markers
            .iter()
            .filter_map(|m| command.find(m))
            .min()
            .unwrap_or(command.len());
        command[..cut].trim().to_string()
    };
    Some(match id {
        "cargo-build" => "cargo build --all-targets".into(),
        "cargo-test" => "cargo test --no-fail-fast".into(),
        "nextest" => "cargo nextest run --no-fail-fast".into(),
        "clippy" => "cargo clippy --all-targets".into(),
        "pytest" => before(&[" --junitxml"]),
        "ruff" => "ruff check .".into(),
        "node-build" => command.to_string(),
        "vitest" => before(&[" --reporter=json"]),
        "jest" => before(&[" --json"]),
        "node-test" => "node --test".into(),
        "mocha" => before(&[" --reporter json"]),
        "eslint" => format!("{} .", before(&[" . -f json"])),
        "go-build" => "go build ./...".into(),
        "go-test" => "go test ./...".into(),
        "golangci-lint" => "golangci-lint run ./...".into(),
        "rspec" => "bundle exec rspec".into(),
        "rubocop" => "bundle exec rubocop".into(),
        "dotnet-build" => "dotnet build".into(),
        "dotnet-test" => "dotnet test".into(),
        "maven" | "gradle" => command.to_string(),
        "playwright" => {
            let c = command
                .split_once(' ')
                .filter(|(env, _)| env.starts_with("PLAYWRIGHT_JUNIT_OUTPUT_NAME="))
                .map_or(command, |(_, rest)| rest);
            c.replace(" --reporter=junit,list", "")
        }
        "flutter-test" => "flutter test".into(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a person reruns by hand is the tool's own command, without codeloop's report
    /// plumbing (the nextest shell script, an output path inside the run directory).
    #[test]
    fn rerun_commands_leave_the_report_plumbing_out() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Cargo.toml"), "[package]").unwrap();
        std::fs::write(d.path().join("pyproject.toml"), "[tool.ruff]").unwrap();
        std::fs::write(
            d.path().join("package.json"),
            r#"{"devDependencies": {"jest": "1", "eslint": "9"}}"#,
        )
        .unwrap();
        let all = detect(
            d.path(),
            &Fake(&["cargo", "cargo-nextest", "cargo-clippy", "python3"]),
        );
        let got: Vec<(String, String)> = all
            .iter()
            .map(|r| {
                let cmd = r.command.as_deref().unwrap();
                (r.id.clone(), rerun(&r.id, cmd).expect(&r.id))
            })
            .collect();
        let want = [
            ("cargo-build", "cargo build --all-targets"),
            ("nextest", "cargo nextest run --no-fail-fast"),
            ("clippy", "cargo clippy --all-targets"),
            ("jest", "npx --no-install jest --ci"),
            ("eslint", "npx --no-install eslint ."),
            ("pytest", "python3 -m pytest"),
            ("ruff", "ruff check ."),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want);
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("playwright.config.ts"), "").unwrap();
        let p = &detect(d.path(), &Fake(&[]))[0];
        assert_eq!(
            rerun(&p.id, p.command.as_deref().unwrap()).as_deref(),
            Some("npx --no-install playwright test")
        );
        assert_eq!(rerun("my-plugin", "make test"), None);
    }

    struct Fake(&'static [&'static str]);
    impl Tools for Fake {
        fn has(&self, p: &str) -> bool {
            self.0.contains(&p)
        }
    }

    fn ids(dir: &Path, tools: &dyn Tools) -> Vec<String> {
        detect(dir, tools).into_iter().map(|d| d.id).collect()
    }

    #[test]
    fn rust_prefers_nextest_when_installed() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Cargo.toml"), "[package]").unwrap();
        assert_eq!(
            ids(d.path(), &Fake(&["cargo"])),
            ["cargo-build", "cargo-test"]
        );
        let with = detect(d.path(), &Fake(&["cargo", "cargo-nextest", "cargo-clippy"]));
        let n = with.iter().find(|r| r.id == "nextest").unwrap();
        assert_eq!(n.result_format, Some(Format::JunitXml));
        assert!(n.command.as_deref().unwrap().contains("--profile codeloop"));
        assert_eq!(with.len(), 3);
        assert_eq!(with[0].kind, RunnerKind::Build);
        assert!(with[2].id == "clippy" && with[2].after_build);
    }

    #[test]
    fn node_picks_package_manager_and_framework() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("package.json"),
            r#"{"scripts": {"build": "tsc", "test": "vitest"}, "devDependencies": {"vitest": "1", "eslint": "9"}}"#,
        )
        .unwrap();
        std::fs::write(d.path().join("pnpm-lock.yaml"), "").unwrap();
        let r = detect(d.path(), &Fake(&[]));
        let v: Vec<_> = r.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(v, ["node-build", "vitest", "eslint"]);
        assert!(
            r[1].command
                .as_deref()
                .unwrap()
                .starts_with("pnpm exec vitest run")
        );
        assert_eq!(r[1].tool.as_deref(), Some("pnpm"));
    }

    /// A mocha project (`describe`/`it` globals) is run by mocha, not by `node --test`, which
    /// failed each file as one test ("describe is not defined").
    #[test]
    fn node_runs_mocha_suites_with_mocha() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("package.json"),
            r#"{"scripts": {"test": "mocha"}, "devDependencies": {"mocha": "12"}}"#,
        )
        .unwrap();
        std::fs::create_dir(d.path().join("test")).unwrap();
        let r = detect(d.path(), &Fake(&[]));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].id, "mocha");
        let cmd = r[0].command.as_deref().unwrap();
        assert_eq!(
            cmd,
            "npx --no-install mocha --reporter json --reporter-option output={runner_dir}/mocha.json"
        );
        assert_eq!(r[0].result_files, ["{runner_dir}/mocha.json"]);
        assert_eq!(r[0].result_format, Some(Format::MochaJson));
        assert_eq!(
            rerun("mocha", cmd).as_deref(),
            Some("npx --no-install mocha")
        );
    }

    #[test]
    fn python_go_ruby_dotnet_java() {
        let d = tempfile::tempdir().unwrap();
        for f in ["pytest.ini", "go.mod", "Gemfile", "App.csproj", "pom.xml"] {
            std::fs::write(d.path().join(f), "").unwrap();
        }
        std::fs::create_dir(d.path().join("spec")).unwrap();
        assert_eq!(
            ids(d.path(), &Fake(&["python3"])),
            [
                "pytest",
                "go-build",
                "go-test",
                "rspec",
                "dotnet-build",
                "dotnet-test",
                "maven"
            ]
        );
        assert_eq!(stacks(d.path()), ["python", "go", "ruby", "dotnet", "java"]);
        assert!(detect(tempfile::tempdir().unwrap().path(), &Fake(&[])).is_empty());
    }

    #[test]
    fn playwright_by_its_config_with_the_junit_reporter() {
        for cfg in PLAYWRIGHT_CONFIGS {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join("package.json"), "{}").unwrap();
            std::fs::write(d.path().join(cfg), "export default {}").unwrap();
            let r = detect(d.path(), &Fake(&[]));
            let p = r.iter().find(|r| r.id == "playwright").expect(cfg);
            assert_eq!(p.detect_file.as_deref(), Some(cfg));
            let c = p.command.as_deref().unwrap();
            assert!(c.starts_with("PLAYWRIGHT_JUNIT_OUTPUT_NAME={runner_dir}/playwright.xml npx --no-install playwright test --reporter=junit"), "{c}");
            assert_eq!(p.result_files, ["{runner_dir}/playwright.xml"]);
            assert_eq!(p.result_format, Some(Format::JunitXml));
            assert!(stacks(d.path()).contains(&"playwright"));
        }
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("playwright.config.ts"), "").unwrap();
        std::fs::write(d.path().join("pnpm-lock.yaml"), "").unwrap();
        let r = detect(d.path(), &Fake(&[]));
        assert!(
            r[0].command
                .as_deref()
                .unwrap()
                .contains(" pnpm exec playwright test")
        );
        assert_eq!(r[0].tool.as_deref(), Some("pnpm"));
    }

    #[test]
    fn flutter_only_with_a_flutter_dependency() {
        let d = tempfile::tempdir().unwrap();
        let pubspec = d.path().join("pubspec.yaml");
        std::fs::write(
            &pubspec,
            "name: app\ndependencies:\n  flutter:\n    sdk: flutter\n",
        )
        .unwrap();
        let r = detect(d.path(), &Fake(&[]));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].id, "flutter-test");
        assert_eq!(r[0].command.as_deref(), Some("flutter test --machine"));
        assert_eq!(r[0].result_format, Some(Format::DartJson));
        assert_eq!(r[0].tool.as_deref(), Some("flutter"));
        assert_eq!(stacks(d.path()), ["flutter"]);
        // A plain Dart package is not a Flutter project.
        std::fs::write(&pubspec, "name: lib\ndependencies:\n  path: ^1.9.0\n").unwrap();
        assert!(detect(d.path(), &Fake(&[])).is_empty());
    }
}
