//! The servers under test, started as child processes on loopback ports:
//! the service (`ssr-pool serve`), the Node `cluster` baseline (B2), the
//! isolated-vm baseline (B3), and the Node streaming server of the
//! streaming benchmark.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::repo_root;

use crate::http::{self, Call};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Kind {
    Service,
    NodeCluster,
    IsolatedVm,
    /// `renderToPipeableStream` behind `cluster`, on the streaming page
    /// only (it takes no bundle).
    NodeStream,
    /// The same for the page that fetches its data (Node's own fetch).
    NodeFetch,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::NodeCluster => "B2 node cluster",
            Kind::IsolatedVm => "B3 isolated-vm",
            Kind::NodeStream => "node cluster, renderToPipeableStream",
            Kind::NodeFetch => "node cluster, renderToPipeableStream + fetch",
        }
    }
}

/// A running server; killed on drop.
pub struct Server {
    pub addr: SocketAddr,
    child: Child,
    /// Time from spawn to the first successful render.
    pub cold_start: Duration,
}

/// isolated-vm's memory limit (MiB): the service's default heap limit. It also
/// sizes the young generation: at 128 MiB isolated-vm renders the table page
/// about 2.3x slower than at 512.
pub const IVM_MEMORY_LIMIT_MB: usize = 512;

pub fn service_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    e2e::existing(
        exe.with_file_name("ssr-pool"),
        "build it with `cargo build --release -p ssr-api`",
    )
}

/// The command line that starts `kind` on `port` (the service from
/// `service` when given, else from the build next to this program).
fn command(
    kind: Kind,
    service: Option<&Path>,
    port: u16,
    bundle: &Path,
    workers: usize,
    service_args: &[String],
) -> Result<Command, String> {
    let workers = workers.to_string();
    let port = port.to_string();
    let mut cmd = match kind {
        Kind::Service => {
            let binary = match service {
                Some(path) => path.to_owned(),
                None => service_binary()?,
            };
            let mut c = Command::new(binary);
            let listen = format!("127.0.0.1:{port}");
            c.args(["serve", "--listen", &listen, "--workers", &workers]);
            // No cache unless the run gives the service one.
            if !service_args.iter().any(|a| a == "--cache-dir") {
                c.arg("--no-cache");
            }
            c.env("RUST_LOG", "warn");
            c
        }
        Kind::NodeCluster => {
            let mut c = Command::new("node");
            c.arg(repo_root().join("loadtest/node/cluster-server.mjs"));
            c.args(["--port", &port, "--workers", &workers]);
            c
        }
        Kind::IsolatedVm => {
            let mut c = Command::new("node");
            c.arg("--no-node-snapshot")
                .arg(repo_root().join("loadtest/node/ivm-server.mjs"));
            c.args(["--port", &port, "--isolates", &workers]);
            c.args(["--memory-limit", &IVM_MEMORY_LIMIT_MB.to_string()]);
            c
        }
        Kind::NodeStream | Kind::NodeFetch => {
            let script = match kind {
                Kind::NodeStream => "loadtest/node/stream-server.mjs",
                _ => "loadtest/node/fetch-server.mjs",
            };
            let mut c = Command::new("node");
            c.arg(repo_root().join(script));
            c.args(["--port", &port, "--workers", &workers]);
            return Ok(c);
        }
    };
    cmd.arg("--bundle").arg(bundle);
    if kind == Kind::Service {
        cmd.args(service_args);
    }
    Ok(cmd)
}

impl Server {
    /// Starts `kind` on `bundle` with `workers` workers (the service gets
    /// `service_args` too) and waits until a render of `probe` succeeds.
    pub async fn start(
        kind: Kind,
        bundle: &Path,
        workers: usize,
        probe: &Call,
        service_args: &[String],
    ) -> Result<Self, String> {
        Self::launch(kind, None, bundle, workers, probe, service_args).await
    }

    /// Starts the service built at `binary` (another version of it), as
    /// [`Server::start`] does.
    pub async fn start_service_from(
        binary: &Path,
        bundle: &Path,
        workers: usize,
        probe: &Call,
        service_args: &[String],
    ) -> Result<Self, String> {
        Self::launch(
            Kind::Service,
            Some(binary),
            bundle,
            workers,
            probe,
            service_args,
        )
        .await
    }

    async fn launch(
        kind: Kind,
        service: Option<&Path>,
        bundle: &Path,
        workers: usize,
        probe: &Call,
        service_args: &[String],
    ) -> Result<Self, String> {
        let port = e2e::free_port();
        let mut cmd = command(kind, service, port, bundle, workers, service_args)?;
        let started = Instant::now();
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", kind.label()))?;
        let mut server = Self {
            addr: ([127, 0, 0, 1], port).into(),
            child,
            cold_start: Duration::ZERO,
        };
        server.wait_ready(kind, probe, started).await?;
        Ok(server)
    }

    /// Waits for the first answered render of `probe` (the cold start,
    /// counted from `started`), then until every worker is ready.
    async fn wait_ready(
        &mut self,
        kind: Kind,
        probe: &Call,
        started: Instant,
    ) -> Result<(), String> {
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited during start-up: {status}", kind.label()));
            }
            if started.elapsed() > Duration::from_secs(120) {
                return Err(format!("{} did not start within 120 s", kind.label()));
            }
            if let Ok((200, _)) = http::request(self.addr, probe).await {
                self.cold_start = started.elapsed();
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Renders may be served before every worker is warm; wait for all.
        while !matches!(
            http::request(self.addr, &Call::get("/ready")).await,
            Ok((200, _))
        ) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if started.elapsed() > Duration::from_secs(120) {
                return Err(format!("{} never became ready", kind.label()));
            }
        }
        Ok(())
    }

    /// Resident memory of the server's process tree in KiB, and per process.
    pub fn rss_kib(&self) -> (u64, Vec<u64>) {
        let each: Vec<u64> = self.pids().iter().filter_map(|p| rss_of(*p)).collect();
        (each.iter().sum(), each)
    }

    /// CPU time (user + system) the server's process tree has used so far.
    pub fn cpu_time(&self) -> Duration {
        self.pids().into_iter().filter_map(cpu_time_of).sum()
    }

    /// The server's process and its descendants.
    fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.child.id()];
        let mut i = 0;
        while i < pids.len() {
            pids.extend(children(pids[i]));
            i += 1;
        }
        pids
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first so cluster primaries take their workers down.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Clock ticks per second of /proc/*/stat times (USER_HZ, 100 on Linux).
const USER_HZ: u64 = 100;

/// User + system time of `pid` (all its threads).
fn cpu_time_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields count from after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // utime and stime are fields 14 and 15 of proc(5); field 3 is index 0.
    let total = ticks(11)? + ticks(12)?;
    Some(Duration::from_millis(total * 1000 / USER_HZ))
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}
