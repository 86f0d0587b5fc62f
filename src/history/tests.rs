use super::*;

fn obs(key: &str, status: Status, secs: f64) -> Observation {
    Observation {
        key: key.into(),
        status,
        flaky: false,
        duration: Some(secs),
    }
}

fn run(id: &str, sha: &str) -> RunEntry {
    RunEntry {
        run_id: id.into(),
        sha: Some(sha.into()),
        ..Default::default()
    }
}

/// Builds a history from rows of (key, statuses string, seconds) over `n` runs.
fn build(rows: &[(&str, &str, f64)], max_runs: usize) -> HistoryDoc<'static> {
    let n = rows[0].1.len();
    let mut doc: Option<HistoryDoc<'static>> = None;
    for i in 0..n {
        let cases: Vec<Observation> = rows
            .iter()
            .filter_map(|(k, s, d)| {
                let st = match s.as_bytes()[i] {
                    b'P' => Status::Passed,
                    b'F' => Status::Failed,
                    b'E' => Status::Errored,
                    b'S' => Status::Skipped,
                    _ => return None,
                };
                Some(obs(k, st, *d))
            })
            .collect();
        doc = Some(append(
            doc.as_ref(),
            "main",
            max_runs,
            run(&format!("r{i:02}"), &format!("{i:040x}")),
            cases,
        ));
    }
    doc.unwrap()
}

#[test]
fn rle_round_trips_and_rejects_junk() {
    let mut b = Vec::new();
    for s in ["", "P", "PPPF", "P-P--KEEES"] {
        let e = rle_encode(s.as_bytes());
        rle_decode(&e, &mut b).unwrap();
        assert_eq!(b, s.as_bytes(), "{e}");
    }
    assert_eq!(rle_encode(&[b'P'; 50]), "P50");
    assert!(rle_decode("X3", &mut b).is_none());
    assert!(rle_decode("P0", &mut b).is_none());
    assert!(rle_decode("P999999999999", &mut b).is_none());
    assert_eq!(last_status("P48F2"), Some(b'F'));
    assert_eq!(last_status("P-"), Some(b'-'));
    assert_eq!(last_status(""), None);
}

#[test]
fn durations_quantize_within_13_percent() {
    for secs in [0.0005, 0.01, 0.2, 1.5, 42.0, 600.0] {
        let ms = duration_ms(duration_code(secs)).unwrap();
        let want = secs * 1000.0;
        assert!(
            ((ms + 1.0) / (want + 1.0) - 1.0).abs() < 0.13,
            "{secs}s -> {ms}ms"
        );
    }
    assert_eq!(median_ms("AB", 3), None);
    let m = median_ms(
        &[1.0, 1.0, 9.0]
            .map(|s| duration_code(s) as char)
            .iter()
            .collect::<String>(),
        3,
    )
    .unwrap();
    assert!((880.0..1130.0).contains(&m), "{m}");
}

#[test]
fn append_aligns_new_and_missing_tests_and_keeps_max_runs() {
    let d = build(
        &[
            ("a", "PPPPP", 0.1),
            ("b", "--FFP", 0.2),
            ("c", "PP---", 0.3),
        ],
        3,
    );
    assert_eq!(d.runs.len(), 3);
    assert_eq!(d.runs[0].run_id, "r02");
    let rows: Vec<(&str, &str)> = d.tests.iter().map(|r| (&*r.0, &*r.1)).collect();
    // `c` was absent from the 3 runs kept: dropped.
    assert_eq!(rows, [("a", "P3"), ("b", "F2P")]);
    // Durations only from passing runs, capped at the window.
    assert_eq!(d.tests[0].2.len(), 5);
    assert_eq!(d.tests[1].2.len(), 1);
    // Encoded, decoded: the same document.
    let bytes = encode(&d);
    let json = gunzip(&bytes).unwrap();
    assert_eq!(parse(&json).unwrap(), d);
}

#[test]
fn a_duplicate_test_in_one_run_keeps_the_worst_status() {
    let d = append(
        None,
        "main",
        5,
        run("r1", "s1"),
        vec![obs("t", Status::Passed, 0.1), obs("t", Status::Failed, 0.1)],
    );
    assert_eq!(&*d.tests[0].1, "F");
}

#[test]
fn newer_schema_and_junk_are_named() {
    let mut d = HistoryDoc::empty("main", 5);
    d.schema_version = SCHEMA_VERSION + 1;
    let json = gunzip(&encode(&d)).unwrap();
    assert_eq!(
        parse(&json).unwrap_err(),
        HistoryFormatError::NewerSchema {
            found: SCHEMA_VERSION + 1
        }
    );
    let other = br#"{"schema_version": 7, "totally": "different"}"#;
    assert_eq!(
        parse(other).unwrap_err(),
        HistoryFormatError::NewerSchema { found: 7 }
    );
    assert!(matches!(
        parse(b"{\"schema_version\": 1}").unwrap_err(),
        HistoryFormatError::Json(_)
    ));
    assert!(matches!(
        gunzip(b"not gzip").unwrap_err(),
        HistoryFormatError::Gzip(_)
    ));
}

