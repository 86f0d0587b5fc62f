//! The MCP server end to end: the SDK's client (rmcp) drives the built binary over stdio.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientRequest, ErrorCode, ProgressNotificationParam,
    Request,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RunningService, ServiceError};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::common::bin;

/// The last progress notification seen: (progress, total).
type LastProgress = Arc<std::sync::Mutex<Option<(f64, Option<f64>)>>>;

/// A client that counts progress notifications and remembers the last one.
#[derive(Clone, Default)]
struct Client {
    progress: Arc<AtomicUsize>,
    last: LastProgress,
}

impl ClientHandler for Client {
    async fn on_progress(
        &self,
        p: ProgressNotificationParam,
        _cx: NotificationContext<RoleClient>,
    ) {
        self.progress.fetch_add(1, Ordering::SeqCst);
        *self.last.lock().unwrap() = Some((p.progress, p.total));
    }
}

fn demo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/demo")
}

async fn start(artifacts: &std::path::Path) -> (RunningService<RoleClient, Client>, Client) {
    let mut cmd = tokio::process::Command::new(bin());
    cmd.arg("mcp")
        .arg("--cwd")
        .arg(demo())
        .arg("--artifacts-dir")
        .arg(artifacts)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("CODELOOP_CONFIG")
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        // The demo is its own project (inside this repository it would be examples/demo/...).
        .env("CODELOOP_REPO_ROOT", demo());
    let transport = TokioChildProcess::new(cmd).expect("spawn codeloop mcp");
    let handler = Client::default();
    let client = handler
        .clone()
        .serve(transport)
        .await
        .expect("MCP handshake");
    (client, handler)
}

fn args(v: Value) -> CallToolRequestParams {
    let mut p = CallToolRequestParams::new("");
    p.arguments = v.as_object().cloned();
    p
}

/// A call that failed: a JSON-RPC error, or (how rmcp reports arguments that do not match
/// the schema, so the model can correct itself) a tool result flagged `isError`.
#[derive(Debug)]
struct Failed {
    code: Option<ErrorCode>,
    message: String,
}

async fn call(
    c: &RunningService<RoleClient, Client>,
    name: &'static str,
    a: Value,
) -> Result<Value, Failed> {
    let mut p = args(a);
    p.name = name.into();
    let r: CallToolResult = match c.call_tool(p).await {
        Ok(r) => r,
        Err(ServiceError::McpError(d)) => {
            return Err(Failed {
                code: Some(d.code),
                message: d.message.to_string(),
            });
        }
        Err(other) => panic!("{name}: transport failure {other}"),
    };
    if r.is_error == Some(true) {
        let message = r
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(Failed {
            code: None,
            message,
        });
    }
    Ok(r.structured_content.expect("structured answer"))
}

fn mcp_error(e: Failed) -> Failed {
    assert!(!e.message.is_empty(), "an error without a message: {e:?}");
    e
}

