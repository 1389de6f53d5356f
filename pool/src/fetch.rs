//! `fetch` for renders: requests to the origins the operator allows, sent by
//! one HTTP client (reqwest: connection pooling, keep-alive, HTTP/1.1 and 2)
//! on a runtime of its own, so they progress while isolates compute. Each
//! render has limits (requests, response bytes, time per request). The
//! event loop receives completions as wake-ups; what a finished render left
//! open is aborted (dropping a request closes its connection).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{AbortHandle, Abortable};
use tokio::sync::oneshot;
use url::{Origin, Url};

use crate::config::PoolConfig;
use crate::observe::{FetchOutcome, PoolObserver};
use crate::RenderId;

/// Redirects one fetch follows at most (the Fetch Standard's limit).
const MAX_REDIRECTS: usize = 20;

/// Idle connections kept per upstream host for reuse: enough for the
/// fetches of many renders in flight, bounded.
const MAX_IDLE_PER_HOST: usize = 256;

/// Parses an allowlist entry: an http(s) origin, nothing after it.
pub(crate) fn parse_origin(text: &str) -> Result<Origin, String> {
    let bad = |why: &str| format!("fetch_allow: {text:?} {why}");
    let url = Url::parse(text).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("is not an http or https origin"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("has more than scheme, host and port"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("carries credentials"));
    }
    Ok(url.origin())
}

/// What the prelude asks for; the body is already bytes.
pub(crate) struct FetchRequest {
    pub method: reqwest::Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub redirect: Redirect,
}

/// The request's redirect mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Redirect {
    Follow,
    /// A redirect fails the fetch.
    Error,
    /// The redirect response is the answer.
    Manual,
}

/// A response with its whole body.
#[derive(Debug)]
pub(crate) struct FetchResponse {
    pub status: u16,
    pub status_text: String,
    pub url: String,
    pub redirected: bool,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A response, or why there is none (a `TypeError`'s message).
pub(crate) type FetchResult = Result<FetchResponse, String>;

/// The HTTP client and the allowlist, shared by the pool's workers.
pub(crate) struct Fetcher {
    /// Follows redirects to allowed origins only.
    following: reqwest::Client,
    /// Follows none (redirect modes "error" and "manual").
    not_following: reqwest::Client,
    allow: Arc<Vec<Origin>>,
    pub max_requests: usize,
    pub max_response_bytes: usize,
    timeout: Duration,
    observer: Arc<dyn PoolObserver>,
    /// Where requests run; taken on drop (it may be dropped in async code).
    runtime: Option<tokio::runtime::Runtime>,
}

impl Fetcher {
    /// The fetcher of `config`; None when no origin is allowed.
    pub fn new(
        config: &PoolConfig,
        observer: Arc<dyn PoolObserver>,
    ) -> Result<Option<Self>, String> {
        if config.fetch_allow.is_empty() {
            return Ok(None);
        }
        let allow: Vec<Origin> = config
            .fetch_allow
            .iter()
            .map(|o| parse_origin(o))
            .collect::<Result<_, _>>()?;
        let allow = Arc::new(allow);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ssr-fetch")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the fetch runtime: {e}"))?;
        let client = |policy| {
            reqwest::Client::builder()
                .redirect(policy)
                .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))
        };
        Ok(Some(Self {
            following: client(follow_allowed(Arc::clone(&allow)))?,
            not_following: client(reqwest::redirect::Policy::none())?,
            allow,
            max_requests: config.fetch_max_requests,
            max_response_bytes: config.fetch_max_response_bytes,
            timeout: config.fetch_timeout,
            observer,
            runtime: Some(runtime),
        }))
    }

    /// Refuses a URL whose origin is not allowed (logged and counted).
    pub fn check(&self, url: &Url) -> Result<(), String> {
        if self.allow.contains(&url.origin()) {
            return Ok(());
        }
        let origin = url.origin().ascii_serialization();
        tracing::warn!(target: "ssr::fetch", %origin, "fetch refused: origin not allowed");
        self.observer
            .fetch_finished(None, FetchOutcome::Refused, 0, Duration::ZERO);
        Err(refused(&origin))
    }

    /// Sends `request` on the fetch runtime; the result arrives on the
    /// receiver unless the handle aborts it first. `bytes_left` is what the
    /// render may still receive, shared by its fetches.
    fn send(
        &self,
        request: FetchRequest,
        bytes_left: Arc<AtomicUsize>,
    ) -> (oneshot::Receiver<FetchResult>, AbortHandle) {
        let (tx, rx) = oneshot::channel();
        let (handle, registration) = AbortHandle::new_pair();
        let client = match request.redirect {
            Redirect::Follow => self.following.clone(),
            Redirect::Error | Redirect::Manual => self.not_following.clone(),
        };
        let call = Call {
            timeout: self.timeout,
            limit: self.max_response_bytes,
            observer: Arc::clone(&self.observer),
        };
        let task = Abortable::new(call.run(client, request, bytes_left), registration);
        let runtime = self.runtime.as_ref().expect("taken only on drop");
        runtime.spawn(async move {
            if let Ok(result) = task.await {
                let _ = tx.send(result);
            }
        });
        (rx, handle)
    }
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn refused(origin: &str) -> String {
    format!("fetch to {origin} refused: the origin is not in the service's fetch allowlist")
}

