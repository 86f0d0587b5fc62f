//! The command that reruns just one failing test, per tool: cargo test / nextest, pytest,
//! go test, jest, vitest, mocha, rspec, dotnet test, Maven, Gradle, PHPUnit, ctest. The tool
//! is recognised from the runner's command, id and result format. Test names are untrusted:
//! every argument is single-quoted for POSIX shells.

use crate::model::{Case, Location, RunnerResult};

/// Quotes `s` as one POSIX shell word.
pub fn sh_quote(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    if !clean.is_empty()
        && clean
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c))
    {
        return clean;
    }
    format!("'{}'", clean.replace('\'', r"'\''"))
}

/// Which tool ran the tests, as far as the runner tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Nextest,
    Cargo,
    Pytest,
    Go,
    Jest,
    Vitest,
    Mocha,
    Rspec,
    Dotnet,
    Maven,
    Gradle,
    Phpunit,
    Ctest,
}

/// Tools named in `text` (a command, a runner id, a result format or file name), in a fixed
/// order of precedence.
fn tools_in(text: &str) -> Vec<Tool> {
    let hay = text.to_ascii_lowercase();
    // A tool name as a word of its own (`cargo test` does not contain `go test`).
    let has = |w: &str| {
        hay.match_indices(w).any(|(i, _)| {
            !hay[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric())
        })
    };
    let mut v = Vec::new();
    if has("nextest") {
        v.push(Tool::Nextest);
    } else if has("cargo") || has("libtest") {
        v.push(Tool::Cargo);
    }
    if has("pytest") {
        v.push(Tool::Pytest);
    }
    if has("vitest") {
        v.push(Tool::Vitest);
    } else if has("jest") {
        v.push(Tool::Jest);
    }
    if has("mocha") {
        v.push(Tool::Mocha);
    }
    if has("rspec") {
        v.push(Tool::Rspec);
    }
    if has("gotestsum") || has("go test") || has("go-test") || hay.trim() == "go" {
        v.push(Tool::Go);
    }
    if has("dotnet") || has("trx") || has("nunit") || has("xunit-net") {
        v.push(Tool::Dotnet);
    }
    if has("mvn") || has("maven") || has("surefire") {
        v.push(Tool::Maven);
    } else if has("gradle") {
        v.push(Tool::Gradle);
    }
    if has("phpunit") {
        v.push(Tool::Phpunit);
    }
    if has("ctest") {
        v.push(Tool::Ctest);
    }
    v
}

/// Tools that can run a test written in a file with this extension.
fn tools_for_extension(file: &str) -> &'static [Tool] {
    let ext = file.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "rs" => &[Tool::Nextest, Tool::Cargo],
        "py" => &[Tool::Pytest],
        "go" => &[Tool::Go],
        "js" | "jsx" | "ts" | "tsx" | "mjs" | "cjs" | "mts" | "cts" | "vue" | "svelte" => {
            &[Tool::Jest, Tool::Vitest, Tool::Mocha]
        }
        "rb" => &[Tool::Rspec],
        "cs" | "fs" | "vb" => &[Tool::Dotnet],
        "java" | "kt" | "kts" | "scala" | "groovy" => &[Tool::Maven, Tool::Gradle],
        "php" => &[Tool::Phpunit],
        "c" | "cc" | "cpp" | "cxx" | "h" | "hpp" => &[Tool::Ctest],
        _ => &[],
    }
}

/// The runner's tool, when it names exactly one (command or id first, then result files).
pub fn tool_of(r: &RunnerResult) -> Option<Tool> {
    runner_tools(r).pick(None)
}

/// What a runner tells about its tool, worked out once per runner (the per-test part is
/// [`RunnerTools::pick`]): naming the tools means lowercasing and searching its command and
/// result files, which a run with thousands of failures would otherwise do for each.
#[derive(Clone, Debug, Default)]
pub struct RunnerTools {
    /// The one tool the command (or id) names, when it names exactly one.
    named: Option<Tool>,
    /// Else every tool the command and the result files name.
    candidates: Vec<Tool>,
}

/// The tools a runner's command, id and result files name.
pub fn runner_tools(r: &RunnerResult) -> RunnerTools {
    let by_command = tools_in(&format!("{} {}", r.id, r.command.as_deref().unwrap_or("")));
    if by_command.len() == 1 {
        return RunnerTools {
            named: by_command.first().copied(),
            candidates: Vec::new(),
        };
    }
    let mut candidates = by_command;
    for f in &r.result_files {
        for t in tools_in(&format!("{} {}", f.format.as_deref().unwrap_or(""), f.path)) {
            if !candidates.contains(&t) {
                candidates.push(t);
            }
        }
    }
    RunnerTools {
        named: None,
        candidates,
    }
}

