//! Webhooks (`codeloop notify`, and the `ci`/`action` step after the gate): POSTs the gate
//! result to each configured URL. This module owns delivery: the signature, the delivery id,
//! retries with backoff inside a time budget, and what a failure looks like (a warning for
//! the caller to print — a webhook never decides the build). The bodies are built by the
//! pure [`payload`] module.
//!
//! Signing (when a secret is set): `X-Codeloop-Signature: t=<unix seconds>,v1=<hex>` where
//! `v1` is HMAC-SHA256 over `"{t}.{body}"` with the secret, like Stripe's scheme, so a
//! receiver can refuse stale timestamps (replays). `X-Codeloop-Delivery` is a random UUID v4
//! that stays the same across the retries of one delivery, for idempotent receivers.
//!
//! URLs are secrets in practice (a Slack webhook URL is its own credential): messages name
//! only `scheme://host`, never the path or query.

pub mod payload;

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The body format of one webhook.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// codeloop's JSON payload (docs/webhooks.md).
    #[default]
    Json,
    /// A Slack incoming-webhook message (`text` + one mrkdwn block).
    Slack,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "json" => Ok(Format::Json),
            "slack" => Ok(Format::Slack),
            other => Err(format!(
                "unknown webhook format `{other}` (use json or slack)"
            )),
        }
    }
}

/// One endpoint to deliver to.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub url: String,
    pub format: Format,
    /// HMAC key; `None` sends unsigned.
    pub secret: Option<String>,
}

/// Retry policy: at most `retries` more attempts after the first, all within `budget`.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub budget: Duration,
    pub retries: u32,
    /// First backoff; doubled after every attempt.
    pub backoff: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            budget: Duration::from_secs(8),
            retries: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

/// What happened to one delivery.
#[derive(Serialize, Clone, Debug)]
pub struct Outcome {
    /// `scheme://host[:port]`: never the path or query (they often hold the credential).
    pub target: String,
    pub format: Format,
    pub delivery_id: String,
    pub attempts: u32,
    pub delivered: bool,
    /// The last HTTP status, when there was a response.
    pub status: Option<u16>,
    /// Why it failed (after the last attempt), for the warning.
    pub error: Option<String>,
    pub signed: bool,
}

/// Setting up the HTTP client failed (TLS roots, ...): nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot set up the webhook HTTP client: {0}")]
    Setup(String),
    #[error("invalid webhook URL {url}: {message}")]
    Url { url: String, message: String },
}

/// Whether a variable holds webhook URLs by its name (`*WEBHOOK*URL`/`URLS`): their values
/// are masked like secrets.
pub fn url_var(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n.contains("WEBHOOK") && (n.ends_with("URL") || n.ends_with("URLS"))
}

/// `scheme://host[:port]` of a URL, for messages (the rest may be a credential).
pub fn display_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
            (Some(h), None) => format!("{}://{h}", u.scheme()),
            _ => format!("{}://", u.scheme()),
        },
        Err(_) => "<invalid URL>".into(),
    }
}