/// Why the redirect policy stopped a redirect: its origin is not allowed.
#[derive(Debug)]
struct RefusedRedirect(String);

impl std::fmt::Display for RefusedRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redirect {}", refused(&self.0))
    }
}

impl std::error::Error for RefusedRedirect {}

/// Follows a redirect only to an allowed origin, at most [`MAX_REDIRECTS`].
fn follow_allowed(allow: Arc<Vec<Origin>>) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let origin = attempt.url().origin();
        if allow.contains(&origin) {
            attempt.follow()
        } else {
            let origin = origin.ascii_serialization();
            tracing::warn!(target: "ssr::fetch", %origin, "redirect refused: origin not allowed");
            attempt.error(RefusedRedirect(origin))
        }
    })
}

/// One fetch on the fetch runtime.
struct Call {
    timeout: Duration,
    limit: usize,
    observer: Arc<dyn PoolObserver>,
}

impl Call {
    async fn run(
        self,
        client: reqwest::Client,
        request: FetchRequest,
        bytes_left: Arc<AtomicUsize>,
    ) -> FetchResult {
        let mut report = Report {
            observer: Arc::clone(&self.observer),
            origin: request.url.origin().ascii_serialization(),
            started: Instant::now(),
            outcome: None,
        };
        let result = self.send(client, request, &bytes_left).await;
        report.outcome = Some(match &result {
            Ok(response) => (FetchOutcome::Ok, response.body.len()),
            Err((outcome, _)) => (*outcome, 0),
        });
        result.map_err(|(_, message)| message)
    }

    async fn send(
        &self,
        client: reqwest::Client,
        request: FetchRequest,
        bytes_left: &AtomicUsize,
    ) -> Result<FetchResponse, (FetchOutcome, String)> {
        let url = request.url.to_string();
        let failed = |e: reqwest::Error| self.describe(&url, e);
        let mut builder = client
            .request(request.method, request.url)
            .timeout(self.timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let mut response = builder.send().await.map_err(failed)?;
        let status = response.status();
        if request.redirect == Redirect::Error && status.is_redirection() {
            let message =
                format!("fetch of {url} was redirected, and its redirect mode is \"error\"");
            return Err((FetchOutcome::Failed, message));
        }
        let final_url = response.url().to_string();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            self.take(bytes_left, chunk.len(), &url)?;
            body.extend_from_slice(&chunk);
        }
        Ok(FetchResponse {
            status: status.as_u16(),
            status_text: status.canonical_reason().unwrap_or("").to_owned(),
            redirected: final_url != url,
            url: final_url,
            headers,
            body,
        })
    }

    /// Takes `len` bytes from what the render may still receive.
    fn take(
        &self,
        bytes_left: &AtomicUsize,
        len: usize,
        url: &str,
    ) -> Result<(), (FetchOutcome, String)> {
        bytes_left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(len)
            })
            .map(|_| ())
            .map_err(|_| {
                let message = format!(
                    "fetch of {url}: the render's responses passed its limit of {} bytes",
                    self.limit
                );
                (FetchOutcome::TooLarge, message)
            })
    }

    fn describe(&self, url: &str, error: reqwest::Error) -> (FetchOutcome, String) {
        if error.is_timeout() {
            let ms = self.timeout.as_millis();
            return (
                FetchOutcome::TimedOut,
                format!("fetch of {url} timed out after {ms} ms"),
            );
        }
        // The redirect policy's refusal is the innermost cause.
        let mut cause: &dyn std::error::Error = &error;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        let outcome = if cause.is::<RefusedRedirect>() {
            FetchOutcome::Refused
        } else {
            FetchOutcome::Failed
        };
        (outcome, format!("fetch of {url} failed: {cause}"))
    }
}

