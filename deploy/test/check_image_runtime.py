#!/usr/bin/env python3
"""Plays the image's runtime without Docker: what the Dockerfile's final
stage and the Deployment set up, done with the same user, settings and
commands on this machine.

    deploy/test/.venv/bin/python deploy/test/check_image_runtime.py

Needs root (a private mount namespace and setpriv); without it, says so and
skips. The image's paths are placed under a temporary directory.

1. Image build: the binary, BUNDLE and SAMPLES copied in as the Dockerfile
   copies them; the cache directory owned by the image's USER; the
   Dockerfile's warm RUN executed as that user with the image's ENV only.
2. Pod start, in a private mount namespace: an empty tmpfs (the emptyDir)
   owned by that user, the Deployment's init container command copying the
   baked cache into it as that user, then every other mount remounted
   read-only (readOnlyRootFilesystem).
3. The container's ENTRYPOINT and CMD with the image's and the Deployment's
   environment: it must become ready from the baked code cache (hit, no
   miss), render, write nothing outside the volume, and exit 0 on SIGTERM.
"""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from check_dockerfile import env_values, instructions, stages  # noqa: E402
from service import binary, free_port, get  # noqa: E402

failures = []
passed = []


def check(ok: bool, what: str):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    (passed if ok else failures).append(what)


def exec_form(args: str) -> list:
    return json.loads(args)


def image() -> dict:
    text = (ROOT / "Dockerfile").read_text()
    final = stages(instructions(text))[-1]
    ins = final["instrs"]
    user = [a for w, a in ins if w == "USER"][-1]
    uid, _, gid = user.partition(":")
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    copies = {}
    for w, a in ins:
        m = re.fullmatch(r"\$\{(\w+)\}\s+(\S+)", a) if w == "COPY" else None
        if m:
            copies[m.group(2)] = ROOT / args[m.group(1)]
    warm = [exec_form(a) for w, a in ins if w == "RUN" and "warm" in a]
    return {
        "uid": uid,
        "gid": gid or uid,
        "env": env_values(final),
        "copies": copies,
        "warm": warm[0],
        "entrypoint": exec_form([a for w, a in ins if w == "ENTRYPOINT"][-1]),
        "cmd": exec_form([a for w, a in ins if w == "CMD"][-1]),
    }


def deployment() -> dict:
    docs = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "base" / "deployment.yaml").read_text())
    dep = next(d for d in docs if d and d["kind"] == "Deployment")
    return dep["spec"]["template"]["spec"]


def as_user(img, argv):
    return ["setpriv", f"--reuid={img['uid']}", f"--regid={img['gid']}", "--clear-groups", *argv]


def remap(value: str, base: Path) -> str:
    """An absolute image path placed under `base` (as text: a trailing
    `/.` matters to cp)."""
    return str(base) + value if value.startswith("/") else value


