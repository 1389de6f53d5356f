//! Error stacks of a minified bundle with a source map name the original
//! sources and functions, as Node's `--enable-source-maps` shows them: for a
//! map named by the bundle's sourceMappingURL comment, an inline map, and a
//! map beside the bundle; a bundle without a map or with a broken one keeps
//! V8's stack.

use std::path::Path;
use std::process::Command;

use e2e::server::{post, ServerSetup, TestServer};
use e2e::{existing, fixture_path, repo_root, test_config};
use serde_json::json;

/// The stack the render's error response carries (`--debug-errors`).
fn stack_of(bundle: &Path) -> String {
    let server = TestServer::start(
        bundle.to_owned(),
        ServerSetup {
            config: test_config(1),
            debug_errors: true,
            ..ServerSetup::default()
        },
    );
    let body = json!({"component": "PriceTag", "props": {"price": -1}}).to_string();
    let reply = post(&server.url("/render"), &body, None);
    assert_eq!(reply.status, 500, "{}", reply.body);
    let error = reply.json()["error"].clone();
    error["details"]["stack"]
        .as_str()
        .unwrap_or_else(|| panic!("no stack in {error}"))
        .to_owned()
}

/// Node's mapped stack for the same render of `bundle`.
fn node_stack(bundle: &Path) -> String {
    let out = Command::new("node")
        .arg("--enable-source-maps")
        .arg(repo_root().join("tests/node/mapped-stack.mjs"))
        .arg(bundle)
        .args(["PriceTag", r#"{"price":-1}"#])
        .output()
        .expect("node runs");
    String::from_utf8(out.stdout).unwrap()
}

/// The frames of the page's two functions (the top of the stack; how many
/// frames of the caller follow depends on who called the render).
fn own_frames(stack: &str) -> Vec<String> {
    stack
        .lines()
        .filter(|l| l.contains("src/mapped.jsx"))
        .map(|l| l.trim().to_owned())
        .take(2)
        .collect()
}

#[test]
fn stacks_of_a_mapped_bundle_name_the_original_sources_as_node_does() {
    let linked = fixture_path("mapped-linked");
    let expected = own_frames(&node_stack(&linked));
    assert_eq!(
        expected.len(),
        2,
        "Node maps the page's frames: {expected:?}"
    );
    assert!(expected[0].starts_with("at formatPrice ("), "{expected:?}");
    for name in ["mapped-linked", "mapped-inline", "mapped-beside"] {
        let stack = stack_of(&fixture_path(name));
        assert!(
            stack.starts_with("RangeError: negative price -1"),
            "{stack}"
        );
        assert_eq!(own_frames(&stack), expected, "{name}: {stack}");
    }
}

#[test]
fn stacks_of_a_mapped_module_bundle_name_the_original_sources_as_node_does() {
    let bundle = existing(
        repo_root().join("tests/fixtures/build/mapped-esm/server.mjs"),
        "run tests/setup.sh",
    )
    .unwrap();
    let expected = own_frames(&node_stack(&bundle));
    assert_eq!(
        expected.len(),
        2,
        "Node maps the module's frames: {expected:?}"
    );
    let stack = stack_of(&bundle);
    assert!(
        stack.starts_with("RangeError: negative price -1"),
        "{stack}"
    );
    assert_eq!(own_frames(&stack), expected, "{stack}");
}

#[test]
fn a_bundle_without_a_map_or_with_a_broken_one_keeps_v8s_stack() {
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(fixture_path("mapped-beside")).unwrap();
    let plain = dir.path().join("plain.js");
    std::fs::write(&plain, &source).unwrap();
    let broken = dir.path().join("broken.js");
    std::fs::write(&broken, &source).unwrap();
    std::fs::write(dir.path().join("broken.js.map"), "{not a map").unwrap();
    for bundle in [plain, broken] {
        let stack = stack_of(&bundle);
        let name = bundle.display().to_string();
        assert!(own_frames(&stack).is_empty(), "{stack}");
        assert!(stack.lines().nth(1).unwrap().contains(&name), "{stack}");
    }
}
