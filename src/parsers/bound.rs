//! [`BoundedSink`]: the last line of defence between every parser and what it reports. It caps
//! each text a parser hands on — names, suite paths and file paths at [`MAX_NAME_BYTES`],
//! messages, traces, output and skip reasons at the configured
//! [`super::ParseOptions::max_text_bytes`], warnings at [`MAX_WARNING_BYTES`] — with
//! [`super::text::bound_text`] (head and tail kept, a marker says how much was cut), and
//! removes raw control characters and ANSI escapes from all of them
//! ([`super::text::clean_control`]), whichever format or escape brought them in. Durations
//! beyond [`MAX_DURATION_SECS`] are dropped with a warning.
//!
//! Why here and not only in each parser: a text can reach a parser through an attribute or a
//! JSON string as well as through element content, and a hostile report puts 50 MB wherever a
//! parser forgot to bound. One check at the registry's single entry point keeps `cases.jsonl`,
//! the comment and the memory of the kept failures bounded for every format at once. The cost
//! is a length comparison per field: nothing is copied unless it is over the bound.

use super::text::{bound_text, clean_control};
use super::{LazyCase, Outcome, Sink};
use crate::model::{Case, Finding, Position, SuiteError};

/// Longest test name, class name, suite name or file path kept (bytes).
pub const MAX_NAME_BYTES: usize = 2048;
/// Longest warning kept (bytes); warnings quote names from the file.
pub const MAX_WARNING_BYTES: usize = 1024;
/// Longest believable test duration (seconds, about 116 days; no CI job runs that long). A
/// `time="1e23"` would otherwise reach totals and the slowest-tests table as nonsense.
pub const MAX_DURATION_SECS: f64 = 1e7;

/// Forwards to `inner` with every text bounded. See the module docs.
pub struct BoundedSink<'a> {
    inner: &'a mut dyn Sink,
    max_text: usize,
}

impl<'a> BoundedSink<'a> {
    pub fn new(inner: &'a mut dyn Sink, max_text: usize) -> Self {
        BoundedSink { inner, max_text }
    }
}

/// Bounds `s` and removes raw control characters and ANSI escapes (a JSON `\u001b[31m` or
/// `\u0000` decodes to the raw bytes): they would corrupt terminals and break the comment.
pub(crate) fn cap(s: &mut String, max: usize) {
    if s.len() > max {
        *s = bound_text(s, max);
    }
    if has_control(s) {
        *s = clean_control(s);
    }
}

/// Whether `s` holds a control character other than newline and tab. A branch-free byte scan
/// first (it vectorizes; this runs over every name of a million-case report): nearly every
/// text is clean. 0xC2 leads the C1 controls (U+0080..U+009F, e.g. the one-byte CSI U+009B)
/// and a few symbols; those texts take the slower exact path.
fn has_control(s: &str) -> bool {
    let suspect = s.bytes().fold(false, |acc, b| {
        acc | ((b < 0x20) & (b != b'\n') & (b != b'\t')) | (b == 0x7f) | (b == 0xC2)
    });
    suspect && s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// Whether [`cap`] would change `s` (nothing copied).
fn needs_cap(s: &str, max: usize) -> bool {
    s.len() > max || has_control(s)
}

/// A duration no CI job can have (see [`MAX_DURATION_SECS`]).
fn absurd(duration: Option<f64>) -> bool {
    duration.is_some_and(|d| !(0.0..=MAX_DURATION_SECS).contains(&d))
}

fn needs_cap_opt(s: &Option<String>, max: usize) -> bool {
    s.as_deref().is_some_and(|s| needs_cap(s, max))
}

fn cap_opt(s: &mut Option<String>, max: usize) {
    if let Some(s) = s.as_mut() {
        cap(s, max);
    }
}

/// Bounds every text of `case` (not its duration: see [`BoundedSink::case`]).
fn cap_case(case: &mut Case, max_text: usize) {
    cap(&mut case.name, MAX_NAME_BYTES);
    cap_opt(&mut case.classname, MAX_NAME_BYTES);
    cap_opt(&mut case.file, MAX_NAME_BYTES);
    for s in &mut case.suite {
        cap(s, MAX_NAME_BYTES);
    }
    if let Some(f) = case.failure.as_mut() {
        cap_opt(&mut f.kind, MAX_NAME_BYTES);
        cap_opt(&mut f.message, max_text);
        cap_opt(&mut f.trace, max_text);
    }
    cap_opt(&mut case.output, max_text);
    cap_opt(&mut case.skip_reason, max_text);
}

/// A lazily built case whose texts are bounded when (and only when) it is built.
struct BoundedLazy<'a> {
    inner: &'a mut dyn LazyCase,
    max_text: usize,
    capped: bool,
}