def inside(base: Path, volume: Path, logs: Path) -> int:
    """Pod start and the service, in the private mount namespace."""
    img = image()
    pod = deployment()
    cache_dir = img["env"]["SSR_POOL_CACHE_DIR"]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128m,mode=0755", "tmpfs", str(volume)], check=True)
    os.chown(volume, int(img["uid"]), int(img["gid"]))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(logs)], check=True)

    # The init container: its command, with the volume where it mounts it.
    init = pod["initContainers"][0]
    seed_at = next(m["mountPath"] for m in init["volumeMounts"])
    cmd = [remap(a, base) if a.startswith(cache_dir) else a for a in init["command"]]
    cmd = [str(volume) + a[len(seed_at):] if a.startswith(seed_at) else a for a in cmd]
    seeded = subprocess.run(as_user(img, cmd), capture_output=True, text=True)
    check(seeded.returncode == 0, f"init container {init['name']}: {' '.join(init['command'])}" + (f"\n{seeded.stderr}" if seeded.returncode else ""))

    # readOnlyRootFilesystem: every mount but the two tmpfs read-only.
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point in (str(volume), str(logs)) or point.startswith(("/proc", "/sys", "/dev")):
            continue
        subprocess.run(["mount", "-o", "remount,bind,ro", point], capture_output=True)
    probe = subprocess.run(as_user(img, ["touch", str(base / "written")]), capture_output=True)
    check(probe.returncode != 0, "the root file system is read-only for the service")

    main = next(c for c in pod["containers"] if c["name"] == "ssr-pool")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    env.update({k: remap(v, base) for k, v in img["env"].items()})
    env.update({e["name"]: e["value"] for e in main.get("env", [])})
    env["SSR_POOL_CACHE_DIR"] = str(volume)
    port = free_port()
    env["SSR_POOL_LISTEN"] = f"127.0.0.1:{port}"  # the image's 0.0.0.0, kept on loopback here
    argv = [str(base / "usr/local/bin" / img["entrypoint"][0]), *img["entrypoint"][1:], *main.get("args", img["cmd"])]
    log = open(logs / "serve.log", "wb")
    proc = subprocess.Popen(as_user(img, argv), env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            status, _ = get(port, "/ready", timeout=1)
            if status == 200:
                break
            time.sleep(0.05)
        check(status == 200, "the service becomes ready")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/render", body=b'{"component": "Home", "props": {}}')
        resp = conn.getresponse()
        html = resp.read().decode()
        check(resp.status == 200 and html.startswith("<"), "it renders Home")
        _, metrics = get(port, "/metrics")
        hits = re.search(r'ssr_code_cache_total\{outcome="hit"\} (\d+)', metrics)
        others = re.findall(r'ssr_code_cache_total\{outcome="(miss|rejected)"\} (\d+)', metrics)
        check(hits is not None and int(hits.group(1)) > 0 and not any(int(n) for _, n in others), f"every worker loaded the bundle from the baked code cache ({hits.group(0) if hits else 'no hit'})")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = "killed"
        log.close()
    check(code == 0, f"exit 0 on SIGTERM ({code})")
    text = (logs / "serve.log").read_text(errors="replace")
    bad = [line for line in text.splitlines() if '"level":"WARN"' in line or '"level":"ERROR"' in line]
    check(not bad, "no warning or error in its log" + "".join(f"\n       {b[:200]}" for b in bad[:5]))
    check(all(line.startswith("{") for line in text.splitlines() if line.strip()), "logs are JSON lines")
    return 1 if failures else 0


def main():
    if "--inside" in sys.argv:
        base, volume, logs = (Path(p) for p in sys.argv[sys.argv.index("--inside") + 1 :][:3])
        rc = inside(base, volume, logs)
        print(f"INSIDE {len(passed)} {len(failures)}")
        sys.exit(rc)
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"):
        print("skipped: needs root, unshare and setpriv (a private mount namespace)")
        sys.exit(0)
    img = image()
    tmp = Path(tempfile.mkdtemp(prefix="ssr-image-"))
    os.chmod(tmp, 0o755)
    try:
        base = tmp / "root"
        # Image build: the files the final stage copies, then its warm RUN.
        exe = base / "usr/local/bin/ssr-pool"
        exe.parent.mkdir(parents=True)
        shutil.copy2(binary(), exe)
        for dest, src in img["copies"].items():
            target = base / dest.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
        cache = base / img["env"]["SSR_POOL_CACHE_DIR"].lstrip("/")
        cache.mkdir(parents=True)
        os.chown(cache, int(img["uid"]), int(img["gid"]))
        for d in [base, *base.rglob("*")]:
            if d.is_dir():
                os.chmod(d, 0o755)
        env = {"PATH": "/usr/bin:/bin", **{k: remap(v, base) for k, v in img["env"].items()}}
        warm = img["warm"]
        warm = [str(exe) if a == "ssr-pool" else a for a in warm]
        built = subprocess.run(as_user(img, warm), env=env, capture_output=True, text=True, cwd=tmp)
        check(built.returncode == 0, f"image build: RUN {json.dumps(img['warm'])} as {img['uid']}" + (f"\n{built.stdout}{built.stderr}" if built.returncode else ""))
        check(any(cache.glob("*.code")), "the baked cache holds a code-cache file")

        volume, logs = tmp / "volume", tmp / "logs"
        volume.mkdir()
        logs.mkdir()
        run = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", sys.executable, __file__, "--inside", str(base), str(volume), str(logs)],
            capture_output=True,
            text=True,
        )
        out = run.stdout
        print("\n".join(line for line in out.splitlines() if not line.startswith("INSIDE")))
        if run.stderr.strip():
            print(run.stderr.strip())
        m = re.search(r"^INSIDE (\d+) (\d+)$", out, re.M)
        if not m:
            check(False, f"pod simulation aborted (exit {run.returncode})")
        else:
            passed.extend(["inside"] * int(m.group(1)))
            failures.extend(["inside"] * int(m.group(2)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"image runtime: {len(passed)} checks passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
