//! ES module bundles: the example app built four ways (esbuild's IIFE,
//! esbuild's ES module, Vite's SSR build and Rollup's ES module output, both
//! an entry and a chunk) renders
//! Node's HTML byte for byte, served and after `warm` (with a code cache hit
//! for every module); imports resolve only inside the bundle; top-level
//! await, `import.meta.url` and `import()` behave as in Node; the bundle's
//! identity covers every file it is made of.

use std::path::{Path, PathBuf};

use bundles::{BundleFormat, DEFAULT_MAX_BUNDLE_BYTES};
use e2e::server::{metric, post, ServerSetup, TestServer};
use e2e::{existing, node_html, repo_root, run_node_script, test_config, Job};
use pool::{CacheOutcome, PoolConfig, RenderRequest};
use serde_json::json;

/// The example app's builds: (label, the bundle to load).
fn example_builds() -> Vec<(&'static str, PathBuf)> {
    let build = repo_root().join("tests/fixtures/build");
    [
        (
            "esbuild iife",
            repo_root().join("examples/app/dist/server.js"),
        ),
        ("esbuild esm", build.join("example-esm/server.mjs")),
        ("vite ssr", build.join("example-vite/server.js")),
        ("rollup esm", build.join("example-rollup/server.js")),
    ]
    .into_iter()
    .map(|(label, path)| (label, existing(path, "run tests/setup.sh").unwrap()))
    .collect()
}

/// A hand-written module bundle in `tests/fixtures/modules/NAME/`.
fn module_fixture(name: &str) -> PathBuf {
    let dir = repo_root().join("tests/fixtures/modules").join(name);
    ["entry.js", "entry.mjs"]
        .into_iter()
        .map(|entry| dir.join(entry))
        .find(|path| path.exists())
        .unwrap_or_else(|| panic!("no entry in {}", dir.display()))
}

/// The example's sample renders of whole pages (the streamed page's bytes
/// are compared with Node's stream in `streaming.rs`).
fn example_jobs() -> Vec<Job> {
    let samples = std::fs::read_to_string(repo_root().join("examples/app/samples.json")).unwrap();
    let samples: Vec<serde_json::Value> = serde_json::from_str(&samples).unwrap();
    let jobs: Vec<Job> = samples
        .iter()
        .map(|s| Job::new(s["component"].as_str().unwrap(), s["props"].clone()))
        .filter(|job| !job.component.ends_with("Streamed"))
        .collect();
    assert!(jobs.len() >= 4, "{jobs:?}");
    jobs
}

/// What Node renders for `jobs` when it imports the module bundle `entry`
/// itself (`tests/node/render-module.mjs`).
fn node_module_html(entry: &Path, jobs: &[Job]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jobs.json");
    let body: Vec<_> = jobs
        .iter()
        .map(|j| json!({"component": j.component, "props": j.props}))
        .collect();
    std::fs::write(&file, serde_json::to_vec(&body).unwrap()).unwrap();
    let out = run_node_script("render-module.mjs", [entry.as_os_str(), file.as_os_str()])
        .unwrap_or_else(|e| panic!("{e}"));
    let results: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
    results
        .iter()
        .map(|r| match r["html"].as_str() {
            Some(html) => html.to_owned(),
            None => panic!("node failed to render: {r}"),
        })
        .collect()
}