/// Counts a fetch when it ends: with its outcome, or as aborted when it is
/// dropped before it had one (its render ended, or its signal fired).
struct Report {
    observer: Arc<dyn PoolObserver>,
    origin: String,
    started: Instant,
    outcome: Option<(FetchOutcome, usize)>,
}

impl Drop for Report {
    fn drop(&mut self) {
        let (outcome, bytes) = self.outcome.unwrap_or((FetchOutcome::Aborted, 0));
        self.observer
            .fetch_finished(Some(&self.origin), outcome, bytes, self.started.elapsed());
    }
}

/// The fetches of one isolate's renders: what each render started, what
/// is still open, and bodies waiting to be copied into the render's heap.
#[derive(Default)]
pub(crate) struct FetchTable {
    next_id: u32,
    open: HashMap<u32, (RenderId, AbortHandle)>,
    by_render: HashMap<RenderId, RenderFetches>,
    /// Started since the event loop last looked; it waits on each.
    pub started: Vec<(RenderId, u32, oneshot::Receiver<FetchResult>)>,
    bodies: HashMap<u32, Vec<u8>>,
}

struct RenderFetches {
    count: usize,
    /// Started and not yet settled or aborted.
    open: usize,
    bytes_left: Arc<AtomicUsize>,
    ids: Vec<u32>,
}

impl FetchTable {
    /// Starts a fetch for `render` within its limits; its id.
    pub fn start(
        &mut self,
        fetcher: &Fetcher,
        render: RenderId,
        request: FetchRequest,
    ) -> Result<u32, String> {
        fetcher.check(&request.url)?;
        let mine = self
            .by_render
            .entry(render)
            .or_insert_with(|| RenderFetches {
                count: 0,
                open: 0,
                bytes_left: Arc::new(AtomicUsize::new(fetcher.max_response_bytes)),
                ids: Vec::new(),
            });
        if mine.count >= fetcher.max_requests {
            return Err(format!(
                "fetch refused: a render may make {} requests",
                fetcher.max_requests
            ));
        }
        mine.count += 1;
        mine.open += 1;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let id = self.next_id;
        let (rx, handle) = fetcher.send(request, Arc::clone(&mine.bytes_left));
        mine.ids.push(id);
        self.open.insert(id, (render, handle));
        self.started.push((render, id, rx));
        Ok(id)
    }

    /// A fetch settled; its render, unless the fetch was aborted since.
    pub fn settled(&mut self, id: u32) -> Option<RenderId> {
        let (render, _) = self.open.remove(&id)?;
        self.closed(render);
        Some(render)
    }

    /// The prelude aborted a fetch (its signal fired).
    pub fn abort(&mut self, id: u32) {
        if let Some((render, handle)) = self.open.remove(&id) {
            handle.abort();
            self.closed(render);
        }
        self.bodies.remove(&id);
    }

    fn closed(&mut self, render: RenderId) {
        if let Some(mine) = self.by_render.get_mut(&render) {
            mine.open -= 1;
        }
    }

    /// True while `render` waits on a fetch.
    pub fn owns(&self, render: RenderId) -> bool {
        self.by_render
            .get(&render)
            .is_some_and(|mine| mine.open > 0)
    }

    /// Aborts what `render` left open; returns the ids of all its fetches
    /// (so the prelude can forget them).
    pub fn drop_owner(&mut self, render: RenderId) -> Vec<u32> {
        let Some(mine) = self.by_render.remove(&render) else {
            return Vec::new();
        };
        for id in &mine.ids {
            self.abort(*id);
        }
        mine.ids
    }

    pub fn keep_body(&mut self, id: u32, body: Vec<u8>) {
        self.bodies.insert(id, body);
    }

    pub fn take_body(&mut self, id: u32) -> Option<Vec<u8>> {
        self.bodies.remove(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_entries_are_bare_http_origins() {
        let origin = parse_origin("https://api.internal:8443").unwrap();
        assert_eq!(origin.ascii_serialization(), "https://api.internal:8443");
        // The default port is the same origin written either way.
        assert_eq!(
            parse_origin("http://127.0.0.1:80").unwrap(),
            parse_origin("http://127.0.0.1").unwrap()
        );
        for bad in [
            "api.internal",
            "file:///etc",
            "ftp://files.example",
            "https://api.example/v1",
            "https://api.example/?q",
            "https://user:pw@api.example",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad} must be refused");
        }
    }
}