const TOOLS: [&str; 15] = [
    "codeloop_verify",
    "codeloop_diagnose",
    "codeloop_gate_check",
    "codeloop_status",
    "codeloop_run_history",
    "codeloop_get_run",
    "codeloop_list_failures",
    "codeloop_get_failure",
    "codeloop_repair_tasks",
    "codeloop_rerun_failed",
    "codeloop_render_report",
    "codeloop_doctor",
    "codeloop_merge",
    "codeloop_publish",
    "codeloop_init",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_client_drives_verify_diagnose_gate_on_the_demo() {
    let tmp = tempfile::tempdir().unwrap();
    let (client, handler) = start(tmp.path()).await;

    // Every tool is listed with a description that has examples and an object schema.
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for t in TOOLS {
        assert!(names.contains(&t), "{t} missing from {names:?}");
    }
    for t in &tools {
        let d = t.description.as_deref().unwrap_or("");
        assert!(d.contains("Example"), "{}: {d}", t.name);
        assert_eq!(
            t.input_schema.get("type"),
            Some(&json!("object")),
            "{}",
            t.name
        );
    }
    let verify = tools.iter().find(|t| t.name == "codeloop_verify").unwrap();
    let props = verify.input_schema.get("properties").unwrap();
    assert!(props.get("runners").is_some() && props.get("reports").is_some());

    // verify, with a progress token: notifications arrive, the last one says 4 of 4.
    let mut p = args(json!({}));
    p.name = "codeloop_verify".into();
    let handle = client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(p)),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    let resp = handle.await_response().await.unwrap();
    let rmcp::model::ServerResult::CallToolResult(r) = resp else {
        panic!("unexpected response {resp:?}");
    };
    let v = r.structured_content.expect("structured verify answer");
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(v["exit_code"], 1, "{v}");
    let run_id = v["run_id"].as_str().unwrap().to_string();
    let runners: Vec<&str> = v["runners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(runners, ["build", "pytest", "jest", "lint"], "{v}");
    assert!(v["totals"]["failed"].as_u64().unwrap() > 0, "{v}");
    // Notifications are delivered asynchronously: give the last one a moment.
    for _ in 0..50 {
        if handler.last.lock().unwrap().is_some_and(|(d, _)| d == 4.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(handler.progress.load(Ordering::SeqCst) >= 2);
    assert_eq!(*handler.last.lock().unwrap(), Some((4.0, Some(4.0))));

    // diagnose: the pytest failure is located at the real line.
    let d = call(&client, "codeloop_diagnose", json!({"run": run_id}))
        .await
        .unwrap();
    assert_eq!(d["run_id"], run_id.as_str());
    assert!(d["problems"].as_u64().unwrap() >= 2, "{d}");
    let locs: Vec<String> = d["first_problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["location"].as_str().map(str::to_string))
        .collect();
    assert!(
        locs.iter().any(|l| l == "tests/test_mixed.py:19"),
        "{locs:?}"
    );
    assert!(!d["tasks"].as_array().unwrap().is_empty());

    // gate_check: fails, with reasons naming the failing file.
    let g = call(&client, "codeloop_gate_check", json!({"run": "latest"}))
        .await
        .unwrap();
    assert_eq!(g["verdict"], "fail", "{g}");
    assert_eq!(g["exit_code"], 1);
    assert_eq!(g["run_id"], run_id.as_str());
    let reasons = g["reasons"].to_string();
    assert!(reasons.contains("mixed.spec.js"), "{reasons}");
    assert!(
        tmp.path()
            .join("runs")
            .join(&run_id)
            .join("gate.json")
            .is_file()
    );

    // Paging and one failure in full.
    let page = call(&client, "codeloop_list_failures", json!({"limit": 2}))
        .await
        .unwrap();
    assert_eq!(page["failures"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["next_offset"], 2);
    let total = page["total"].as_u64().unwrap();
    let rest = call(
        &client,
        "codeloop_list_failures",
        json!({"offset": 2, "limit": 200}),
    )
    .await
    .unwrap();
    assert_eq!(rest["failures"].as_array().unwrap().len() as u64, total - 2);
    let first = page["failures"][0]["id"].as_str().unwrap().to_string();
    let f = call(&client, "codeloop_get_failure", json!({"id": first}))
        .await
        .unwrap();
    assert!(!f["evidence"].as_str().unwrap_or("").is_empty(), "{f}");
    let pytest = call(
        &client,
        "codeloop_list_failures",
        json!({"runner": "pytest"}),
    )
    .await
    .unwrap();
    assert!(
        pytest["failures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["runner"] == "pytest")
    );

    // Status, history and get_run agree on the run.
    let s = call(&client, "codeloop_status", json!({})).await.unwrap();
    assert_eq!(s["run_id"], run_id.as_str());
    assert_eq!(s["gate"]["verdict"], "fail");
    let h = call(&client, "codeloop_run_history", json!({}))
        .await
        .unwrap();
    assert_eq!(h["runs"][0]["run_id"], run_id.as_str());
    let gr = call(&client, "codeloop_get_run", json!({"run": run_id}))
        .await
        .unwrap();
    assert!(
        gr["manifest"]["files"]
            .as_array()
            .is_some_and(|f| !f.is_empty()),
        "{gr}"
    );

    // Rerun, dry: the commands diagnose computed, nothing run.
    let rr = call(&client, "codeloop_rerun_failed", json!({"dry_run": true}))
        .await
        .unwrap();
    assert_eq!(rr["ran"], false);

    // The HTML report is rendered into the run.
    let rep = call(&client, "codeloop_render_report", json!({}))
        .await
        .unwrap();
    assert!(rep.to_string().contains("index.html"), "{rep}");
    let html = std::fs::read_to_string(
        tmp.path()
            .join("runs")
            .join(&run_id)
            .join("report/index.html"),
    )
    .unwrap();
    assert!(html.contains("id=\"verdict\">FAIL<"));

    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_bad_arguments_unknown_runs_and_outside_paths_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (client, _) = start(tmp.path()).await;

    // No runs yet.
    let e = mcp_error(
        call(&client, "codeloop_status", json!({}))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, Some(ErrorCode::RESOURCE_NOT_FOUND), "{e:?}");
    assert!(e.message.contains("codeloop_verify"), "{}", e.message);

    // Arguments that do not match the schema.
    let e = mcp_error(
        call(&client, "codeloop_gate_check", json!({"min_score": "high"}))
            .await
            .unwrap_err(),
    );
    assert!(
        e.message.contains("invalid type: string \"high\""),
        "{}",
        e.message
    );
    let e = mcp_error(
        call(&client, "codeloop_list_failures", json!({"colour": "red"}))
            .await
            .unwrap_err(),
    );
    assert!(
        e.message.contains("unknown field `colour`"),
        "{}",
        e.message
    );
    let e = mcp_error(
        call(&client, "codeloop_get_failure", json!({}))
            .await
            .unwrap_err(),
    );
    assert!(e.message.contains("missing field `id`"), "{}", e.message);

    // A run id that does not exist, and paths posing as run ids.
    let e = mcp_error(
        call(
            &client,
            "codeloop_get_run",
            json!({"run": "20990101T000000Z-dead"}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, Some(ErrorCode::RESOURCE_NOT_FOUND));
    assert!(e.message.contains("20990101T000000Z-dead"), "{}", e.message);
    for bad in ["../../etc", "/etc", "runs/../x"] {
        let e = mcp_error(
            call(&client, "codeloop_diagnose", json!({"run": bad}))
                .await
                .unwrap_err(),
        );
        assert_eq!(e.code, Some(ErrorCode::INVALID_PARAMS));
        assert!(
            e.message.contains("is not a run id"),
            "{bad}: {}",
            e.message
        );
    }

    // Report globs outside the workspace are refused before anything runs.
    let e = mcp_error(
        call(
            &client,
            "codeloop_verify",
            json!({"reports": ["../../../etc/*"]}),
        )
        .await
        .unwrap_err(),
    );
    assert!(e.message.contains("inside the workspace"), "{}", e.message);
    let e = mcp_error(
        call(&client, "codeloop_verify", json!({"runners": ["nope"]}))
            .await
            .unwrap_err(),
    );
    assert!(e.message.contains("nope"), "{}", e.message);
    assert!(
        !tmp.path().join("runs").exists()
            || std::fs::read_dir(tmp.path().join("runs")).unwrap().count() == 0
    );

    client.cancel().await.unwrap();
}

/// A server on a temp project (not the demo: `codeloop_init` writes into it).
async fn start_in(
    cwd: &std::path::Path,
    artifacts: &std::path::Path,
    env: &[(&str, &str)],
) -> RunningService<RoleClient, Client> {
    let mut cmd = tokio::process::Command::new(bin());
    cmd.arg("mcp")
        .arg("--cwd")
        .arg(cwd)
        .arg("--artifacts-dir")
        .arg(artifacts)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("CODELOOP_CONFIG")
        .env_remove("CODELOOP_ARTIFACTS_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let transport = TokioChildProcess::new(cmd).expect("spawn codeloop mcp");
    Client::default()
        .serve(transport)
        .await
        .expect("MCP handshake")
}

fn log_lines(p: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_allow_list_call_log_and_the_merge_publish_init_tools() {
    let proj = tempfile::tempdir().unwrap();
    let art = tempfile::tempdir().unwrap();
    let p = proj.path();
    std::fs::create_dir_all(p.join(".codeloop")).unwrap();
    // JSONC, and an allow-list without codeloop_doctor (short and long names both work).
    std::fs::write(
        p.join(".codeloop/config.json"),
        r#"{
  // agents may verify, gate and publish (dry run), but not run doctor
  "mcp": {"tools": ["verify", "diagnose", "codeloop_gate_check", "get_failure",
                    "merge", "publish", "init",]},
}"#,
    )
    .unwrap();
    std::fs::write(
        p.join("junit.xml"),
        r#"<testsuite name="s" tests="2" failures="1"><testcase classname="m" name="ok"/><testcase classname="m" name="bad"><failure message="boom">m.py:3</failure></testcase></testsuite>"#,
    )
    .unwrap();
    // A second shard with other tests.
    std::fs::write(
        p.join("junit2.xml"),
        r#"<testsuite name="s2" tests="2"><testcase classname="n" name="a"/><testcase classname="n" name="b"/></testsuite>"#,
    )
    .unwrap();
    let secret = "s3cr3t-value-for-the-log-9f1e";
    let client = start_in(p, art.path(), &[("MY_API_TOKEN", secret)]).await;

    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for t in [
        "codeloop_merge",
        "codeloop_publish",
        "codeloop_init",
        "codeloop_verify",
    ] {
        assert!(names.contains(&t), "{t} missing from {names:?}");
    }
    assert!(!names.contains(&"codeloop_doctor"), "{names:?}");
    assert!(!names.contains(&"codeloop_run_history"), "{names:?}");
    let refused = call(&client, "codeloop_doctor", json!({}))
        .await
        .unwrap_err();
    assert!(refused.message.contains("mcp.tools"), "{refused:?}");

    // Two runs, then merged into a third, diagnosed and gated.
    let mut runs = Vec::new();
    for f in ["junit.xml", "junit2.xml"] {
        let v = call(&client, "codeloop_verify", json!({"reports": [f]}))
            .await
            .unwrap();
        runs.push(v["run_id"].as_str().unwrap().to_string());
    }
    let m = call(&client, "codeloop_merge", json!({"runs": runs}))
        .await
        .unwrap();
    let merged = m["run_id"].as_str().unwrap().to_string();
    assert!(!runs.contains(&merged));
    assert_eq!(m["verdict"], "fail", "{m}");
    assert_eq!(m["exit_code"], 1);
    assert_eq!(m["totals"]["tests"], 4, "{m}");
    let escape = call(&client, "codeloop_merge", json!({"runs": ["../elsewhere"]}))
        .await
        .unwrap_err();
    assert!(escape.message.contains("workspace"), "{escape:?}");

    // publish is a dry run: the comment it would post, and nothing posted.
    let pb = call(&client, "codeloop_publish", json!({"run": merged}))
        .await
        .unwrap();
    assert_eq!(pb["dry_run"], true);
    assert_eq!(pb["posted"], false);
    assert_eq!(pb["verdict"], "fail");
    assert!(!pb["comment"].as_str().unwrap().is_empty(), "{pb}");

    // init writes what is missing and keeps the user's config.json.
    let before = std::fs::read_to_string(p.join(".codeloop/config.json")).unwrap();
    let i = call(&client, "codeloop_init", json!({})).await.unwrap();
    assert_eq!(i["kept"], json!([".codeloop/config.json"]), "{i}");
    assert!(
        i["written"]
            .as_array()
            .unwrap()
            .contains(&json!(".codeloop/plugins.json")),
        "{i}"
    );
    assert_eq!(
        std::fs::read_to_string(p.join(".codeloop/config.json")).unwrap(),
        before
    );

    // A failing call whose argument is a secret value: logged redacted.
    let e = call(
        &client,
        "codeloop_get_failure",
        json!({"run": runs[0], "id": secret}),
    )
    .await
    .unwrap_err();
    assert!(!e.message.is_empty());
    client.cancel().await.unwrap();

    // The call log: per run, and in the artifacts directory for calls about no run.
    let run_log = log_lines(&art.path().join("runs").join(&runs[0]).join("mcp.jsonl"));
    let verify = &run_log[0];
    assert_eq!(verify["tool"], "codeloop_verify");
    assert_eq!(verify["outcome"], "ok");
    assert_eq!(verify["arguments"]["reports"], json!(["junit.xml"]));
    assert!(
        verify["duration_ms"].is_u64() && verify["ts"].is_string(),
        "{verify}"
    );
    let failed = run_log
        .iter()
        .find(|l| l["tool"] == "codeloop_get_failure")
        .unwrap();
    assert_eq!(failed["outcome"], "error");
    assert!(failed["error"].is_string(), "{failed}");
    let merged_log = log_lines(&art.path().join("runs").join(&merged).join("mcp.jsonl"));
    let tools_logged: Vec<&str> = merged_log
        .iter()
        .map(|l| l["tool"].as_str().unwrap())
        .collect();
    assert_eq!(tools_logged, ["codeloop_merge", "codeloop_publish"]);
    let top = log_lines(&art.path().join("mcp.jsonl"));
    let doctor = top.iter().find(|l| l["tool"] == "codeloop_doctor").unwrap();
    assert_eq!(doctor["outcome"], "refused");
    assert!(
        top.iter()
            .any(|l| l["tool"] == "codeloop_init" && l["outcome"] == "ok")
    );
    assert!(
        top.iter()
            .any(|l| l["tool"] == "codeloop_merge" && l["outcome"] == "error")
    );
    // No file anywhere holds the secret.
    for e in walkdir::WalkDir::new(art.path()) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let s = String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned();
            assert!(
                !s.contains(secret),
                "{} holds the secret",
                e.path().display()
            );
        }
    }
}