impl LazyCase for BoundedLazy<'_> {
    fn case(&mut self) -> &mut Case {
        let bounded = self.inner.bounded();
        let case = self.inner.case();
        if !self.capped {
            // In place: the parser refills every field for its next test.
            if !bounded {
                cap_case(case, self.max_text);
            }
            self.capped = true;
        }
        case
    }
}

impl Sink for BoundedSink<'_> {
    fn case(&mut self, mut case: Case) {
        cap_case(&mut case, self.max_text);
        if let Some(d) = case.duration.filter(|&d| absurd(Some(d))) {
            self.warning(
                None,
                format!(
                    "test {:?}: duration {d:e} s is beyond any CI job; left out",
                    case.name
                ),
            );
            case.duration = None;
        }
        self.inner.case(case);
    }

    /// A borrowed case within every bound goes on borrowed (the parsers refill one `Case`
    /// per passing test so that a million-case file allocates nothing per test); only one
    /// that needs cutting is copied.
    fn case_ref(&mut self, case: &Case) {
        let max = self.max_text;
        let over = needs_cap(&case.name, MAX_NAME_BYTES)
            || needs_cap_opt(&case.classname, MAX_NAME_BYTES)
            || needs_cap_opt(&case.file, MAX_NAME_BYTES)
            || case.suite.iter().any(|s| needs_cap(s, MAX_NAME_BYTES))
            || case.failure.as_ref().is_some_and(|f| {
                needs_cap_opt(&f.kind, MAX_NAME_BYTES)
                    || needs_cap_opt(&f.message, max)
                    || needs_cap_opt(&f.trace, max)
            })
            || needs_cap_opt(&case.output, max)
            || needs_cap_opt(&case.skip_reason, max)
            || absurd(case.duration);
        if over {
            self.case(case.clone());
        } else {
            self.inner.case_ref(case);
        }
    }

    /// Passing cases the sink only counts are never built, so there is nothing to bound;
    /// one that is built is bounded then. An out-of-range duration is known up front: that
    /// case is built and goes the owned way (dropped duration, warning).
    fn case_lazy(&mut self, outcome: Outcome, case: &mut dyn LazyCase) {
        if absurd(outcome.duration) {
            let owned = case.case().clone();
            self.case(owned);
            return;
        }
        let mut bounded = BoundedLazy {
            inner: case,
            max_text: self.max_text,
            capped: false,
        };
        self.inner.case_lazy(outcome, &mut bounded);
    }

    fn finding(&mut self, mut f: Finding) {
        cap(&mut f.tool, MAX_NAME_BYTES);
        cap_opt(&mut f.rule, MAX_NAME_BYTES);
        cap_opt(&mut f.file, MAX_NAME_BYTES);
        cap(&mut f.message, self.max_text);
        self.inner.finding(f);
    }

    fn suite_error(&mut self, mut e: SuiteError) {
        cap(&mut e.suite, MAX_NAME_BYTES);
        cap(&mut e.kind, MAX_NAME_BYTES);
        cap_opt(&mut e.file, MAX_NAME_BYTES);
        cap(&mut e.message, self.max_text);
        cap_opt(&mut e.trace, self.max_text);
        self.inner.suite_error(e);
    }

    fn warning(&mut self, position: Option<Position>, mut message: String) {
        cap(&mut message, MAX_WARNING_BYTES);
        self.inner.warning(position, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Failure, Status};
    use crate::parsers::Collector;

    #[test]
    fn oversized_fields_are_cut_with_a_marker_and_small_ones_kept() {
        let mut c = Collector::keep_all();
        {
            let mut s = BoundedSink::new(&mut c, 1000);
            s.case(Case {
                name: "n".repeat(10_000),
                classname: Some("ok".into()),
                suite: vec!["s".repeat(5000)],
                status: Status::Failed,
                failure: Some(Failure {
                    kind: None,
                    message: Some("m".repeat(3000)),
                    trace: Some("short".into()),
                }),
                output: Some("o".repeat(1001)),
                ..Default::default()
            });
            s.warning(None, "w".repeat(5000));
            s.case(Case {
                name: "nul\u{0} \u{1b}[31mred\u{1b}[0m\u{9b}\u{b0}".into(),
                ..Default::default()
            });
            for d in [1e23, 2.5] {
                s.case(Case {
                    duration: Some(d),
                    ..Default::default()
                });
            }
        }
        let all = c.all.unwrap();
        let k = &all[0];
        assert!(k.name.len() <= MAX_NAME_BYTES && k.name.contains("bytes cut by codeloop"));
        assert!(k.suite[0].len() <= MAX_NAME_BYTES);
        assert_eq!(k.classname.as_deref(), Some("ok"));
        let f = k.failure.as_ref().unwrap();
        assert!(f.message.as_ref().unwrap().len() <= 1000);
        assert_eq!(f.trace.as_deref(), Some("short"));
        assert!(k.output.as_ref().unwrap().len() <= 1000);
        assert!(c.warnings[0].1.len() <= MAX_WARNING_BYTES);
        assert_eq!(all[1].name, "nul red\u{b0}");
        assert_eq!(all[2].duration, None);
        assert_eq!(all[3].duration, Some(2.5));
        assert!(
            c.warnings[1].1.contains("1e23 s is beyond any CI job"),
            "{:?}",
            c.warnings
        );
    }

    /// Records which entry point each case arrived by.
    #[derive(Default)]
    struct ByRef {
        borrowed: Vec<Case>,
        owned: Vec<Case>,
    }
    impl Sink for ByRef {
        fn case(&mut self, case: Case) {
            self.owned.push(case);
        }
        fn case_ref(&mut self, case: &Case) {
            self.borrowed.push(case.clone());
        }
        fn finding(&mut self, _: Finding) {}
        fn suite_error(&mut self, _: SuiteError) {}
        fn warning(&mut self, _: Option<Position>, _: String) {}
    }

    #[test]
    fn borrowed_cases_within_bounds_stay_borrowed_and_others_are_cut() {
        let mut r = ByRef::default();
        {
            let mut s = BoundedSink::new(&mut r, 100);
            let mut case = Case {
                name: "fine".into(),
                duration: Some(1.5),
                ..Default::default()
            };
            s.case_ref(&case);
            case.output = Some("o".repeat(101));
            s.case_ref(&case);
            case.output = None;
            case.name = "esc\u{1b}[0m".into();
            s.case_ref(&case);
            case.name = "late".into();
            case.duration = Some(f64::NAN);
            s.case_ref(&case);
        }
        assert_eq!(r.borrowed.len(), 1);
        assert_eq!(r.borrowed[0].name, "fine");
        assert_eq!(r.owned.len(), 3);
        assert!(r.owned[0].output.as_ref().unwrap().len() <= 100);
        assert_eq!(r.owned[1].name, "esc");
        assert_eq!(r.owned[2].duration, None);
    }

    struct Lazy {
        case: Case,
        built: usize,
    }
    impl LazyCase for Lazy {
        fn case(&mut self) -> &mut Case {
            self.built += 1;
            &mut self.case
        }
    }

    /// Builds every lazy case it gets (as verify's cases.jsonl hook does) or none.
    struct Builds(bool, Vec<Case>);
    impl Sink for Builds {
        fn case(&mut self, case: Case) {
            self.1.push(case);
        }
        fn case_lazy(&mut self, _: Outcome, case: &mut dyn LazyCase) {
            if self.0 {
                self.1.push(case.case().clone());
            }
        }
        fn finding(&mut self, _: Finding) {}
        fn suite_error(&mut self, _: SuiteError) {}
        fn warning(&mut self, _: Option<Position>, _: String) {}
    }

    #[test]
    fn lazy_cases_are_bounded_when_built_and_never_built_for_bounding_alone() {
        for build in [false, true] {
            let mut sink = Builds(build, Vec::new());
            let mut lazy = Lazy {
                case: Case {
                    name: "n".repeat(10_000),
                    duration: Some(0.5),
                    ..Default::default()
                },
                built: 0,
            };
            BoundedSink::new(&mut sink, 100).case_lazy(Outcome::of(&lazy.case), &mut lazy);
            assert_eq!(lazy.built, usize::from(build));
            if build {
                let name = &sink.1[0].name;
                assert!(name.len() <= MAX_NAME_BYTES && name.contains("bytes cut by codeloop"));
            } else {
                assert!(sink.1.is_empty());
            }
        }
        // A duration out of range is known without building: built, dropped, owned path.
        let mut sink = Builds(false, Vec::new());
        let mut lazy = Lazy {
            case: Case {
                name: "slow".into(),
                duration: Some(1e23),
                ..Default::default()
            },
            built: 0,
        };
        BoundedSink::new(&mut sink, 100).case_lazy(Outcome::of(&lazy.case), &mut lazy);
        assert_eq!(sink.1.len(), 1);
        assert_eq!(sink.1[0].duration, None);
    }
}