impl RunnerTools {
    /// The tool that ran `file`'s tests: the runner's command (or id) decides when it names
    /// one tool; a collect runner holding several formats is narrowed down by the test's
    /// file extension; ambiguity gives `None` (no command rather than a wrong one).
    pub fn pick(&self, file: Option<&str>) -> Option<Tool> {
        if self.named.is_some() {
            return self.named;
        }
        let mut fitting = self.candidates.iter().copied();
        let fits = match file {
            Some(f) if self.candidates.len() > 1 => tools_for_extension(f),
            _ => return (self.candidates.len() == 1).then(|| self.candidates[0]),
        };
        let first = fitting.find(|t| fits.contains(t))?;
        fitting.all(|t| !fits.contains(&t)).then_some(first)
    }
}

/// The command to rerun just `case`, or `None` when the tool cannot select one test.
///
/// `own_file` is the case's own file made repo-relative (see
/// [`super::location::normalize_path`]); it and `loc` are the only files a command names, so a
/// command can be pasted on any machine: the case's raw file (vitest and jest write absolute
/// paths such as `/home/runner/work/app/app/spec/x.spec.js`) is never used, and a file outside
/// the workspace leaves the command without a file rather than with a path of this machine.
pub fn command(
    tools: &RunnerTools,
    case: &Case,
    own_file: Option<&str>,
    loc: Option<&Location>,
) -> Option<String> {
    let name = case.name.as_str();
    let file = own_file
        .or(loc.map(|l| l.file.as_str()))
        .map(|f| f.trim_start_matches("./"))
        .filter(|f| !is_absolute(f));
    Some(match tools.pick(loc.map(|l| l.file.as_str()).or(file))? {
        Tool::Nextest => format!(
            "cargo nextest run -E {}",
            sh_quote(&format!("test(={name})"))
        ),
        Tool::Cargo => format!("cargo test {} -- --exact", sh_quote(name)),
        Tool::Pytest => {
            // pytest's xunit2 JUnit has no `file`: the location is where it failed, which is
            // the library code a test called as often as the test file. Only a file the
            // dotted classname names is the test's; else the classname's module is.
            let from_class = case.classname.as_deref().and_then(pytest_module_file);
            let names_test = |f: &&str| {
                own_file.is_some()
                    || case.classname.as_deref().is_none_or(|cls| {
                        let stem = f.rsplit('/').next().unwrap_or(f).trim_end_matches(".py");
                        cls.split('.').any(|p| p == stem)
                    })
            };
            let f = file
                .filter(|f| f.ends_with(".py"))
                .filter(names_test)
                .map(str::to_string)
                .or(from_class)?;
            let f = f.as_str();
            let mut id = f.to_string();
            // Classes after the module in a dotted classname: tests.test_x.TestA → TestA.
            if let Some(cls) = &case.classname {
                let stem = f.rsplit('/').next().unwrap_or(f).trim_end_matches(".py");
                let rest = cls
                    .split_once(&format!("{stem}."))
                    .map(|(_, r)| r)
                    .unwrap_or("");
                for part in rest.split('.').filter(|p| !p.is_empty()) {
                    id.push_str("::");
                    id.push_str(part);
                }
            }
            id.push_str("::");
            id.push_str(name);
            format!("pytest {}", sh_quote(&id))
        }
        Tool::Go => {
            let pattern = name
                .split('/')
                .map(|p| format!("^{}$", regex::escape(p)))
                .collect::<Vec<_>>()
                .join("/");
            // The package's import path selects it from anywhere in the module.
            let import = case
                .classname
                .as_deref()
                .or(case.suite.last().map(String::as_str))
                .filter(|p| p.contains('/') && !p.contains(' '));
            let pkg = match import {
                Some(p) => p.to_string(),
                None => loc
                    .filter(|l| l.file.ends_with(".go"))
                    .and_then(|l| l.file.rsplit_once('/').map(|(d, _)| format!("./{d}")))
                    .unwrap_or_else(|| "./...".to_string()),
            };
            format!("go test -run {} {}", sh_quote(&pattern), sh_quote(&pkg))
        }
        Tool::Jest => match file {
            Some(f) => format!("npx jest {} -t {}", sh_quote(f), sh_quote(&jest_name(case))),
            None => format!("npx jest -t {}", sh_quote(&jest_name(case))),
        },
        Tool::Vitest => match file {
            Some(f) => format!(
                "npx vitest run {} -t {}",
                sh_quote(f),
                sh_quote(&jest_name(case))
            ),
            None => format!("npx vitest run -t {}", sh_quote(&jest_name(case))),
        },
        Tool::Mocha => format!("npx mocha --grep {}", sh_quote(&regex::escape(name))),
        Tool::Rspec => {
            let l = loc.filter(|l| l.file.ends_with(".rb") && l.line.is_some());
            match (l, file.filter(|f| f.ends_with(".rb")), case.line) {
                (_, Some(f), Some(line)) => {
                    format!("bundle exec rspec {}", sh_quote(&format!("{f}:{line}")))
                }
                (Some(l), _, _) => format!(
                    "bundle exec rspec {}",
                    sh_quote(&format!("{}:{}", l.file, l.line.unwrap_or(0)))
                ),
                _ => format!("bundle exec rspec -e {}", sh_quote(name)),
            }
        }
        Tool::Dotnet => {
            let full = match &case.classname {
                Some(c) if !c.is_empty() && !name.starts_with(c.as_str()) => format!("{c}.{name}"),
                _ => name.to_string(),
            };
            // Parameterised names `M(1,2)`: filter on the method.
            let base = full.split('(').next().unwrap_or(&full);
            format!(
                "dotnet test --filter {}",
                sh_quote(&format!("FullyQualifiedName~{base}"))
            )
        }
        Tool::Maven => {
            let cls = case.classname.as_deref()?;
            let simple = cls.rsplit('.').next().unwrap_or(cls);
            let method = name.split('(').next().unwrap_or(name);
            format!(
                "mvn test -Dtest={}",
                sh_quote(&format!("{simple}#{method}"))
            )
        }
        Tool::Gradle => {
            let cls = case.classname.as_deref()?;
            let method = name.split('(').next().unwrap_or(name);
            format!(
                "./gradlew test --tests {}",
                sh_quote(&format!("{cls}.{method}"))
            )
        }
        Tool::Phpunit => format!(
            "vendor/bin/phpunit --filter {}",
            sh_quote(&regex::escape(name))
        ),
        Tool::Ctest => format!(
            "ctest -R {}",
            sh_quote(&format!("^{}$", regex::escape(name)))
        ),
    })
}

