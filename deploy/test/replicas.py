#!/usr/bin/env python3
"""Three `ssr-pool serve` replicas behind HAProxy on loopback, under steady
load: a rolling restart loses no request, and a replica killed outright
costs at most the requests it had in flight.

    deploy/test/replicas.py            # SSR_POOL_BIN picks the binary

What a Kubernetes Deployment does, played by hand:
1. `ssr-pool warm` writes the code cache once, as the image build does;
   three replicas (one worker each) start from it.
2. HAProxy (deploy/test/haproxy.cfg.in) balances over them, health-checking
   /ready, retrying refused or empty answers on another replica.
3. Steady load: POST /render of the example app's Home page at a fixed rate.
4. Rolling restart: each replica in turn gets SIGTERM, exits, starts again
   and becomes ready before the next one stops. No request may fail.
5. SIGKILL one replica, later start it again. Requests in flight on it at
   the kill may fail and are counted; every request sent after the kill
   must succeed.

Prints requests, failures and latency percentiles per phase, HAProxy's
retry and redispatch counts, and per replica its stop and start times.
There are no timing assertions.
"""

import csv
import io
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from load import Load, home_bodies, percentile
from service import Service, binary, free_port

HERE = Path(__file__).resolve().parent

RATE = 200  # requests per second through HAProxy
THREADS = 8
STEADY_S = 6.0
SETTLE_S = 3.0
KILLED_DOWN_S = 3.0  # how long the killed replica stays dead

checks_passed = []
checks_failed = []


def check(ok: bool, what: str):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    (checks_passed if ok else checks_failed).append(what)


