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
    let admin = AdminClient::new(deploy);
    let mut say = |line: String| {
        let _ = writeln!(out, "{line}");
    };
    if let Some(path) = deploy.samples {
        let samples = std::fs::read(path)
            .map_err(|e| format!("cannot read samples {}: {e}", path.display()))?;
        admin.put(&format!("/admin/bundles/{id}/samples"), JSON, &samples)?;
        say(format!("samples: {} sent", path.display()));
    }
    say(format!(
        "bundle: uploading {} ({} bytes, sha256:{id}); the service loads and warms it on every worker",
        deploy.bundle.display(),
        bytes.len()
    ));
    let info = admin.put(
        &format!("/admin/bundles/{id}"),
        "application/javascript",
        &bytes,
    )?;
    let warm_ms = info["warmMs"].as_u64().unwrap_or_default();
    say(format!("bundle: ready ({warm_ms} ms to warm)"));
    let body = serde_json::json!({ "bundle": format!("sha256:{id}") }).to_string();
    admin.put(
        &format!("/admin/apps/{}", deploy.app),
        JSON,
        body.as_bytes(),
    )?;
    say(format!(
        "app {}: switched to sha256:{id} in {:.1} s",
        deploy.app,
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

const JSON: &str = "application/json";

/// The service's admin API, as the deploy calls it.
struct AdminClient<'a> {
    agent: ureq::Agent,
    base: &'a str,
    token: &'a str,
}

impl<'a> AdminClient<'a> {
    fn new(deploy: &'a Deploy) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(deploy.timeout))
            .build()
            .into();
        Self {
            agent,
            base: deploy.server.trim_end_matches('/'),
            token: &deploy.token,
        }
    }

    /// PUTs `body` to `path`; the JSON answer, or the service's error.
    fn put(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<serde_json::Value, String> {
        let url = format!("{}{path}", self.base);
        let failed = |e: &dyn std::fmt::Display| format!("PUT {url}: {e}");
        let request = ureq::http::Request::builder()
            .method("PUT")
            .uri(&url)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", content_type)
            .body(body.to_vec())
            .map_err(|e| failed(&e))?;
        let mut response = self.agent.run(request).map_err(|e| failed(&e))?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| failed(&format!("cannot read the answer: {e}")))?;
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if status.is_success() {
            return Ok(json);
        }
        let message = json["error"]["message"]
            .as_str()
            .map_or_else(|| text.trim().to_owned(), str::to_owned);
        Err(failed(&format!("{status}: {message}")))
    }
}