/// The test module a pytest classname names (`tests.test_x.TestA` → `tests/test_x.py`): its
/// dotted parts up to the first class (classes are CamelCase, modules are not).
fn pytest_module_file(classname: &str) -> Option<String> {
    let parts: Vec<&str> = classname
        .split('.')
        .take_while(|p| !p.starts_with(|c: char| c.is_ascii_uppercase()))
        .collect();
    if parts.is_empty() || parts.iter().any(|p| p.is_empty() || p.contains(['/', ' '])) {
        return None;
    }
    Some(format!("{}.py", parts.join("/")))
}

/// An absolute path on this machine (POSIX or Windows): never part of a reproduce command.
fn is_absolute(f: &str) -> bool {
    let b = f.as_bytes();
    f.starts_with('/') || f.starts_with('\\') || (b.len() > 2 && b[1] == b':')
}

/// jest/vitest `-t` is a regular expression matched against the full name (describe blocks
/// and the test): the test's own name, escaped, selects it.
fn jest_name(c: &Case) -> String {
    regex::escape(&c.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RunnerKind, RunnerSource, RunnerStatus, Status};

    fn runner(id: &str, cmd: &str) -> RunnerResult {
        RunnerResult {
            shards: Vec::new(),
            candidates: Vec::new(),
            id: id.into(),
            kind: RunnerKind::Test,
            source: RunnerSource::Builtin,
            command: Some(cmd.into()),
            cwd: None,
            status: RunnerStatus::Failed,
            exit_code: Some(1),
            signal: None,
            duration: 1.0,
            hint: None,
            counts: Default::default(),
            lint: Default::default(),
            result_files: Vec::new(),
            parse_errors: Vec::new(),
            warnings: Vec::new(),
            suite_errors: Vec::new(),
            stdout_log: None,
            stderr_log: None,
            depends_on: Vec::new(),
            limits: None,
        }
    }

    fn case(classname: Option<&str>, name: &str, file: Option<&str>) -> Case {
        let mut c = Case::new(name, Status::Failed);
        c.classname = classname.map(Into::into);
        c.file = file.map(Into::into);
        c
    }

    #[test]
    fn one_test_commands() {
        let loc = |f: &str, l: u32| Location {
            file: f.into(),
            line: Some(l),
            column: None,
            exists: None,
        };
        let rows: Vec<(RunnerResult, Case, Option<Location>, &str)> = vec![
            (
                runner("pytest", "pytest --junitxml=r.xml"),
                case(
                    Some("tests.test_mixed.TestGrouped"),
                    "test_in_class",
                    Some("tests/test_mixed.py"),
                ),
                None,
                "pytest tests/test_mixed.py::TestGrouped::test_in_class",
            ),
            (
                runner("pytest", "pytest"),
                case(
                    Some("tests.test_mixed"),
                    "test_p[1-2]",
                    Some("tests/test_mixed.py"),
                ),
                None,
                "pytest 'tests/test_mixed.py::test_p[1-2]'",
            ),
            // xunit2 has no file, and the failure was raised in library code the test
            // called: the test's module comes from the classname, not from the location.
            (
                runner("pytest", "python3 -m pytest --junitxml=r.xml"),
                case(Some("tests.test_basic"), "test_div_zero", None),
                Some(loc("mypkg/__init__.py", 2)),
                "pytest tests/test_basic.py::test_div_zero",
            ),
            (
                runner("pytest", "python3 -m pytest --junitxml=r.xml"),
                case(Some("tests.test_basic.TestDiv"), "test_zero", None),
                Some(loc("mypkg/__init__.py", 2)),
                "pytest tests/test_basic.py::TestDiv::test_zero",
            ),
            (
                runner("pytest", "python3 -m pytest --junitxml=r.xml"),
                case(Some("tests.test_basic"), "test_wrong", None),
                Some(loc("tests/test_basic.py", 25)),
                "pytest tests/test_basic.py::test_wrong",
            ),
            (
                runner("cargo", "cargo test"),
                case(None, "tests::it_fails", None),
                None,
                "cargo test tests::it_fails -- --exact",
            ),
            (
                runner("rust", "cargo nextest run"),
                case(None, "tests::it_fails", None),
                None,
                "cargo nextest run -E 'test(=tests::it_fails)'",
            ),
            (
                runner("go", "go test -json ./..."),
                case(Some("example.com/m/calc"), "TestAdd/small", None),
                Some(loc("go/calc/calc_test.go", 17)),
                "go test -run '^TestAdd$/^small$' example.com/m/calc",
            ),
            (
                runner("jest", "npx jest --ci"),
                case(
                    None,
                    "Mixed suite fails (twice)",
                    Some("spec/mixed.spec.js"),
                ),
                None,
                "npx jest spec/mixed.spec.js -t 'Mixed suite fails \\(twice\\)'",
            ),
            (
                runner("rspec", "bundle exec rspec"),
                case(None, "adds", None),
                Some(loc("spec/mixed_spec.rb", 7)),
                "bundle exec rspec spec/mixed_spec.rb:7",
            ),
            (
                runner("dotnet", "dotnet test"),
                case(Some("Corpus.Sample.MixedTests"), "Add(2,2,5)", None),
                None,
                "dotnet test --filter 'FullyQualifiedName~Corpus.Sample.MixedTests.Add'",
            ),
            (
                runner("maven", "mvn test"),
                case(Some("com.example.FooTest"), "testBar", None),
                None,
                "mvn test -Dtest='FooTest#testBar'",
            ),
            (runner("x", "make check"), case(None, "t", None), None, ""),
        ];
        for (r, c, l, want) in rows {
            let got =
                command(&runner_tools(&r), &c, c.file.as_deref(), l.as_ref()).unwrap_or_default();
            assert_eq!(got, want, "{} {}", r.id, c.name);
        }
    }

    #[test]
    fn a_collect_runner_with_several_formats_picks_by_the_test_file() {
        use crate::model::ResultFile;
        let mut r = runner("reports", "");
        r.command = None;
        for (path, format) in [
            ("all.go-test.jsonl", "go-test-json"),
            ("broken-suite.vitest.json", "jest-json"),
        ] {
            r.result_files.push(ResultFile {
                path: path.into(),
                format: Some(format.into()),
                ..Default::default()
            });
        }
        let loc = |f: &str| Location {
            file: f.into(),
            line: Some(3),
            column: None,
            exists: None,
        };
        let go = case(Some("example.com/m/calc"), "TestX", None);
        assert_eq!(
            command(&runner_tools(&r), &go, None, Some(&loc("calc_test.go"))).as_deref(),
            Some("go test -run '^TestX$' example.com/m/calc")
        );
        let js = case(None, "adds", None);
        assert_eq!(
            command(&runner_tools(&r), &js, None, Some(&loc("js/a.spec.js"))).as_deref(),
            Some("npx vitest run js/a.spec.js -t adds")
        );
        // Nothing tells which tool ran it: no command rather than a wrong one.
        assert_eq!(command(&runner_tools(&r), &js, None, None), None);
        assert_eq!(
            command(&runner_tools(&r), &js, None, Some(&loc("src/lib.rs"))),
            None
        );
    }

    #[test]
    fn quoting_defuses_hostile_names() {
        assert_eq!(sh_quote("a'b; rm -rf /"), r"'a'\''b; rm -rf /'");
        assert_eq!(sh_quote("$(x)\n"), "'$(x)'");
    }
}
