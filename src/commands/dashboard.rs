//! `codeloop dashboard`: serves the run directories read-only over HTTP on localhost (axum).
//! `/` lists the runs, `/runs/<id>/` is the run's dashboard page (rendered on each request,
//! refreshing itself while the run is still being written), `/runs/<id>/<file>` serves a file
//! of the run. Nothing outside `<artifacts>/runs/` is ever read: run ids are plain names,
//! file paths may only hold plain segments, and the resolved path must stay under the run
//! directory after symlinks are followed. Anything else is a 404.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::artifact::{self, RunDir};
use crate::cli::DashboardArgs;
use crate::exit;
use crate::mcp::valid_run_id;
use crate::pipeline::report::html_page;
use crate::pipeline::verify::resolve_settings;
use crate::report::html::esc;

#[derive(Clone)]
struct App {
    artifacts: Arc<PathBuf>,
}

/// The router over `artifacts` (public for the traversal test).
pub fn router(artifacts: PathBuf) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/runs/{id}", get(run_page))
        .route("/runs/{id}/", get(run_page))
        .route("/runs/{id}/{*file}", get(run_file))
        .fallback(|| async { not_found() })
        .with_state(App {
            artifacts: Arc::new(artifacts),
        })
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "not found: the dashboard serves only run directories\n",
    )
        .into_response()
}

async fn index(State(app): State<App>) -> Response {
    let runs = artifact::list_runs(&app.artifacts);
    let mut o = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>codeloop runs</title>\
         <meta http-equiv=\"refresh\" content=\"5\"><style>body{font:14px system-ui,sans-serif;margin:24px}\
         td,th{padding:2px 10px;text-align:left}</style></head><body><h1>codeloop runs</h1>",
    );
    if runs.is_empty() {
        o.push_str("<p>No runs yet: run <code>codeloop verify</code>.</p>");
    } else {
        o.push_str("<table><tr><th>run</th><th>status</th><th>score</th></tr>");
        for r in runs.iter().rev() {
            let status = if !r.is_complete() {
                "in progress".to_string()
            } else {
                r.verify()
                    .ok()
                    .and_then(|v| serde_json::to_value(v.status).ok())
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "unreadable".into())
            };
            let score = r
                .gate()
                .ok()
                .map(|g| format!("{} ({})", g.score, g.verdict.as_str()));
            o.push_str(&format!(
                "<tr><td><a href=\"/runs/{0}/\">{0}</a></td><td>{1}</td><td>{2}</td></tr>",
                esc(&r.id),
                esc(&status),
                esc(score.as_deref().unwrap_or("-"))
            ));
        }
        o.push_str("</table>");
    }
    o.push_str("</body></html>");
    Html(o).into_response()
}

fn open_run(app: &App, id: &str) -> Option<RunDir> {
    if !valid_run_id(id) {
        return None;
    }
    let path = artifact::runs_root(&app.artifacts).join(id);
    path.is_dir().then(|| RunDir {
        path,
        id: id.to_string(),
    })
}

async fn run_page(State(app): State<App>, UrlPath(id): UrlPath<String>) -> Response {
    let Some(run) = open_run(&app, &id) else {
        return not_found();
    };
    let others: Vec<String> = artifact::list_runs(&app.artifacts)
        .into_iter()
        .rev()
        .filter(|r| r.id != run.id)
        .take(20)
        .map(|r| r.id)
        .collect();
    let live = !run.is_complete();
    if !run.file(artifact::VERIFY).is_file() {
        // Still running: verify.json comes at the end. Show progress from the event log.
        let events = std::fs::read_to_string(run.file(artifact::EVENTS)).unwrap_or_default();
        let started = events
            .lines()
            .filter(|l| l.contains("\"runner.started\""))
            .count();
        let finished = events
            .lines()
            .filter(|l| l.contains("\"runner.finished\""))
            .count();
        return Html(format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"2\">\
             <title>codeloop run {0}</title></head><body><h1>run {0}</h1><p id=\"progress\">in progress: \
             {finished} of {started} started runners finished</p><p><a href=\"/\">all runs</a></p></body></html>",
            esc(&run.id)
        ))
        .into_response();
    }
    match html_page(&app.artifacts, &run, live, &others) {
        Ok(page) => Html(page).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot render run {}: {e}\n", run.id),
        )
            .into_response(),
    }
}

/// `rel` as a path of plain segments (no `..`, no root, no hidden names), or `None`.
pub fn plain_relative(rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) if !s.to_string_lossy().starts_with('.') => out.push(s),
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

async fn run_file(
    State(app): State<App>,
    UrlPath((id, file)): UrlPath<(String, String)>,
) -> Response {
    let Some(run) = open_run(&app, &id) else {
        return not_found();
    };
    let Some(rel) = plain_relative(&file) else {
        return not_found();
    };
    // Symlinks inside a run could point anywhere: the real path must stay in the run.
    let (Ok(root), Ok(real)) = (
        std::fs::canonicalize(&run.path),
        std::fs::canonicalize(run.path.join(&rel)),
    ) else {
        return not_found();
    };
    if !real.starts_with(&root) || !real.is_file() {
        return not_found();
    }
    let mime = match real.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("json") | Some("sarif") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("xml") => "application/xml",
        _ => "text/plain; charset=utf-8",
    };
    match tokio::fs::read(&real).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, mime),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => not_found(),
    }
}

pub fn run(args: DashboardArgs) -> i32 {
    let r = match resolve_settings(&(&args.common).into()) {
        Ok(r) => r,
        Err(f) => {
            f.print();
            return f.code;
        }
    };
    let addr: SocketAddr = match format!("{}:{}", args.bind, args.port).parse() {
        Ok(a) => a,
        Err(e) => {
            crate::errln!("error: --bind `{}` is not an IP address: {e}", args.bind);
            crate::errln!("hint: use 127.0.0.1 (the default) or ::1");
            return exit::USAGE;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            crate::errln!("error: cannot start the async runtime: {e}");
            return exit::INFRA;
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                crate::errln!("error: cannot listen on {addr}: {e}");
                crate::errln!("hint: pick another --port");
                return exit::INFRA;
            }
        };
        crate::errln!(
            "codeloop dashboard: http://{addr}/ (runs in `{}`; Ctrl-C stops)",
            artifact::runs_root(&r.artifacts_dir).display()
        );
        let app = router(r.artifacts_dir.clone());
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        match axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            Ok(()) => exit::OK,
            Err(e) => {
                crate::errln!("error: the dashboard server stopped: {e}");
                exit::INFRA
            }
        }
    })
}
