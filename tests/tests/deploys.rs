//! Deploys through the admin API of the real server: bundles uploaded by
//! content hash, warmed on every worker, apps switched under load, bad
//! uploads refused, and the registry kept over a restart.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bundles::ContentHash;
use e2e::server::{get, post, send, Reply, ServerSetup, TestServer};
use e2e::{fixture_path, node_html, test_config, Job};
use serde_json::json;

const TOKEN: &str = "deploy-token-for-tests";
/// Warm-up renders per isolate: a page numbered above this came from a
/// warmed isolate.
const WARMUP: usize = 5;

/// A bundle whose page says which bundle it is and how many renders its
/// isolate has done (warm-up ones included).
fn counting_source(label: &str) -> String {
    format!(
        "let renders = 0;\n\
         SsrPool.register('Page', () => `<p>{label} ${{++renders}}</p>`);"
    )
}

/// Files of a test: bundles, the token, the cache directory.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        let files = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        files.write("token", TOKEN.as_bytes());
        files
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn setup(&self) -> ServerSetup {
        ServerSetup {
            config: pool::PoolConfig {
                warmup_renders: WARMUP,
                // A hostile upload that never finishes loading is refused
                // after this long.
                load_timeout: Duration::from_secs(2),
                ..test_config(2)
            },
            admin_token_file: Some(self.path("token")),
            cache_dir: Some(self.path("cache")),
            ..ServerSetup::default()
        }
    }

    /// The stored files of the registry.
    fn stored(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path("cache/registry/bundles"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

fn sha(bytes: &[u8]) -> String {
    ContentHash::of(bytes).to_string()
}

fn upload(server: &TestServer, bytes: &[u8]) -> Reply {
    let url = server.url(&format!("/admin/bundles/{}", sha(bytes)));
    send("PUT", &url, Some(TOKEN), bytes)
}

fn point(server: &TestServer, app: &str, bytes: &[u8]) -> Reply {
    let body = json!({"bundle": format!("sha256:{}", sha(bytes))}).to_string();
    let url = server.url(&format!("/admin/apps/{app}"));
    send("PUT", &url, Some(TOKEN), body.as_bytes())
}

fn render(server: &TestServer, body: serde_json::Value) -> Reply {
    post(&server.url("/render"), &body.to_string(), None)
}

fn page(server: &TestServer, app: &str) -> String {
    let reply = render(server, json!({"component": "Page", "app": app}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// The label and render number of a counting page.
fn parse_page(body: &str) -> Option<(String, usize)> {
    let inner = body.strip_prefix("<p>")?.strip_suffix("</p>")?;
    let (label, n) = inner.split_once(' ')?;
    Some((label.to_owned(), n.parse().ok()?))
}

fn error_code(reply: &Reply) -> String {
    reply.json()["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn switching_an_app_under_load_fails_nothing_and_serves_nothing_cold() {
    let files = Files::new();
    let (a, b) = (counting_source("A"), counting_source("B"));
    let server = TestServer::start(files.write("a.js", a.as_bytes()), files.setup());
    let reply = upload(&server, b.as_bytes());
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.json()["state"], "ready");

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<Reply>::new()));
    let loaders: Vec<_> = (0..3)
        .map(|_| {
            let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
            let url = server.url("/render");
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let reply = post(&url, r#"{"component":"Page"}"#, None);
                    seen.lock().unwrap().push(reply);
                }
            })
        })
        .collect();
    for round in 0..10 {
        std::thread::sleep(Duration::from_millis(50));
        let (label, bundle) = if round % 2 == 0 { ("B", &b) } else { ("A", &a) };
        let reply = point(&server, "default", bundle.as_bytes());
        assert_eq!(reply.status, 200, "switch {round}: {}", reply.body);
        // From the answer on, requests get the new bundle, warm.
        let (now, n) = parse_page(&page(&server, "default")).unwrap();
        assert_eq!(now, label, "switch {round}");
        assert!(
            n > WARMUP,
            "switch {round}: render {n} came from a cold isolate"
        );
    }
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    for loader in loaders {
        loader.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    assert!(seen.len() >= 30, "only {} renders under load", seen.len());
    for reply in seen.iter() {
        assert_eq!(
            reply.status, 200,
            "a render failed during a switch: {}",
            reply.body
        );
        let (label, n) = parse_page(&reply.body)
            .unwrap_or_else(|| panic!("not one bundle's page: {}", reply.body));
        assert!(label == "A" || label == "B", "{}", reply.body);
        assert!(n > WARMUP, "render {n} of {label} came from a cold isolate");
    }
    // The bundle no app points at was dropped from memory, not from disk.
    let bundles = send("GET", &server.url("/admin/bundles"), Some(TOKEN), b"").json();
    let states: Vec<(String, String)> = bundles["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["sha256"].as_str().unwrap().to_owned(),
                b["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        states.contains(&(sha(a.as_bytes()), "ready".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&(sha(b.as_bytes()), "unloaded".into())),
        "{states:?}"
    );
    assert_eq!(server.pool.bundles().len(), 1);
    assert_eq!(files.stored(), vec![format!("{}.js", sha(b.as_bytes()))]);
}

#[test]
fn bad_uploads_get_clear_errors_and_change_nothing() {
    let files = Files::new();
    let a = counting_source("A");
    let setup = ServerSetup {
        max_bundle_bytes: 4096,
        ..files.setup()
    };
    let server = TestServer::start(files.write("a.js", a.as_bytes()), setup);
    let admin = |method: &str, path: &str, token: Option<&str>, body: &[u8]| {
        send(method, &server.url(path), token, body)
    };
    let good = counting_source("B");
    let good_path = format!("/admin/bundles/{}", sha(good.as_bytes()));

    // The token: missing, wrong, or sent some other way.
    for token in [None, Some("wrong"), Some("")] {
        let reply = admin("PUT", &good_path, token, good.as_bytes());
        assert_eq!(
            (reply.status, error_code(&reply)),
            (401, "unauthorized".into())
        );
    }
    let reply = admin("GET", "/admin/bundles", Some(&format!("{TOKEN}x")), b"");
    assert_eq!(reply.status, 401);

    // The body does not hash to the name; the name is no hash.
    let reply = admin(
        "PUT",
        &good_path,
        Some(TOKEN),
        b"SsrPool.register('X', () => 'x');",
    );
    assert_eq!(
        (reply.status, error_code(&reply)),
        (400, "hash_mismatch".into())
    );
    assert!(reply.body.contains(&sha(good.as_bytes())), "{}", reply.body);
    let reply = admin("PUT", "/admin/bundles/latest", Some(TOKEN), good.as_bytes());
    assert_eq!(
        (reply.status, error_code(&reply)),
        (400, "bad_request".into())
    );

    // Too large, announced or not.
    let big = format!("{good}\n//{}", "x".repeat(5000));
    let reply = upload(&server, big.as_bytes());
    assert_eq!(
        (reply.status, error_code(&reply)),
        (413, "body_too_large".into())
    );

    // Bundles that cannot serve: each refused with its reason.
    let refused: [(&str, String, &str); 4] = [
        (
            "a syntax error",
            "SsrPool.register('P', () => {".into(),
            "syntax error",
        ),
        (
            "a throw at load",
            "throw new Error('no config');".into(),
            "no config",
        ),
        (
            "no component",
            "globalThis.x = 1;".into(),
            "registered no components",
        ),
        (
            "an endless load",
            "for (;;) {}".into(),
            "did not finish loading",
        ),
    ];
    for (what, source, reason) in &refused {
        let reply = upload(&server, source.as_bytes());
        assert_eq!(
            (reply.status, error_code(&reply)),
            (422, "bundle_refused".into()),
            "{what}: {}",
            reply.body
        );
        assert!(reply.body.contains(reason), "{what}: {}", reply.body);
        let info = admin(
            "GET",
            &format!("/admin/bundles/{}", sha(source.as_bytes())),
            Some(TOKEN),
            b"",
        );
        assert_eq!(info.json()["state"], "failed", "{what}");
        assert!(info.json()["reason"].as_str().unwrap().contains(reason));
        // An app cannot be pointed at it.
        let reply = point(&server, "default", source.as_bytes());
        assert_eq!(
            (reply.status, error_code(&reply)),
            (422, "bundle_refused".into())
        );
    }

    // Samples: not samples, then one that fails.
    let samples_path = format!("{good_path}/samples");
    let reply = admin("PUT", &samples_path, Some(TOKEN), b"{\"component\": 1}");
    assert_eq!(
        (reply.status, error_code(&reply)),
        (400, "bad_request".into())
    );
    let failing = json!([{"component": "Page"}, {"component": "Missing", "props": {}}]);
    let reply = admin(
        "PUT",
        &samples_path,
        Some(TOKEN),
        failing.to_string().as_bytes(),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);
    let reply = upload(&server, good.as_bytes());
    assert_eq!(
        (reply.status, error_code(&reply)),
        (422, "bundle_refused".into())
    );
    assert!(reply.body.contains("Missing"), "{}", reply.body);

    // Apps: an unknown bundle, a bad name, an unknown app.
    let reply = point(&server, "shop", b"never uploaded");
    assert_eq!(
        (reply.status, error_code(&reply)),
        (404, "unknown_bundle".into())
    );
    let reply = point(&server, "no/such", a.as_bytes());
    assert_eq!(
        reply.status, 404,
        "a path segment, so no route: {}",
        reply.body
    );
    let reply = point(&server, "caf%C3%A9", a.as_bytes());
    assert_eq!(
        (reply.status, error_code(&reply)),
        (400, "bad_request".into())
    );
    let reply = admin("DELETE", "/admin/apps/default", Some(TOKEN), b"");
    assert_eq!(
        (reply.status, error_code(&reply)),
        (400, "bad_request".into())
    );
    let reply = admin(
        "DELETE",
        &format!("/admin/bundles/{}", sha(a.as_bytes())),
        Some(TOKEN),
        b"",
    );
    assert_eq!(
        (reply.status, error_code(&reply)),
        (409, "bundle_in_use".into())
    );
    let reply = render(&server, json!({"component": "Page", "app": "shop"}));
    assert_eq!(
        (reply.status, error_code(&reply)),
        (404, "unknown_app".into())
    );
    let reply = render(&server, json!({"component": "Page", "bundle": "sha256:00"}));
    assert_eq!(
        (reply.status, error_code(&reply)),
        (400, "bad_request".into())
    );

    // Nothing changed: the app serves its bundle, the service is ready,
    // and no refused bundle is stored.
    let (label, _) = parse_page(&page(&server, "default")).unwrap();
    assert_eq!(label, "A");
    assert_eq!(get(&server.url("/ready")).status, 200);
    let apps = admin("GET", "/admin/apps", Some(TOKEN), b"").json();
    assert_eq!(apps, json!({"apps": {"default": sha(a.as_bytes())}}));
    assert_eq!(server.pool.bundles().len(), 1);
    let stored = files.stored();
    assert!(
        stored.iter().all(|f| f.ends_with(".samples.json")),
        "refused bundles stay stored: {stored:?}"
    );
}

#[test]
fn the_admin_api_is_off_without_a_token() {
    let files = Files::new();
    let a = counting_source("A");
    let setup = ServerSetup {
        admin_token_file: None,
        ..files.setup()
    };
    let server = TestServer::start(files.write("a.js", a.as_bytes()), setup);
    let reply = upload(&server, a.as_bytes());
    assert_eq!(
        (reply.status, error_code(&reply)),
        (404, "not_found".into())
    );
    let reply = send("GET", &server.url("/admin/apps"), Some(TOKEN), b"");
    assert_eq!(reply.status, 404);
}

#[test]
fn apps_render_their_bundles_over_the_native_and_hypernova_apis() {
    let files = Files::new();
    let basic = fixture_path("basic");
    let pages = std::fs::read(fixture_path("pages")).unwrap();
    let server = TestServer::start(basic.clone(), files.setup());
    assert_eq!(upload(&server, &pages).status, 201);
    assert_eq!(point(&server, "shop", &pages).status, 200);

    let table = node_html(&fixture_path("pages"), &[Job::new("Table", json!({}))]);
    let hello = node_html(&basic, &[Job::new("Hello", json!({"name": "Ada"}))]);
    let reply = render(&server, json!({"component": "Table", "app": "shop"}));
    assert_eq!(reply.body, table[0]);
    let reply = render(
        &server,
        json!({"component": "Table", "bundle": format!("sha256:{}", sha(&pages))}),
    );
    assert_eq!(reply.body, table[0]);
    let reply = render(
        &server,
        json!({"component": "Hello", "props": {"name": "Ada"}}),
    );
    assert_eq!(reply.body, hello[0]);

    let batch = json!({"t": {"name": "Table", "data": {}}}).to_string();
    let reply = post(&server.url("/apps/shop/batch"), &batch, None);
    assert_eq!(reply.json()["results"]["t"]["html"], table[0]);
    let reply = post(&server.url("/batch"), &batch, None);
    assert_eq!(
        reply.json()["results"]["t"]["success"],
        false,
        "default has no Table"
    );
    let reply = post(&server.url("/apps/nope/batch"), &batch, None);
    assert_eq!(
        (reply.status, error_code(&reply)),
        (404, "unknown_app".into())
    );

    let metrics = get(&server.url("/metrics")).body;
    for (app, count) in [("shop", 2), ("", 1)] {
        let line = format!(
            "ssr_app_renders_total{{app=\"{app}\",bundle=\"{}\",outcome=\"ok\"}} {count}",
            sha(&pages)
        );
        assert!(metrics.contains(&line), "{line} not in\n{metrics}");
    }
    assert!(metrics.contains(&format!(
        "ssr_app_bundle_info{{app=\"shop\",bundle=\"{}\"}} 1",
        sha(&pages)
    )));
}

#[test]
fn a_restart_keeps_apps_and_bundles_and_deleted_ones_are_gone() {
    let files = Files::new();
    let (a, b, c) = (
        counting_source("A"),
        counting_source("B"),
        counting_source("C"),
    );
    let a_path = files.write("a.js", a.as_bytes());
    {
        let server = TestServer::start(a_path.clone(), files.setup());
        assert_eq!(upload(&server, b.as_bytes()).status, 201);
        assert_eq!(upload(&server, c.as_bytes()).status, 201);
        assert_eq!(point(&server, "default", b.as_bytes()).status, 200);
        assert_eq!(point(&server, "shop", c.as_bytes()).status, 200);
    }
    // The same command line: the apps serve what they served.
    {
        let server = TestServer::start(a_path.clone(), files.setup());
        server.wait_ready();
        assert_eq!(parse_page(&page(&server, "default")).unwrap().0, "B");
        let (label, n) = parse_page(&page(&server, "shop")).unwrap();
        assert_eq!(label, "C");
        assert!(n > WARMUP, "a restored app is warm before it is ready");
        // Delete: refused while in use; then gone from memory and disk.
        let c_path = format!("/admin/bundles/{}", sha(c.as_bytes()));
        let reply = send("DELETE", &server.url(&c_path), Some(TOKEN), b"");
        assert_eq!(reply.status, 409);
        let reply = send("DELETE", &server.url("/admin/apps/shop"), Some(TOKEN), b"");
        assert_eq!(reply.status, 204, "{}", reply.body);
        let reply = send("DELETE", &server.url(&c_path), Some(TOKEN), b"");
        assert_eq!(reply.status, 204, "{}", reply.body);
        assert_eq!(files.stored(), vec![format!("{}.js", sha(b.as_bytes()))]);
        assert_eq!(server.pool.bundles().len(), 1);
        let reply = render(
            &server,
            json!({"component": "Page", "bundle": format!("sha256:{}", sha(c.as_bytes()))}),
        );
        assert_eq!(
            (reply.status, error_code(&reply)),
            (404, "unknown_bundle".into())
        );
        assert_eq!(
            send("GET", &server.url(&c_path), Some(TOKEN), b"").status,
            404
        );
    }
    // A new --bundle (a deploy by restart): default follows it, and the
    // bundle default served before is no longer kept.
    let d_path = files.write("d.js", counting_source("D").as_bytes());
    let server = TestServer::start(d_path, files.setup());
    server.wait_ready();
    assert_eq!(parse_page(&page(&server, "default")).unwrap().0, "D");
    let reply = render(&server, json!({"component": "Page", "app": "shop"}));
    assert_eq!(reply.status, 404);
    assert!(files.stored().is_empty(), "{:?}", files.stored());
}
