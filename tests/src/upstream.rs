//! The local HTTP upstream of the fetch tests and benchmarks
//! (`tests/node/upstream.mjs`), started on a free port.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::repo_root;
use crate::server::get;

/// The upstream server, stopped on drop.
pub struct Upstream {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub origin: String,
}

impl Upstream {
    pub fn start() -> Self {
        let mut child = Command::new("node")
            .arg(repo_root().join("tests/node/upstream.mjs"))
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("node starts the upstream");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .expect("upstream port");
        Self {
            child,
            origin: format!("http://127.0.0.1:{port}"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    pub fn stats(&self) -> Value {
        get(&self.url("/stats")).json()
    }

    /// Waits until the upstream has at most `idle` connections open (those
    /// the service's HTTP client keeps for reuse after whole responses;
    /// what renders left unfinished must be closed), failing after 5 s.
    pub fn wait_open_at_most(&self, idle: u64) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.stats()["openConnections"].as_u64().unwrap() > idle {
            let stats = self.stats();
            assert!(Instant::now() < deadline, "connections left open: {stats}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