class HAProxy:
    def __init__(self, directory: Path, servers):
        self.dir = directory
        self.port = free_port()
        lines = [f"    server {s.name} 127.0.0.1:{s.port} check" for s in servers]
        cfg = (HERE / "haproxy.cfg.in").read_text()
        cfg = cfg.replace("@DIR@", str(directory)).replace("@PORT@", str(self.port)).replace("@SERVERS@", "\n".join(lines))
        self.cfg = directory / "haproxy.cfg"
        self.cfg.write_text(cfg)
        self.log = directory / "haproxy.log"
        self.proc = None

    def start(self):
        exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
        check_cfg = subprocess.run([exe, "-c", "-f", str(self.cfg)], capture_output=True, text=True)
        if check_cfg.returncode != 0:
            raise RuntimeError(f"haproxy rejects its configuration:\n{check_cfg.stdout}{check_cfg.stderr}")
        log = open(self.log, "wb")
        self.proc = subprocess.Popen([exe, "-db", "-f", str(self.cfg)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 10
        while not (self.dir / "admin.sock").exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"haproxy did not start; see {self.log}")
            time.sleep(0.05)
        return self

    def command(self, cmd: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(str(self.dir / "admin.sock"))
            s.sendall(cmd.encode() + b"\n")
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks).decode()

    def stats(self) -> dict:
        """Per server of the backend: status, retries, redispatches,
        sessions."""
        text = self.command("show stat").lstrip("# ")
        out = {}
        for row in csv.DictReader(io.StringIO(text)):
            if row["pxname"] == "replicas":
                out[row["svname"]] = row
        return out

    def status(self, server: str) -> str:
        return self.stats()[server]["status"]

    def wait_status(self, server: str, want: str, timeout: float = 30.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.status(server).startswith(want):
                return time.monotonic() - started
            time.sleep(0.005)
        raise RuntimeError(f"haproxy: {server} not {want} after {timeout} s")

    def counters(self) -> tuple:
        b = self.stats()["BACKEND"]
        return int(b["wretr"] or 0), int(b["wredis"] or 0)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def summary(samples: list, t0: float, t1: float) -> dict:
    window = [s for s in samples if t0 <= s.start < t1]
    lat = [s.latency * 1000 for s in window if s.ok]
    return {
        "requests": len(window),
        "failed": sum(1 for s in window if not s.ok),
        "p50": percentile(lat, 50),
        "p99": percentile(lat, 99),
        "max": max(lat) if lat else float("nan"),
        "seconds": t1 - t0,
    }


def row(name: str, s: dict, extra: str = "") -> str:
    return (
        f"| {name} | {s['seconds']:.1f} | {s['requests']} | {s['failed']} | "
        f"{s['p50']:.1f} | {s['p99']:.1f} | {s['max']:.1f} | {extra} |"
    )


def main():
    if not (shutil.which("haproxy") or Path("/usr/sbin/haproxy").exists()):
        print("FAIL haproxy is not installed (apt-get install haproxy; .ci/run does it)")
        print("0 passed, 1 failed")
        sys.exit(1)
    exe = binary()
    print(f"binary: {exe}")
    print(f"load: {RATE} req/s over {THREADS} keep-alive connections, POST /render Home")
    tmp = Path(tempfile.mkdtemp(prefix="ssr-replicas-"))
    cache = tmp / "cache"
    warm = subprocess.run([exe, "warm", "--cache-dir", str(cache)], capture_output=True, text=True)
    check(warm.returncode == 0, "ssr-pool warm wrote the code cache")
    replicas = [
        Service(f"r{i}", free_port(), tmp, ["--workers", "1", "--cache-dir", str(cache), "--shutdown-timeout-secs", "10"])
        for i in (1, 2, 3)
    ]
    proxy = HAProxy(tmp, replicas)
    load = None
    keep = False
    try:
        for r in replicas:
            r.start()
        for r in replicas:
            r.wait_ready()
        proxy.start()
        for r in replicas:
            proxy.wait_status(r.name, "UP")

        load = Load(proxy.port, RATE, THREADS, home_bodies()).start()
        t_start = time.monotonic()
        time.sleep(STEADY_S)

        # Rolling restart.
        t_roll = time.monotonic()
        retr0 = proxy.counters()
        roll_notes = []
        exit_codes = []
        for r in replicas:
            t = time.monotonic()
            code = r.terminate()
            stopped = time.monotonic() - t
            exit_codes.append(code)
            # HAProxy must see it gone before it comes back, as endpoints
            # drop a terminating pod.
            out = proxy.wait_status(r.name, "DOWN") + stopped
            r.start()
            ready = r.wait_ready()
            up = proxy.wait_status(r.name, "UP") + ready
            roll_notes.append(
                f"{r.name}: exit {code} {stopped:.2f} s after SIGTERM, out of rotation after {out:.2f} s; "
                f"restarted: ready after {ready:.2f} s, in rotation after {up:.2f} s"
            )
        t_roll_end = time.monotonic()
        retr1 = proxy.counters()
        time.sleep(SETTLE_S)

        # One replica killed, at a moment it has requests in flight (as
        # HAProxy counts them) when there is one within 5 s.
        victim = replicas[1]
        deadline = time.monotonic() + 5.0
        on_victim = 0
        while time.monotonic() < deadline:
            on_victim = int(proxy.stats()[victim.name]["scur"] or 0)
            if on_victim:
                break
            time.sleep(0.001)
        t_kill = time.monotonic()
        victim.kill()
        t_dead = time.monotonic()
        down_after = proxy.wait_status(victim.name, "DOWN")
        time.sleep(KILLED_DOWN_S)
        t_restart = time.monotonic()
        victim.start()
        victim.wait_ready()
        proxy.wait_status(victim.name, "UP")
        t_back = time.monotonic()
        time.sleep(SETTLE_S)
        t_end = time.monotonic()
        retr2 = proxy.counters()

        load.stop()
        t_stop = time.monotonic()
        samples = load.snapshot()
        served_after_roll = {s.detail for s in samples if s.ok and t_roll_end <= s.start < t_kill}
        served_after_back = {s.detail for s in samples if s.ok and t_back <= s.start < t_end}

        metrics = [r.metrics() for r in replicas]
        final_codes = []
        for r in replicas:
            final_codes.append(r.terminate())

        steady = summary(samples, t_start, t_roll)
        roll = summary(samples, t_roll, t_roll_end)
        after = summary(samples, t_roll_end, t_kill)
        kill = summary(samples, t_kill, t_back)
        back = summary(samples, t_back, t_end)
        total = summary(samples, t_start, t_stop)
        # In flight: sent before the process was gone, answered after the
        # SIGKILL was sent.
        in_flight = [s for s in samples if s.start < t_dead and s.start + s.latency > t_kill]
        in_flight_failed = [s for s in in_flight if not s.ok]
        later_failed = [s for s in samples if s.start >= t_dead and not s.ok]
        before_failed = [s for s in samples if t_roll_end <= s.start and s.start + s.latency <= t_kill and not s.ok]

        print()
        print("| phase | s | requests | failed | p50 ms | p99 ms | max ms | notes |")
        print("|---|---|---|---|---|---|---|---|")
        print(row("steady, 3 replicas", steady))
        print(row("rolling restart", roll, f"HAProxy retries {retr1[0] - retr0[0]}, redispatches {retr1[1] - retr0[1]}"))
        print(row("after the roll", after))
        print(
            row(
                "SIGKILL r2 until back in rotation",
                kill,
                f"{on_victim} in flight on r2 at the kill, {len(in_flight)} in all; {len(in_flight_failed)} failed; "
                f"marked DOWN after {down_after * 1000:.0f} ms; HAProxy retries {retr2[0] - retr1[0]}, redispatches {retr2[1] - retr1[1]}",
            )
        )
        print(row("after r2 restarted", back))
        print(row("total", total))
        print()
        for note in roll_notes:
            print(f"roll {note}")
        print(
            f"kill r2: gone {(t_dead - t_kill) * 1000:.0f} ms after SIGKILL, restarted {t_restart - t_kill:.1f} s after it, "
            f"back in rotation {t_back - t_restart:.2f} s later"
        )
        for f in (in_flight_failed + later_failed + before_failed)[:10]:
            print(f"failed request at +{f.start - t_start:.2f} s: {f.detail}")
        print()

        check(total["requests"] > 0 and steady["requests"] > 0, f"load ran ({total['requests']} requests)")
        check(steady["failed"] == 0, "no failed request at steady state")
        check(roll["failed"] == 0, f"no failed request during the rolling restart ({roll['requests']} requests)")
        check(all(c == 0 for c in exit_codes), f"SIGTERM: every replica exited 0 ({exit_codes})")
        check(served_after_roll == {r.name for r in replicas}, f"every restarted replica took traffic ({sorted(served_after_roll)})")
        check(not before_failed, "no failed request between the roll and the kill")
        check(not later_failed, f"SIGKILL: no request sent after the kill failed ({len(later_failed)} failed)")
        print(f"     SIGKILL: {on_victim} request(s) in flight on r2 at the kill; {len(in_flight_failed)} of the {len(in_flight)} in flight anywhere failed (allowed)")
        check(victim.name in served_after_back, "the killed replica serves again after its restart")
        check(all(c == 0 for c in final_codes), f"final SIGTERM: every replica exited 0 ({final_codes})")
        hits = [sum(v for k, v in m.items() if k.startswith('ssr_code_cache_total{outcome="hit"')) for m in metrics]
        misses = [sum(v for k, v in m.items() if k.startswith("ssr_code_cache_total") and 'outcome="hit"' not in k) for m in metrics]
        check(all(h > 0 for h in hits) and not any(misses), f"every replica loaded the bundle from the warm code cache (hits {hits}, other outcomes {misses})")
    except Exception as e:  # a broken harness is a failure, with its logs kept
        keep = True
        check(False, f"replica test aborted: {e}")
    finally:
        if load:
            load.stop()
        proxy.stop()
        for r in replicas:
            r.stop_quietly()
        if checks_failed:
            keep = True
        if keep:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"replicas: {len(checks_passed)} passed, {len(checks_failed)} failed")
    sys.exit(1 if checks_failed else 0)


if __name__ == "__main__":
    threading.excepthook = lambda args: print(f"thread error: {args.exc_value}")
    main()
