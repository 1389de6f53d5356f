//! `ssr-pool deploy`: uploads a bundle to a running service through its
//! admin API, waits until it is warm on every worker, and points an app at
//! it; for CI. Each step is printed; any failure exits non-zero with the
//! service's error message.

use std::path::Path;
use std::time::{Duration, Instant};

use bundles::ContentHash;

/// What to deploy where.
pub struct Deploy<'a> {
    /// The service's admin API base URL (`http://host:port`).
    pub server: &'a str,
    pub bundle: &'a Path,
    pub samples: Option<&'a Path>,
    pub app: &'a str,
    pub token: String,
    /// How long the service may take to warm the bundle.
    pub timeout: Duration,
}

/// Runs the deploy, printing progress on `out`.
pub fn run(deploy: &Deploy, out: &mut dyn std::io::Write) -> Result<(), String> {
    let started = Instant::now();
    let bytes = std::fs::read(deploy.bundle)
        .map_err(|e| format!("cannot read {}: {e}", deploy.bundle.display()))?;
    let id = ContentHash::of(&bytes);
    let base = deploy.server.trim_end_matches('/');
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(deploy.timeout))
        .build()
        .into();
    let say = |out: &mut dyn std::io::Write, line: String| {
        let _ = writeln!(out, "{line}");
    };
    if let Some(path) = deploy.samples {
        let samples = std::fs::read(path)
            .map_err(|e| format!("cannot read samples {}: {e}", path.display()))?;
        let url = format!("{base}/admin/bundles/{id}/samples");
        send(
            &agent,
            "PUT",
            &url,
            &deploy.token,
            "application/json",
            &samples,
        )?;
        say(out, format!("samples: {} sent", path.display()));
    }
    say(
        out,
        format!(
            "bundle: uploading {} ({} bytes, sha256:{id}); the service loads and warms it on every worker",
            deploy.bundle.display(),
            bytes.len()
        ),
    );
    let url = format!("{base}/admin/bundles/{id}");
    let info = send(
        &agent,
        "PUT",
        &url,
        &deploy.token,
        "application/javascript",
        &bytes,
    )?;
    say(
        out,
        format!(
            "bundle: ready ({} ms to warm)",
            info["warmMs"].as_u64().unwrap_or_default()
        ),
    );
    let url = format!("{base}/admin/apps/{}", deploy.app);
    let body = serde_json::json!({ "bundle": format!("sha256:{id}") }).to_string();
    send(
        &agent,
        "PUT",
        &url,
        &deploy.token,
        "application/json",
        body.as_bytes(),
    )?;
    say(
        out,
        format!(
            "app {}: switched to sha256:{id} in {:.1} s",
            deploy.app,
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

/// Sends one admin request; its JSON answer, or the service's error.
fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    token: &str,
    content_type: &str,
    body: &[u8],
) -> Result<serde_json::Value, String> {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", content_type)
        .body(body.to_vec())
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let mut response = agent
        .run(request)
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = response.status();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("{method} {url}: cannot read the answer: {e}"))?;
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if status.is_success() {
        return Ok(json);
    }
    let message = json["error"]["message"]
        .as_str()
        .map_or_else(|| text.trim().to_owned(), str::to_owned);
    Err(format!("{method} {url}: {status}: {message}"))
}
