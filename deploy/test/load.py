"""A small paced HTTP load generator (standard library only).

Each thread keeps one keep-alive connection and sends POST /render
requests at its share of the target rate; every request is recorded with
its start time, latency and outcome.
"""

import http.client
import json
import threading
import time
from dataclasses import dataclass

from service import ROOT


@dataclass
class Sample:
    start: float  # time.monotonic() when the request was sent
    latency: float  # seconds
    ok: bool
    detail: str  # server name on success, status or error on failure


def home_bodies() -> list:
    """Render requests for the example app's Home page: the Home samples
    and the default props, as JSON bodies."""
    app = ROOT / "examples" / "app"
    samples = json.loads((app / "samples.json").read_text())
    props = [s["props"] for s in samples if s["component"] == "Home"]
    props.append(json.loads((app / "props" / "home.json").read_text()))
    return [json.dumps({"component": "Home", "props": p}).encode() for p in props]


class Load:
    def __init__(self, port: int, rate: float, threads: int, bodies: list, timeout: float = 30.0):
        self.port = port
        self.interval = threads / rate
        self.threads = threads
        self.bodies = bodies
        self.timeout = timeout
        self.samples = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers = []

    def start(self):
        for i in range(self.threads):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def stop(self):
        self._stop.set()
        for t in self._workers:
            t.join(timeout=self.timeout + 5)

    def snapshot(self) -> list:
        with self._lock:
            return list(self.samples)

    def _connect(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)

    def _run(self, index: int):
        conn = self._connect()
        # Spread the threads over one interval so the load is even.
        next_at = time.monotonic() + self.interval * index / self.threads
        n = index
        while not self._stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_at = max(next_at + self.interval, time.monotonic() - self.interval)
            body = self.bodies[n % len(self.bodies)]
            n += 1
            start = time.monotonic()
            try:
                conn.request(
                    "POST",
                    "/render",
                    body=body,
                    headers={"Content-Type": "application/json"},
                )
                resp = conn.getresponse()
                html = resp.read()
                server = resp.getheader("X-Served-By", "?")
                if resp.status == 200 and html.startswith(b"<"):
                    sample = Sample(start, time.monotonic() - start, True, server)
                else:
                    detail = f"HTTP {resp.status} from {server}: {html[:200]!r}"
                    sample = Sample(start, time.monotonic() - start, False, detail)
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = self._connect()
            except (OSError, http.client.HTTPException) as e:
                sample = Sample(start, time.monotonic() - start, False, f"{type(e).__name__}: {e}")
                conn.close()
                conn = self._connect()
            with self._lock:
                self.samples.append(sample)
        conn.close()


def percentile(values: list, p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]