fn served_html(server: &TestServer, job: &Job) -> String {
    let body = json!({"component": job.component, "props": job.props}).to_string();
    let reply = post(&server.url("/render"), &body, None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

fn open(path: &Path) -> bundles::Bundle {
    pool::open_bundle(
        path,
        None,
        DEFAULT_MAX_BUNDLE_BYTES,
        pool::platform::DEFAULT_V8_FLAGS,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_example_app_serves_nodes_html_from_every_build() {
    let jobs = example_jobs();
    let builds = example_builds();
    let reference = node_html(&builds[0].1, &jobs);
    for (label, bundle) in &builds[1..] {
        assert_eq!(
            node_module_html(bundle, &jobs),
            reference,
            "{label}: Node renders the module build as the script"
        );
    }
    for (build, chunk) in [(&builds[2].1, "assets/vendor-"), (&builds[3].1, "vendor-")] {
        let bundle = open(build);
        assert_eq!(bundle.format(), BundleFormat::Module, "detected by parsing");
        let files: Vec<&str> = bundle.files().iter().map(|f| f.path()).collect();
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(files[1].starts_with(chunk), "{files:?}");
    }

    for (label, bundle) in builds {
        let server = TestServer::start(bundle, ServerSetup::default());
        for (job, expected) in jobs.iter().zip(&reference) {
            assert_eq!(&served_html(&server, job), expected, "{label}");
        }
        let format = if label.ends_with("iife") {
            "script"
        } else {
            "module"
        };
        let info = format!(
            "ssr_bundle_info{{bundle=\"{}\"",
            server.pool.bundle().hash()
        );
        let body = e2e::server::get(&server.url("/metrics")).body;
        let line = body.lines().find(|l| l.starts_with(&info));
        let line = line.unwrap_or_else(|| panic!("{label}: no {info} in /metrics"));
        assert!(line.contains(&format!("format=\"{format}\"")), "{line}");
    }
}

#[tokio::test]
async fn warm_caches_every_module_and_the_next_start_hits_for_all() {
    for (label, bundle) in &example_builds()[1..] {
        let dir = tempfile::tempdir().unwrap();
        let config = ssr_api::settings::ServiceConfig {
            bundle: Some(bundle.clone()),
            samples: Some(repo_root().join("examples/app/samples.json")),
            cache_dir: Some(dir.path().to_path_buf()),
            ..ssr_api::settings::ServiceConfig::example()
        };
        let pool = e2e::warm_then_start(&config).await;
        let load = pool.status().first_load.unwrap();
        assert_eq!(load.format, BundleFormat::Module, "{label}");
        assert_eq!(load.files, pool.bundle().files().len(), "{label}");
        assert_eq!(load.cache, CacheOutcome::Hit, "{label}: every module hit");
        let job = &example_jobs()[1];
        let html = pool
            .render(RenderRequest::new(&job.component, job.props.to_string()))
            .await
            .unwrap();
        assert_eq!(
            html.html,
            node_html(&example_builds()[0].1, std::slice::from_ref(job))[0]
        );
        pool.shutdown().await;
    }
}

#[test]
fn top_level_await_import_meta_and_import_behave_as_in_node() {
    let entry = module_fixture("features");
    let jobs = [
        Job::new("Features", json!({"name": "Ada"})),
        Job::new("OnDemand", json!({"name": "Ada"})),
        Job::new("OnDemand", json!({"name": "Grace"})),
        Job::new("Cycle", json!({})),
        Job::new("ImportThrows", json!({})),
    ];
    let expected = node_module_html(&entry, &jobs);
    assert!(expected[0].contains("/modules/features/lib/greet.js"));
    let server = TestServer::start(entry, ServerSetup::default());
    for (job, expected) in jobs.iter().zip(&expected) {
        assert_eq!(&served_html(&server, job), expected);
    }
    // Only files of the bundle import: not packages, not paths outside
    // it, not files beside it that nothing imported when it loaded.
    for (specifier, result) in [
        ("react", "<p>TypeError</p>"),
        ("../entry.js", "<p>TypeError</p>"),
        ("./nope.js", "<p>TypeError</p>"),
        ("./unused.js", "<p>TypeError</p>"),
        ("./lib/greet.js", "<p>imported</p>"),
    ] {
        let job = Job::new("ImportRefused", json!({ "specifier": specifier }));
        assert_eq!(served_html(&server, &job), result, "{specifier}");
    }
    // A chunk whose top-level await never settles fails that render only.
    let body = json!({"component": "ImportNeverSettles", "props": {}}).to_string();
    let reply = post(&server.url("/render"), &body, None);
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert!(reply.body.contains("never settles"), "{}", reply.body);
    assert_eq!(&served_html(&server, &jobs[0]), &expected[0]);
    assert_eq!(metric(&server, "ssr_isolate_restarts_total"), 0.0);
}

#[tokio::test]
async fn fresh_contexts_compile_the_modules_again_for_every_render() {
    let bundle = open(&module_fixture("features"));
    let config = PoolConfig {
        fresh_context: true,
        ..test_config(1)
    };
    let pool = e2e::start_pool(bundle, config).await;
    for name in ["Ada", "Grace", "Edsger"] {
        let props = json!({ "name": name }).to_string();
        let html = pool
            .render(RenderRequest::new("OnDemand", &props))
            .await
            .unwrap();
        assert_eq!(html.html, format!("<p>hello {name}, on demand</p>"));
        let html = pool
            .render(RenderRequest::new("Features", &props))
            .await
            .unwrap();
        assert!(html
            .html
            .starts_with(&format!("<p>hello {name}</p><p>en-GB</p>")));
    }
    pool.shutdown().await;
}

#[test]
fn bad_module_bundles_are_refused_at_start_naming_what_is_wrong() {
    let cases = [
        ("bare", "entry.mjs imports \"react\": a bare specifier"),
        (
            "absolute",
            "imports \"/srv/app/chunk.js\": only relative imports",
        ),
        (
            "outside",
            "imports \"../features/lib/greet.js\": that is outside the bundle's directory",
        ),
        (
            "missing",
            "imports \"./chunk-1a2b3c.js\": the bundle has no file chunk-1a2b3c.js",
        ),
        ("syntax", "has a syntax error at "),
        (
            "throws",
            "threw while loading: Error: the chunk failed while loading (at ",
        ),
        ("stalled", "its top-level await at "),
    ];
    for (name, expected) in cases {
        let entry = module_fixture(name);
        let error = match pool::open_bundle(
            &entry,
            None,
            DEFAULT_MAX_BUNDLE_BYTES,
            pool::platform::DEFAULT_V8_FLAGS,
        ) {
            Err(error) => error.to_string(),
            Ok(bundle) => {
                let started = pool::RenderPool::builder(bundle)
                    .config(test_config(1))
                    .start()
                    .expect("the pool starts its workers");
                let ready = tokio::runtime::Runtime::new()
                    .unwrap()
                    .block_on(started.wait_ready());
                ready.expect_err("the bundle does not load").to_string()
            }
        };
        assert!(error.contains(expected), "{name}: {error}");
    }
    let syntax = pool::open_bundle(
        &module_fixture("syntax"),
        None,
        DEFAULT_MAX_BUNDLE_BYTES,
        pool::platform::DEFAULT_V8_FLAGS,
    )
    .unwrap_err()
    .to_string();
    assert!(syntax.contains("syntax/broken.js:3:1"), "{syntax}");
}

#[test]
fn the_identity_of_a_module_bundle_is_every_file_it_is_made_of() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("features");
    copy_dir(&repo_root().join("tests/fixtures/modules/features"), &copy);
    let entry = copy.join("entry.js");
    let before = open(&entry);
    let mut paths: Vec<&str> = before.files().iter().map(|f| f.path()).collect();
    assert_eq!(paths.remove(0), "entry.js", "the entry comes first");
    paths.sort();
    assert_eq!(
        paths,
        [
            "cycle/a.js",
            "cycle/b.js",
            "lib/greet.js",
            "never-settles.js",
            "pages/on-demand.js",
            "settings.js",
            "throws-when-imported.js"
        ],
        "static and import() chunks, not unused.js"
    );

    std::fs::write(copy.join("unused.js"), "export const x = 2;").unwrap();
    assert_eq!(open(&entry).hash(), before.hash(), "unused.js is not in it");
    std::fs::write(
        copy.join("pages/on-demand.js"),
        "export const render = () => 'changed';",
    )
    .unwrap();
    assert_ne!(open(&entry).hash(), before.hash(), "a lazy chunk changed");
}

#[test]
fn the_format_is_detected_from_the_file_or_given() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, source: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, source).unwrap();
        path
    };
    let register = "SsrPool.register('P', () => '<p>p</p>');";
    let cases = [
        (write("script.js", register), BundleFormat::Script),
        (
            write("exports.js", &format!("{register} export {{}};")),
            BundleFormat::Module,
        ),
        (
            write("meta.js", &format!("{register} import.meta.url;")),
            BundleFormat::Module,
        ),
        (
            write("await.js", &format!("await 0; {register}")),
            BundleFormat::Module,
        ),
        (write("plain.mjs", register), BundleFormat::Module),
    ];
    for (path, format) in cases {
        assert_eq!(open(&path).format(), format, "{}", path.display());
    }
    let given = pool::open_bundle(
        &dir.path().join("script.js"),
        Some(BundleFormat::Module),
        DEFAULT_MAX_BUNDLE_BYTES,
        pool::platform::DEFAULT_V8_FLAGS,
    )
    .unwrap();
    assert_eq!(given.format(), BundleFormat::Module);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
