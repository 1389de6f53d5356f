//! The `ssr-pool` binary as users run it: `render`, `warm`, and `serve`
//! with a graceful stop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ssr-pool"));
    cmd.env("RUST_LOG", "info");
    cmd
}

fn write_bundle(dir: &Path, name: &str, source: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, source).unwrap();
    path
}

#[test]
fn render_with_no_arguments_prints_the_example_page() {
    let out = bin().env("SSR_POOL_NO_CACHE", "1").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(html.starts_with("<div class=\"page\">"), "{html}");
    assert!(html.contains("Northwind"));
}

#[test]
fn render_reports_js_errors_and_bad_input_with_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = write_bundle(
        dir.path(),
        "b.js",
        r#"SsrPool.register("Ok", p => "<b>" + p.x + "</b>");
           SsrPool.register("Bad", () => { throw new TypeError("bad props"); });"#,
    );
    let run = |args: &[&str]| {
        bin()
            .arg("render")
            .arg("--no-cache")
            .arg("--bundle")
            .arg(&bundle)
            .args(args)
            .output()
            .unwrap()
    };
    let ok = run(&["--component", "Ok", "--props", r#"{"x": 5}"#]);
    assert!(ok.status.success());
    assert_eq!(ok.stdout, b"<b>5</b>");

    let bad = run(&["--component", "Bad"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("TypeError: bad props"));

    let bad = run(&["--component", "Ok", "--props", "{nope"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("props are not valid JSON"));
}

/// `warm` on `bundle` with `samples` into `cache`, which must succeed; its
/// standard output.
fn warm(cache: &Path, bundle: &Path, samples: &Path) -> String {
    let out = bin()
        .args(["warm", "--cache-dir"])
        .arg(cache)
        .arg("--bundle")
        .arg(bundle)
        .arg("--samples")
        .arg(samples)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A file of the repository (fixtures are built by `tests/setup.sh`).
/// `warm` printed a snapshot's size, not the reason there is none.
fn assert_warm_took_a_snapshot(stdout: &str) {
    assert!(
        stdout.contains("snapshot ") && stdout.contains(" bytes"),
        "{stdout}"
    );
}

fn repo_file(path: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    assert!(
        path.exists(),
        "{} is missing: run tests/setup.sh",
        path.display()
    );
    path
}

#[test]
fn render_and_warm_take_an_es_module_bundle_with_its_chunks() {
    let props = format!("@{}", repo_file("examples/app/props/home.json").display());
    let render = |bundle: Option<&Path>| {
        let mut cmd = bin();
        cmd.args(["render", "--no-cache", "--workers", "1"]);
        cmd.args(["--component", "Home", "--props", &props]);
        if let Some(bundle) = bundle {
            cmd.arg("--bundle").arg(bundle);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        String::from_utf8(out.stdout).unwrap()
    };
    let vite = repo_file("tests/fixtures/build/example-vite/server.js");
    let html = render(Some(&vite));
    assert!(html.starts_with("<div class=\"page\">"), "{html}");
    assert!(
        html == render(None),
        "the Vite build renders as the example"
    );

    let dir = tempfile::tempdir().unwrap();
    let samples = repo_file("examples/app/samples.json");
    let stdout = warm(dir.path(), &vite, &samples);
    assert!(
        stdout.contains("format       module, 2 file(s) cached"),
        "{stdout}"
    );

    let refused = bin()
        .args(["render", "--no-cache", "--component", "Page", "--bundle"])
        .arg(repo_file("tests/fixtures/modules/bare/entry.mjs"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("imports \"react\": a bare specifier"),
        "{stderr}"
    );
}

#[test]
fn warm_writes_a_cache_that_render_then_hits() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["warm", "--cache-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in ["key ", "cache size ", "compile ", "samples "] {
        assert!(stdout.contains(line), "missing {line:?} in {stdout}");
    }
    // The code cache, and the note that V8 refused a snapshot of the
    // example (it keeps an Intl formatter from its load).
    assert!(stdout.contains("snapshot     none: V8 ended"), "{stdout}");
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 2);

    let out = bin()
        .args(["render", "--cache-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("code cache loaded from disk"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn warm_fails_clearly_on_bad_bundles_samples_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let throws = write_bundle(dir.path(), "t.js", "throw new Error('no load');");
    let out = bin()
        .args(["warm", "--cache-dir"])
        .arg(dir.path().join("c1"))
        .arg("--bundle")
        .arg(&throws)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no load"));

    let needs_props = write_bundle(
        dir.path(),
        "p.js",
        r#"SsrPool.register("Item", p => "<i>" + p.item.name + "</i>");"#,
    );
    let out = bin()
        .args(["warm", "--cache-dir"])
        .arg(dir.path().join("c2"))
        .arg("--bundle")
        .arg(&needs_props)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Item") && stderr.contains("--samples"),
        "{stderr}"
    );

    let samples = write_bundle(
        dir.path(),
        "s.json",
        r#"[{"component": "Item", "props": {"item": {"name": "x"}}}]"#,
    );
    let out = bin()
        .args(["warm", "--cache-dir"])
        .arg(dir.path().join("c3"))
        .arg("--bundle")
        .arg(&needs_props)
        .arg("--samples")
        .arg(&samples)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let file = write_bundle(dir.path(), "plain-file", "x");
    let out = bin()
        .args(["warm", "--cache-dir"])
        .arg(file.join("sub"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not usable"));
}

/// `serve` on `bundle` with `args` on a free port, once `/ready` says 200
/// (without a cache unless `args` name a cache directory).
fn serve_ready(bundle: &Path, args: &[&str], stderr: Stdio) -> (std::process::Child, u16) {
    let port = free_port();
    let cache = if args.contains(&"--cache-dir") {
        None
    } else {
        Some("--no-cache")
    };
    let child = bin()
        .arg("serve")
        .args(cache)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--bundle")
        .arg(bundle)
        .args(args)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !http(
        port,
        "GET /ready HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .is_ok_and(|r| r.starts_with("HTTP/1.1 200"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server never became ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, port)
}

/// `serve_ready`, its log written to `log`.
fn serve_logging(bundle: &Path, args: &[&str], log: &Path) -> (std::process::Child, u16) {
    serve_ready(bundle, args, std::fs::File::create(log).unwrap().into())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http(port: u16, request: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(request.as_bytes())?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    Ok(out)
}

fn post_render(port: u16, body: &str) -> std::io::Result<String> {
    http(
        port,
        &format!(
            "POST /render HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn serve_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = write_bundle(
        dir.path(),
        "slow.js",
        r#"SsrPool.register("Slow", p => new Promise(r => setTimeout(() => r("<p>done " + p.ms + "</p>"), p.ms)));"#,
    );
    let (mut child, port) = serve_ready(&bundle, &["--workers", "2"], Stdio::null());
    // Keep-alive: two requests on one connection.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for _ in 0..2 {
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    }
    drop(stream);

    let in_flight = std::thread::spawn(move || {
        post_render(port, r#"{"component":"Slow","props":{"ms":1500}}"#)
    });
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());

    let reply = in_flight
        .join()
        .unwrap()
        .expect("in-flight request answered");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("<p>done 1500</p>"), "{reply}");
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit status {exit}");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "new connections are refused"
    );
}

#[test]
fn impossible_settings_and_unsafe_v8_flags_are_refused_at_start() {
    let cases: &[(&[&str], &str)] = &[
        (&["--render-timeout-ms", "0"], "render_timeout"),
        (&["--queue-timeout-ms", "0"], "queue_timeout"),
        (&["--max-output-bytes", "0"], "max_output_bytes"),
        (&["--max-body-bytes", "0"], "max_body_bytes"),
        (&["--heap-limit-mb", "5"], "heap_limit_mb"),
        (
            &[
                "--min-render-timeout-ms",
                "50",
                "--max-render-timeout-ms",
                "10",
            ],
            "max_render_timeout",
        ),
        (&["--v8-flags", "--stack-size=100000"], "--stack-size"),
        (
            &["--v8-flags", "--max-old-space-size=8192"],
            "max-old-space-size",
        ),
        (&["--v8-flags", "--no-such-flag-at-all"], "unknown V8 flags"),
        (&["--fetch-allow", "ftp://files.example"], "fetch_allow"),
        (&["--fetch-allow", "https://api.example/v1"], "fetch_allow"),
        (&["--fetch-max-requests", "0"], "fetch_max_requests"),
    ];
    for (args, named) in cases {
        let out = bin()
            .args(["serve", "--no-cache", "--listen", "127.0.0.1:0"])
            .args(*args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
    // A list in the TOML file reaches the setting as the flag would.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ssr.toml");
    std::fs::write(
        &config,
        "[pool]\nfetch_allow = [\"https://ok.example\", \"ftp://bad\"]\n",
    )
    .unwrap();
    let out = bin()
        .args(["serve", "--no-cache", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("\"ftp://bad\""),
        "{stderr}"
    );
}

#[test]
fn serve_abandons_workers_that_outlive_the_shutdown_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = write_bundle(
        dir.path(),
        "slow.js",
        // JavaScript that holds the CPU (within its 60 s deadline): the
        // worker cannot stop until it returns.
        r#"SsrPool.register("Slow", p => { const end = Date.now() + p.ms; while (Date.now() < end) {} return "<p>late</p>"; });"#,
    );
    let (mut child, port) = serve_ready(
        &bundle,
        &[
            "--workers",
            "1",
            "--warmup-renders",
            "0",
            "--render-timeout-ms",
            "60000",
            "--max-render-timeout-ms",
            "60000",
            "--shutdown-timeout-secs",
            "1",
        ],
        Stdio::piped(),
    );
    let _in_flight = std::thread::spawn(move || {
        post_render(port, r#"{"component":"Slow","props":{"ms":40000}}"#)
    });
    std::thread::sleep(Duration::from_millis(300));
    let stopping = Instant::now();
    assert!(Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success());
    let exit = child.wait().unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(20),
        "took {:?}",
        stopping.elapsed()
    );
    assert!(!exit.success(), "a worker was abandoned: the exit says so");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("abandoning"), "{stderr}");
}

#[test]
fn deploy_uploads_warms_and_switches_and_fails_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let first = write_bundle(
        dir.path(),
        "v1.js",
        r#"SsrPool.register("Page", () => "<p>v1</p>");"#,
    );
    let second = write_bundle(
        dir.path(),
        "v2.js",
        r#"SsrPool.register("Page", p => "<p>v2 " + p.n + "</p>");"#,
    );
    let broken = write_bundle(
        dir.path(),
        "broken.js",
        r#"SsrPool.register("Page", () => {"#,
    );
    let samples = write_bundle(
        dir.path(),
        "samples.json",
        r#"[{"component": "Page", "props": {"n": 1}}]"#,
    );
    let token = write_bundle(dir.path(), "token", "s3cret\n");
    let cache = dir.path().join("cache");
    // The admin API on its own address, not beside the render API.
    let admin_port = free_port();
    let admin_listen = format!("127.0.0.1:{admin_port}");
    let args = [
        "--workers",
        "2",
        "--cache-dir",
        cache.to_str().unwrap(),
        "--admin-token-file",
        token.to_str().unwrap(),
        "--admin-listen",
        &admin_listen,
    ];
    let log = dir.path().join("serve.log");
    let (child, port) = serve_logging(&first, &args, &log);
    let apps = "GET /admin/apps HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n";
    let answer = http(port, apps).unwrap();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    let answer = http(admin_port, apps).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let server = format!("http://{admin_listen}");
    let deploy = |bundle: &Path, token: &Path| {
        bin()
            .args(["deploy", "--server", &server, "--bundle"])
            .arg(bundle)
            .arg("--samples")
            .arg(&samples)
            .arg("--admin-token-file")
            .arg(token)
            .output()
            .unwrap()
    };
    let out = deploy(&second, &token);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("bundle: ready"), "{stdout}");
    assert!(stdout.contains("app default: switched"), "{stdout}");
    let page = post_render(port, r#"{"component": "Page", "props": {"n": 7}}"#).unwrap();
    assert!(page.ends_with("<p>v2 7</p>"), "{page}");

    // A broken bundle and a wrong token: non-zero, with the reason, and
    // the app keeps its bundle.
    let out = deploy(&broken, &token);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("422") && stderr.contains("syntax error"),
        "{stderr}"
    );
    let wrong = write_bundle(dir.path(), "wrong", "guess");
    let out = deploy(&second, &wrong);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    let page = post_render(port, r#"{"component": "Page", "props": {"n": 8}}"#).unwrap();
    assert!(page.ends_with("<p>v2 8</p>"), "{page}");
    // No server there.
    let out = bin()
        .args(["deploy", "--server", "http://127.0.0.1:1", "--bundle"])
        .arg(&second)
        .arg("--admin-token-file")
        .arg(&token)
        .output()
        .unwrap();
    assert!(!out.status.success());

    // The starting bundle got a start-up snapshot once ready, and the
    // deployed one once warm: a restart, which serves the deployed one
    // again, starts every worker from its snapshot.
    wait_for_lines(&log, "used when a start begins with this bundle", 2);
    stop(child);
    let (child, port) = serve_ready(&first, &args, Stdio::null());
    assert_eq!(loads(port, "snapshot"), 2);
    let page = post_render(port, r#"{"component": "Page", "props": {"n": 9}}"#).unwrap();
    assert!(page.ends_with("<p>v2 9</p>"), "{page}");
    stop(child);
}

/// The body of an HTTP reply.
fn body(reply: &str) -> &str {
    reply.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

/// How many isolates the served binary started by how it loaded the
/// bundle (`outcome`: hit, miss, snapshot), from its metrics.
fn loads(port: u16, outcome: &str) -> u64 {
    let reply = http(
        port,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let series = format!("ssr_code_cache_total{{outcome=\"{outcome}\"}} ");
    body(&reply)
        .lines()
        .find_map(|line| line.strip_prefix(&series)?.trim().parse().ok())
        .unwrap_or(0)
}

fn stop(mut child: std::process::Child) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}

/// Waits until `log` has a line containing `text`; returns the log.
fn wait_for_log(log: &Path, text: &str) -> String {
    wait_for_lines(log, text, 1)
}

/// Waits until `log` has `count` lines containing `text`; returns the log.
fn wait_for_lines(log: &Path, text: &str, count: usize) -> String {
    let started = Instant::now();
    loop {
        let written = std::fs::read_to_string(log).unwrap_or_default();
        if written.lines().filter(|line| line.contains(text)).count() >= count {
            return written;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no {text:?} in:\n{written}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const HELLO: &str = r#"{"component":"Hello","props":{"name":"snapshot"}}"#;

#[test]
fn serve_takes_a_start_up_snapshot_and_starts_from_it_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let cache = cache.to_str().unwrap();
    let bundle = repo_file("tests/fixtures/build/basic.js");
    let log = dir.path().join("first.log");
    let args = ["--cache-dir", cache, "--workers", "2"];
    let (child, port) = serve_logging(&bundle, &args, &log);
    assert_eq!(loads(port, "snapshot"), 0);
    let compiled = post_render(port, HELLO).unwrap();
    assert!(compiled.starts_with("HTTP/1.1 200"), "{compiled}");
    wait_for_log(&log, "start-up snapshot taken and stored");
    stop(child);

    let (child, port) = serve_ready(&bundle, &args, Stdio::null());
    assert_eq!(loads(port, "snapshot"), 2);
    assert_eq!(loads(port, "miss") + loads(port, "hit"), 0);
    let restored = post_render(port, HELLO).unwrap();
    assert_eq!(body(&restored), body(&compiled));
    stop(child);
}

#[test]
fn warm_takes_the_snapshot_serve_starts_from() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = repo_file("tests/fixtures/build/basic.js");
    let samples = write_bundle(
        dir.path(),
        "samples.json",
        r#"[{"component":"Hello","props":{"name":"warm"}},{"component":"List","props":{"items":["a"]}}]"#,
    );
    let cache = dir.path().join("cache");
    let stdout = warm(&cache, &bundle, &samples);
    assert_warm_took_a_snapshot(&stdout);
    let cache = cache.to_str().unwrap();
    let args = ["--cache-dir", cache, "--workers", "2"];
    let (child, port) = serve_ready(&bundle, &args, Stdio::null());
    assert_eq!(loads(port, "snapshot"), 2);
    let reply = post_render(port, HELLO).unwrap();
    assert!(body(&reply).contains("Hello, <!-- -->snapshot"), "{reply}");
    stop(child);
}

#[test]
fn a_bundle_v8_cannot_snapshot_is_served_from_its_code_cache() {
    let dir = tempfile::tempdir().unwrap();
    // An Intl formatter made at load: V8 cannot serialise it.
    let bundle = write_bundle(
        dir.path(),
        "intl.js",
        r#"const price = new Intl.NumberFormat("en-US", { style: "currency", currency: "EUR" });
           SsrPool.register("Price", (p) => "<p>" + price.format(p.n) + "</p>");"#,
    );
    let cache = dir.path().join("cache");
    let cache = cache.to_str().unwrap();
    let log = dir.path().join("serve.log");
    let args = ["--cache-dir", cache, "--workers", "1"];
    let (child, port) = serve_logging(&bundle, &args, &log);
    let written = wait_for_log(&log, "no start-up snapshot of this bundle");
    assert!(
        written.contains("V8 ended the snapshot process"),
        "{written}"
    );
    let price = r#"{"component":"Price","props":{"n":1234.5}}"#;
    let reply = post_render(port, price).unwrap();
    assert!(body(&reply).contains("€1,234.50"), "{reply}");
    stop(child);
    // The refusal is remembered: the restart does not try again.
    let log = dir.path().join("restart.log");
    let (child, port) = serve_logging(&bundle, &args, &log);
    assert_eq!(loads(port, "snapshot"), 0);
    assert_eq!(loads(port, "hit"), 1);
    let written = wait_for_log(&log, "V8 refused one before");
    // No second attempt, whose failure would read so.
    let attempt = "no start-up snapshot of this bundle; its isolates";
    assert!(!written.contains(attempt), "{written}");
    stop(child);
}

#[test]
fn a_snapshot_is_taken_of_a_bundle_whose_warm_up_logs_much() {
    // Over 64 KiB of log lines per render, more than a pipe holds.
    let dir = tempfile::tempdir().unwrap();
    let bundle = write_bundle(
        dir.path(),
        "chatty.js",
        r#"SsrPool.register("Chatty", () => {
             for (let i = 0; i < 20; i++) console.log("x".repeat(8000));
             return "<p>chatty</p>";
           });"#,
    );
    let samples = write_bundle(dir.path(), "samples.json", r#"[{"component":"Chatty"}]"#);
    let stdout = warm(&dir.path().join("cache"), &bundle, &samples);
    assert_warm_took_a_snapshot(&stdout);
}

#[test]
fn a_foreign_or_corrupt_stored_snapshot_is_a_logged_miss() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let bundle = repo_file("tests/fixtures/build/basic.js");
    let hash = bundles::ContentHash::of(&std::fs::read(&bundle).unwrap());
    let flags = pool::platform::DEFAULT_V8_FLAGS;
    pool::platform::init(flags).unwrap();
    let open = || {
        ssr_api::codecache::DiskCodeCache::open(&cache, pool::platform::v8_version(), flags)
            .unwrap()
    };
    let args = ["--cache-dir", cache.to_str().unwrap(), "--workers", "2"];

    // Bytes that are no snapshot, under the snapshot's key.
    open().store_snapshot(&hash, vec![7; 4096]).unwrap();
    let log = dir.path().join("foreign.log");
    let (child, port) = serve_logging(&bundle, &args, &log);
    assert_eq!(loads(port, "snapshot"), 0);
    assert!(body(&post_render(port, HELLO).unwrap()).contains("snapshot"));
    // Removed, then taken anew once the service was ready.
    wait_for_log(&log, "not usable; removing it");
    wait_for_log(&log, "start-up snapshot taken and stored");
    stop(child);
    let stored = open().load_snapshot(&hash).expect("a new snapshot");
    assert_ne!(stored, vec![7; 4096]);

    // A snapshot file damaged on disk: the cache's check refuses it.
    let path = open().cache().path_of(&open().snapshot_key(&hash));
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let (child, port) = serve_ready(&bundle, &args, Stdio::null());
    assert_eq!(loads(port, "snapshot"), 0);
    assert_eq!(loads(port, "hit"), 2);
    assert!(body(&post_render(port, HELLO).unwrap()).contains("snapshot"));
    stop(child);
}
