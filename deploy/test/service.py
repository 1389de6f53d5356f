"""Start, probe and stop `ssr-pool serve` processes on loopback.

Shared by the replica test and the memory measurement. Standard library
only.
"""

import http.client
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def binary() -> str:
    """The service binary: $SSR_POOL_BIN, else target/release/ssr-pool when
    it exists, else target/debug/ssr-pool."""
    explicit = os.environ.get("SSR_POOL_BIN")
    if explicit:
        return explicit
    release = ROOT / "target" / "release" / "ssr-pool"
    if release.exists():
        return str(release)
    return str(ROOT / "target" / "debug" / "ssr-pool")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, timeout: float = 2.0):
    """(status, body) of GET http://127.0.0.1:port/path; (None, error) when
    the connection fails."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    except OSError as e:
        return None, str(e)
    finally:
        conn.close()


class Service:
    """One `ssr-pool serve` process on 127.0.0.1:port."""

    def __init__(self, name: str, port: int, log_dir: Path, args=(), env=None):
        self.name = name
        self.port = port
        self.log_path = log_dir / f"{name}.log"
        self.args = list(args)
        self.env = env
        self.proc = None
        self.starts = 0

    def start(self):
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"--- start {self.starts}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [binary(), "serve", "--listen", f"127.0.0.1:{self.port}", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Seconds until /ready answers 200; raises when the process exits
        or the timeout passes."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} before it was ready; see {self.log_path}"
                )
            status, _ = get(self.port, "/ready", timeout=1.0)
            if status == 200:
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout} s; see {self.log_path}")

    def terminate(self, timeout: float = 45.0) -> int:
        """SIGTERM, then wait for the exit; returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> int:
        self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop_quietly(self):
        if self.alive():
            try:
                self.terminate(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def rss_kib(self):
        """(VmRSS, VmHWM) of the process in KiB, from /proc."""
        fields = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = int(value.split()[0])
        return fields["VmRSS"], fields["VmHWM"]

    def metrics(self) -> dict:
        """The /metrics samples as {name{labels}: value}."""
        status, body = get(self.port, "/metrics")
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}: {body}")
        out = {}
        for line in body.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
        return out
