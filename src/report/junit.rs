//! JUnit XML out (`report/junit.xml`), written with quick-junit: every runner's cases in one
//! file (one `<testsuite>` per runner), lint/build findings as failed cases of a `lint` suite
//! (so GitLab's `artifacts:reports:junit` and Jenkins show them), and flaky tests as passed
//! cases with Surefire `<flakyFailure>` children, one per retry. Pure: cases in, XML out.

use std::collections::BTreeMap;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use super::ReportError;
use crate::model::{Case, Finding, Status};

/// Collects cases and findings into a JUnit report. Feed it with [`JunitOut::case`] and
/// [`JunitOut::finding`], then call [`JunitOut::finish`].
pub struct JunitOut {
    name: String,
    suites: BTreeMap<String, TestSuite>,
    lint: Option<TestSuite>,
}

fn secs(d: Option<f64>) -> Option<Duration> {
    d.filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
}

impl JunitOut {
    pub fn new(name: &str) -> JunitOut {
        JunitOut {
            name: name.to_string(),
            suites: BTreeMap::new(),
            lint: None,
        }
    }

    pub fn case(&mut self, c: &Case) {
        let suite_name = if c.runner.is_empty() {
            "tests".to_string()
        } else {
            c.runner.clone()
        };
        let f = c.failure.clone().unwrap_or_default();
        let status = match c.status {
            Status::Passed if c.flaky => {
                let mut runs = Vec::new();
                for _ in 0..c.retries.clamp(1, 20) {
                    let mut r = TestRerun::new(NonSuccessKind::Failure);
                    if let Some(m) = &f.message {
                        r.set_message(m.as_str());
                    }
                    runs.push(r);
                }
                TestCaseStatus::Success { flaky_runs: runs }
            }
            Status::Passed => TestCaseStatus::success(),
            Status::Failed | Status::Errored => {
                let kind = if c.status == Status::Failed {
                    NonSuccessKind::Failure
                } else {
                    NonSuccessKind::Error
                };
                let mut s = TestCaseStatus::non_success(kind);
                if let Some(m) = &f.message {
                    s.set_message(m.as_str());
                }
                if let Some(k) = &f.kind {
                    s.set_type(k.as_str());
                }
                if let Some(t) = f.trace.as_ref().or(f.message.as_ref()) {
                    s.set_description(t.as_str());
                }
                s
            }
            Status::Skipped => {
                let mut s = TestCaseStatus::skipped();
                if let Some(r) = &c.skip_reason {
                    s.set_message(r.as_str());
                }
                s
            }
        };
        let mut tc = TestCase::new(c.name.as_str(), status);
        let classname = match &c.classname {
            Some(cl) if !cl.is_empty() => cl.clone(),
            _ => c.suite.join("."),
        };
        if !classname.is_empty() {
            tc.set_classname(classname);
        }
        if let Some(t) = secs(c.duration) {
            tc.set_time(t);
        }
        if let Some(file) = &c.file {
            tc.extra.insert("file".into(), file.as_str().into());
        }
        if let Some(line) = c.line {
            tc.extra.insert("line".into(), line.to_string().into());
        }
        if let Some(o) = &c.output {
            tc.set_system_out(o.as_str());
        }
        self.suites
            .entry(suite_name.clone())
            .or_insert_with(|| TestSuite::new(suite_name))
            .add_test_case(tc);
    }

    pub fn finding(&mut self, f: &Finding) {
        let loc = match (&f.file, f.line) {
            (Some(file), Some(l)) => format!("{file}:{l}"),
            (Some(file), None) => file.clone(),
            _ => String::new(),
        };
        let rule = f.rule.clone().unwrap_or_else(|| f.tool.clone());
        let name = if loc.is_empty() {
            rule.clone()
        } else {
            format!("{loc}: {rule}")
        };
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        s.set_message(f.message.as_str());
        s.set_type(format!("{}:{}", f.severity.as_str(), rule));
        s.set_description(format!("{}: {}: {}", name, f.severity.as_str(), f.message));
        let mut tc = TestCase::new(name, s);
        tc.set_classname(f.tool.as_str());
        if let Some(file) = &f.file {
            tc.extra.insert("file".into(), file.as_str().into());
        }
        if let Some(line) = f.line {
            tc.extra.insert("line".into(), line.to_string().into());
        }
        self.lint
            .get_or_insert_with(|| TestSuite::new("lint"))
            .add_test_case(tc);
    }

    /// The XML document.
    pub fn finish(self) -> Result<String, ReportError> {
        let mut report = Report::new(self.name);
        let mut total = Duration::ZERO;
        for (_, mut s) in self.suites {
            let t: Duration = s.test_cases.iter().filter_map(|c| c.time).sum();
            s.set_time(t);
            total += t;
            report.add_test_suite(s);
        }
        if let Some(l) = self.lint {
            report.add_test_suite(l);
        }
        report.set_time(total);
        report
            .to_string()
            .map_err(|e| ReportError::Junit(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Failure, Severity};

    #[test]
    fn writes_runners_lint_and_flaky() {
        let mut j = JunitOut::new("codeloop");
        let mut f = Case::new("test_a", Status::Failed);
        f.runner = "pytest".into();
        f.classname = Some("tests.test_x".into());
        f.failure = Some(Failure {
            kind: Some("AssertionError".into()),
            message: Some("assert 1 == 2 \u{0} <x>".into()),
            trace: None,
        });
        j.case(&f);
        let mut fl = Case::new("test_b", Status::Passed);
        fl.runner = "pytest".into();
        fl.flaky = true;
        fl.retries = 2;
        j.case(&fl);
        j.finding(&Finding {
            tool: "ruff".into(),
            rule: Some("F401".into()),
            severity: Severity::Error,
            message: "unused import".into(),
            file: Some("a.py".into()),
            line: Some(3),
            ..Default::default()
        });
        let xml = j.finish().unwrap();
        assert!(
            xml.contains(r#"<testsuite name="pytest" tests="2""#),
            "{xml}"
        );
        assert!(xml.contains(r#"failures="1""#), "{xml}");
        assert_eq!(xml.matches("<flakyFailure").count(), 2, "{xml}");
        assert!(
            xml.contains(r#"<testcase name="a.py:3: F401" classname="ruff""#),
            "{xml}"
        );
        assert!(xml.contains("&lt;x&gt;") && !xml.contains('\u{0}'), "{xml}");
    }
}