/// Checks a URL before anything is sent: http(s) with a host.
pub fn check_url(url: &str) -> Result<(), NotifyError> {
    let bad = |message: &str| NotifyError::Url {
        url: display_url(url),
        message: message.into(),
    };
    let u = reqwest::Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad("only http:// and https:// URLs are supported"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    Ok(())
}

/// The `X-Codeloop-Signature` value for `body` signed at `timestamp` (unix seconds).
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// A random UUID v4, the delivery id.
pub fn delivery_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn client() -> Result<reqwest::Client, NotifyError> {
    let tls = crate::publish::gitlab::tls().map_err(NotifyError::Setup)?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        // A redirect would resend the signed body to a host nobody configured.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("codeloop/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| NotifyError::Setup(e.to_string()))
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Delivers each body to its target, concurrently (so the budgets run side by side, not
/// one after another); outcomes in the order of `targets`.
pub async fn deliver_all(
    targets: Vec<(Target, Vec<u8>)>,
    policy: Policy,
) -> Result<Vec<Outcome>, NotifyError> {
    let http = client()?;
    let handles: Vec<_> = targets
        .into_iter()
        .map(|(t, body)| {
            let http = http.clone();
            tokio::spawn(async move { deliver(&http, &t, &body, policy).await })
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(o) = h.await {
            out.push(o);
        }
    }
    Ok(out)
}

/// One delivery: attempts until a 2xx, a non-retryable answer, or the budget runs out.
/// Retried: connection errors, timeouts, 408, 429 and 5xx. Not retried: other 4xx (the
/// receiver refused the request; sending it again would not help) and 3xx.
pub async fn deliver(http: &reqwest::Client, t: &Target, body: &[u8], policy: Policy) -> Outcome {
    let start = Instant::now();
    let mut o = Outcome {
        target: display_url(&t.url),
        format: t.format,
        delivery_id: delivery_id(),
        attempts: 0,
        delivered: false,
        status: None,
        error: None,
        signed: t.secret.is_some(),
    };
    let mut backoff = policy.backoff;
    loop {
        let left = policy.budget.saturating_sub(start.elapsed());
        if left.is_zero() {
            o.error
                .get_or_insert_with(|| "the time budget ran out".into());
            break;
        }
        o.attempts += 1;
        // Half the budget at most per attempt, so a receiver that hangs once still leaves
        // time for a retry.
        let attempt = (policy.budget / 2)
            .max(Duration::from_millis(500))
            .min(left);
        let mut req = http
            .post(t.url.trim())
            .timeout(attempt)
            .header("Content-Type", "application/json")
            .header("X-Codeloop-Event", payload::EVENT)
            .header("X-Codeloop-Delivery", &o.delivery_id)
            .body(body.to_vec());
        if let Some(secret) = &t.secret {
            // Signed per attempt: the timestamp says when this attempt was sent.
            req = req.header("X-Codeloop-Signature", signature(secret, now_unix(), body));
        }
        let retry = match req.send().await {
            Ok(resp) => {
                let s = resp.status();
                o.status = Some(s.as_u16());
                if s.is_success() {
                    o.delivered = true;
                    o.error = None;
                    break;
                }
                o.error = Some(format!("HTTP {}", s.as_u16()));
                s.is_server_error() || s.as_u16() == 429 || s.as_u16() == 408
            }
            Err(e) => {
                o.status = None;
                o.error = Some(if e.is_timeout() {
                    format!("no answer within {:.1}s", attempt.as_secs_f64())
                } else if e.is_connect() {
                    "cannot connect".into()
                } else {
                    // reqwest's messages can contain the URL: keep only its kind.
                    "request failed".into()
                });
                true
            }
        };
        if !retry || o.attempts > policy.retries {
            break;
        }
        let left = policy.budget.saturating_sub(start.elapsed());
        if backoff >= left {
            break;
        }
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_dot_body() {
        // RFC 4231 has no vector for this framing; this one is checked with Python's
        // hmac.new(b"whsec", b"1700000000.{}", "sha256").hexdigest().
        let s = signature("whsec", 1_700_000_000, b"{}");
        assert_eq!(
            s,
            "t=1700000000,v1=7d44587dddbaf4c7f70fef20f48cd594834ffea1641e3ac227b84408298738af"
        );
    }

    #[test]
    fn delivery_ids_are_uuid_v4() {
        let a = delivery_id();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert_ne!(a, delivery_id());
    }

    #[test]
    fn urls_are_checked_and_shown_without_path() {
        assert!(check_url("https://hooks.slack.com/services/T0/B0/xyz").is_ok());
        assert_eq!(
            display_url("https://hooks.slack.com/services/T0/B0/xyz?token=1"),
            "https://hooks.slack.com"
        );
        assert_eq!(display_url("http://127.0.0.1:9/x"), "http://127.0.0.1:9");
        let e = check_url("ftp://x/y").unwrap_err().to_string();
        assert!(e.contains("only http") && !e.contains("/y"), "{e}");
        assert!(check_url("not a url").is_err());
        assert_eq!("Slack".parse::<Format>(), Ok(Format::Slack));
        assert!("xml".parse::<Format>().is_err());
    }
}