#[test]
fn flips_count_changes_retries_and_same_commit() {
    let none: Vec<Option<&str>> = vec![None; 8];
    let f = flips(b"PPFPP-FP", &none);
    assert_eq!((f.flips, f.observed), (4, 7));
    assert!((f.rate() - 4.0 / 6.0).abs() < 1e-9);
    let t = Thresholds::default();
    assert!(f.is_flaky(&t));
    // A break and its fix: two flips, not flaky.
    assert!(!flips(b"PPFFPP", &none).is_flaky(&t));
    assert!(flips(b"PPKP", &none).is_flaky(&t));
    let shas = [Some("x"), Some("y"), Some("y")];
    let f = flips(b"PPF", &shas);
    assert!(f.same_commit && f.is_flaky(&t));
}

#[test]
fn insights_separate_new_from_already_failing_and_find_flaky_and_slow() {
    let d = build(
        &[
            ("stable", "PPPPPPPP", 0.2),
            ("broken", "PPPPPPFF", 0.1),
            ("flaky", "PFPPFPFP", 0.1),
            ("slow", "PPPPPPPP", 1.0),
        ],
        50,
    );
    let idx = Index::new(&d);
    let base = idx.baseline().unwrap();
    assert_eq!(base.failing.iter().collect::<Vec<_>>(), ["broken"]);
    let now = vec![
        obs("stable", Status::Failed, 0.2),
        obs("broken", Status::Failed, 0.1),
        obs("flaky", Status::Failed, 0.1),
        obs("slow", Status::Passed, 3.0),
        obs("brand-new", Status::Passed, 9.0),
    ];
    let t = Thresholds::default();
    let i = insights(&idx, now.clone(), &t, false);
    assert_eq!(i.new_failures, ["flaky", "stable"]);
    assert_eq!(i.already_failing, ["broken"]);
    assert_eq!(i.flaky.len(), 1);
    assert_eq!(i.flaky[0].id, "flaky");
    assert_eq!(i.flaky[0].flips, 6);
    assert!(i.flaky[0].failing_now && !i.flaky[0].quarantined);
    assert!(i.quarantined.is_empty());
    assert_eq!(i.slower.len(), 1, "{:?}", i.slower);
    assert_eq!(i.slower[0].id, "slow");
    assert!(i.slower[0].ratio > 2.5, "{:?}", i.slower[0]);
    let q = insights(&idx, now, &t, true);
    assert_eq!(q.quarantined, ["flaky"]);
    assert!(q.flaky[0].quarantined);
}

#[test]
fn a_slower_test_needs_both_the_factor_and_the_absolute_margin() {
    let d = build(&[("fast", "PPPP", 0.010), ("mid", "PPPP", 1.0)], 50);
    let idx = Index::new(&d);
    let t = Thresholds::default();
    // 10 ms -> 100 ms is 10x but only +90 ms: not listed.
    assert!(idx.slower("fast", 0.1, &t).is_none());
    assert!(idx.slower("mid", 1.6, &t).is_none());
    assert!(idx.slower("mid", 2.6, &t).is_some());
    assert!(idx.slower("unknown", 100.0, &t).is_none());
}

#[test]
fn the_cap_drops_the_oldest_runs() {
    let rows: Vec<(String, String)> = (0..300)
        .map(|i| {
            (
                format!("suite{}::case_{i}", i % 7),
                (0..20)
                    .map(|r| if (i * 7 + r * 13) % 5 == 0 { 'F' } else { 'P' })
                    .collect(),
            )
        })
        .collect();
    let refs: Vec<(&str, &str, f64)> = rows
        .iter()
        .map(|(k, s)| (k.as_str(), s.as_str(), 0.1))
        .collect();
    let d = build(&refs, 50);
    let full = encode(&d).len();
    let one = encode(&trim_runs(&d, 1)).len();
    assert!(one < full, "{one} {full}");
    let cap = (one + full) / 2;
    let (bytes, dropped) = encode_capped(&d, cap).unwrap();
    assert!(bytes.len() <= cap && dropped > 0);
    let json = gunzip(&bytes).unwrap();
    let back = parse(&json).unwrap();
    assert_eq!(back.runs.len(), 20 - dropped);
    assert_eq!(back.runs.last(), d.runs.last());
    assert!(encode_capped(&d, one - 1).is_none());
}

#[test]
fn section_escapes_ids_and_keeps_the_state_line_last() {
    let i = Insights {
        base_branch: "main".into(),
        history_runs: 3,
        new_failures: vec!["@team <img src=x> | pipe".into()],
        new_failures_total: 3,
        ..Default::default()
    };
    let s = render::section(&i, 10);
    assert!(s.contains("**New in this PR** (3)"), "{s}");
    assert!(!s.contains("<img") && !s.contains("@team"), "{s}");
    assert!(s.contains("and 2 more"), "{s}");
    let c = format!(
        "{}\nbody\n\n{}abc -->\n",
        crate::report::state::MARKER,
        crate::report::state::STATE_PREFIX
    );
    let out = render::insert_into_comment(&c, &s);
    assert!(
        out.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with(crate::report::state::STATE_PREFIX)
    );
    assert!(out.contains("New in this PR"));
}

