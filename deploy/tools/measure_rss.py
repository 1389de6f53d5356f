#!/usr/bin/env python3
"""Measures the memory of `ssr-pool serve` with the example bundle for a few
worker counts: process RSS (idle after warm-up, and after a load run), its
high-water mark, and what /metrics reports per isolate.

    deploy/tools/measure_rss.py [--workers 1,2,4] [--seconds 8]

The binary is $SSR_POOL_BIN, else target/release/ssr-pool, else
target/debug/ssr-pool. Prints a Markdown table and the per-worker slope
(least squares over the worker counts), the figure the Kubernetes memory
request is sized from (deploy/README.md).
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test"))

from load import Load, home_bodies  # noqa: E402
from service import Service, binary, free_port  # noqa: E402


def mib(kib: float) -> float:
    return kib / 1024


def slope(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    num = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    den = sum((x - mx) ** 2 for x in xs)
    b = num / den
    return b, my - b * mx


def measure(workers: int, seconds: float, cache_dir: str, log_dir: Path) -> dict:
    svc = Service(f"w{workers}", free_port(), log_dir, ["--workers", str(workers), "--cache-dir", cache_dir])
    svc.start()
    try:
        svc.wait_ready()
        time.sleep(0.5)
        idle_rss, _ = svc.rss_kib()
        load = Load(svc.port, rate=100000, threads=2 * workers, bodies=home_bodies()).start()
        series = []
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            time.sleep(min(5.0, seconds - (time.monotonic() - began)))
            series.append(round(mib(svc.rss_kib()[0])))
        load.stop()
        done = load.snapshot()
        rss, hwm = svc.rss_kib()
        m = svc.metrics()
        isolate = [v for k, v in m.items() if k.startswith("ssr_isolate_memory_bytes")]
        heap = [v for k, v in m.items() if k.startswith("ssr_heap_used_bytes")]
        return {
            "workers": workers,
            "idle": mib(idle_rss),
            "loaded": mib(rss),
            "hwm": mib(hwm),
            "renders_s": sum(1 for s in done if s.ok) / seconds,
            "failed": sum(1 for s in done if not s.ok),
            "isolate": sum(isolate) / len(isolate) / 2**20 if isolate else float("nan"),
            "heap": sum(heap) / len(heap) / 2**20 if heap else float("nan"),
            "series": series,
        }
    finally:
        svc.stop_quietly()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    print(f"binary: {binary()}")
    with tempfile.TemporaryDirectory(prefix="ssr-rss-") as tmp:
        cache_dir = str(Path(tmp) / "cache")
        subprocess.run([binary(), "warm", "--cache-dir", cache_dir], check=True, capture_output=True)
        rows = [measure(n, args.seconds, cache_dir, Path(tmp)) for n in counts]
    print()
    print("| workers | RSS idle MiB | RSS after load MiB | RSS high-water MiB | isolate memory MiB/worker | JS heap used MiB/worker | renders/s | failed |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['workers']} | {r['idle']:.1f} | {r['loaded']:.1f} | {r['hwm']:.1f} | "
            f"{r['isolate']:.1f} | {r['heap']:.1f} | {r['renders_s']:.0f} | {r['failed']} |"
        )
    print()
    for r in rows:
        print(f"RSS every 5 s under load, {r['workers']} worker(s): {r['series']} MiB")
    if len(rows) >= 2:
        xs = [r["workers"] for r in rows]
        for key in ("idle", "hwm"):
            b, a = slope(xs, [r[key] for r in rows])
            print(f"\n{key}: {a:.1f} MiB + {b:.1f} MiB per worker")


if __name__ == "__main__":
    main()