#[test]
fn badge_urls() {
    assert_eq!(
        readme_badge_line("https://github.com", "octo/app", "codeloop-data", None),
        "[![codeloop](https://raw.githubusercontent.com/octo/app/codeloop-data/badge.svg)](https://github.com/octo/app/actions)"
    );
    assert_eq!(
        raw_url("https://ghe.example.com/", "o/r", "d", "badge.svg"),
        "https://ghe.example.com/o/r/raw/d/badge.svg"
    );
}

#[test]
fn version_2_front_codes_ids_and_round_trips_odd_ones() {
    let ids = [
        "a",
        "a\"b\\c",
        "ab:3:x;y,z",
        "é::ü",
        "é::ü;1",
        "éa",
        "éé\nnew line",
        "ü",
    ];
    let rows: Vec<(&str, &str, f64)> = ids.iter().map(|k| (*k, "PPF", 0.25)).collect();
    let d = build(&rows, 50);
    assert_eq!(d.tests.len(), ids.len());
    let json = gunzip(&encode(&d)).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["schema_version"], 2);
    let front = v["ids"].as_str().unwrap();
    assert!(front.starts_with("0:1:a;1:"), "{front}");
    assert!(front.contains(";2:1:a;"), "{front}");
    // `é` and `ü` share their first byte, never half a character.
    assert!(front.ends_with(";0:2:ü;"), "{front}");
    assert_eq!(v["statuses"], "P2F,P2F,P2F,P2F,P2F,P2F,P2F,P2F");
    let back = parse(&json).unwrap();
    assert_eq!(back, d);
    // Statuses and durations are borrowed from the JSON.
    assert!(matches!(back.tests[0].1, Cow::Borrowed(_)));
    // An empty history.
    let e = HistoryDoc::empty("main", 5);
    let json = gunzip(&encode(&e)).unwrap();
    assert_eq!(parse(&json).unwrap(), e);
}

#[test]
fn version_1_files_are_still_read() {
    let v1 = br#"{"schema_version":1,"branch":"main","max_runs":50,
        "runs":[{"run_id":"r1","sha":"a"},{"run_id":"r2","sha":"b"}],
        "tests":[["t::a","P2","AB"],["t::b","PF",""]]}"#;
    let d = parse(v1).unwrap();
    assert_eq!(d.schema_version, 1);
    assert_eq!(d.tests.len(), 2);
    assert_eq!((&*d.tests[1].0, &*d.tests[1].1), ("t::b", "PF"));
    let idx = Index::new(&d);
    assert_eq!(idx.failing().into_iter().collect::<Vec<_>>(), ["t::b"]);
    // Written back, it is version 2 and the same history.
    let back_json = gunzip(&encode(&d)).unwrap();
    let back = parse(&back_json).unwrap();
    assert_eq!(back.schema_version, SCHEMA_VERSION);
    assert_eq!(back.tests, d.tests);
    // A version-2 file without its columns, a version-1 file without rows: named errors.
    for bad in [
        &br#"{"schema_version":2,"branch":"m","max_runs":5,"runs":[],"tests":[]}"#[..],
        br#"{"schema_version":1,"branch":"m","max_runs":5,"runs":[],"ids":""}"#,
    ] {
        assert!(matches!(
            parse(bad).unwrap_err(),
            HistoryFormatError::Json(_)
        ));
    }
}

#[test]
fn version_2_columns_that_disagree_are_refused() {
    let doc = |ids: &str, st: &str, du: &str| {
        format!(
            r#"{{"schema_version":2,"branch":"m","max_runs":5,"runs":[{{"run_id":"r"}}],"ids":{},"statuses":{},"durations":{}}}"#,
            serde_json::to_string(ids).unwrap(),
            serde_json::to_string(st).unwrap(),
            serde_json::to_string(du).unwrap()
        )
    };
    let ok = doc("0:3:t::;3:1:a;", "P,F", "A,");
    let d = parse(ok.as_bytes()).unwrap();
    assert_eq!(d.tests[1].0, "t::a");
    for (ids, st, du) in [
        ("0:3:t::;3:1:a;", "P", "A,"),
        ("0:3:t::;3:1:a;", "P,F,P", "A,,"),
        ("0:3:t::;9:1:a;", "P,F", "A,"),
        ("0:4:t::;", "P", "A"),
        ("0:3:t::", "P", "A"),
        ("x:3:t::;", "P", "A"),
        ("0:3:t::;", "", ""),
        ("", "P", ""),
    ] {
        let j = doc(ids, st, du);
        assert!(
            matches!(parse(j.as_bytes()), Err(HistoryFormatError::Json(_))),
            "{j}"
        );
    }
}
