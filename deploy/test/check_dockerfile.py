#!/usr/bin/env python3
"""Checks the Dockerfile and .dockerignore without a Docker engine.

    deploy/test/.venv/bin/python deploy/test/check_dockerfile.py

1. hadolint (with ShellCheck on every RUN) passes with deploy/test/hadolint.yaml,
   and fails on a Dockerfile with known faults (so a silent linter cannot pass).
2. The image is what the deployment relies on: a multi-stage build of the
   release binary, the prebuilt V8 taken when the shared context holds one,
   a non-root final user, `ssr-pool warm` run at build as that user, the
   cache directory a volume, the listen port exposed, the same cache path
   the Kubernetes manifests mount.
3. The build context that .dockerignore leaves holds every file the build
   reads (each workspace member's manifest and sources, the files the
   crates include at compile time, the default bundle and samples) and
   none of target/ or node_modules/.
"""

import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HADOLINT = HERE / ".venv" / "bin" / "hadolint"
CONFIG = HERE / "hadolint.yaml"

failures = []
passed = []


def check(ok: bool, what: str):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    (passed if ok else failures).append(what)


def hadolint(path: Path):
    return subprocess.run([str(HADOLINT), "--no-color", "-c", str(CONFIG), str(path)], capture_output=True, text=True)


# ------------------------------------------------------------ Dockerfile


def instructions(text: str) -> list:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments
    dropped."""
    out, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        word, _, rest = current.partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    return out


def stages(instrs: list) -> list:
    result = []
    for word, args in instrs:
        if word == "FROM":
            result.append({"from": args, "instrs": []})
        elif result:
            result[-1]["instrs"].append((word, args))
    return result


def env_values(stage) -> dict:
    env = {}
    for word, args in stage["instrs"]:
        if word == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", args):
                env[key] = value
    return env


def check_dockerfile():
    text = (ROOT / "Dockerfile").read_text()
    lint = hadolint(ROOT / "Dockerfile")
    check(lint.returncode == 0, "hadolint: Dockerfile passes" + ("" if lint.returncode == 0 else "\n" + lint.stdout + lint.stderr))
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "Dockerfile"
        bad.write_text("FROM debian:latest\nRUN apt-get install curl\nUSER root\nCMD curl $URL\n")
        lint = hadolint(bad)
        found = set(re.findall(r"\b(DL\d{4}|SC\d{4})\b", lint.stdout))
        check(lint.returncode != 0 and {"DL3007", "DL3002"} <= found, f"hadolint: a faulty Dockerfile fails ({', '.join(sorted(found))})")

    all_stages = stages(instructions(text))
    check(len([s for s in all_stages if not s["from"].startswith("scratch")]) >= 2, "multi-stage build")
    build = next((s for s in all_stages if re.search(r"\bAS build\b", s["from"])), None)
    final = all_stages[-1]
    check(build is not None and build["from"].startswith("rust:"), "a Rust build stage")
    runs = " ".join(a for w, a in (build or {"instrs": []})["instrs"] if w == "RUN")
    check("cargo build --release" in runs and "-p ssr-api" in runs, "builds the release binary of ssr-api")
    check(
        "from=shared" in runs and "RUSTY_V8_ARCHIVE=/shared/v8" in runs and re.search(r"if \[ -f /shared/v8/\S+ \]", runs) is not None,
        "RUSTY_V8_ARCHIVE set only when the shared context holds the prebuilt V8",
    )
    check(any(re.fullmatch(r"scratch AS shared", s["from"]) for s in all_stages), "the shared context defaults to an empty stage")
    check("slim" in final["from"], f"slim runtime stage ({final['from']})")

    users = [a for w, a in final["instrs"] if w == "USER"]
    user = users[-1] if users else "root"
    check(user.split(":")[0] not in ("root", "0") and user.split(":")[0].isdigit(), f"final user is numeric and not root ({user})")
    words = [w for w, _ in final["instrs"]]
    warm = [i for i, (w, a) in enumerate(final["instrs"]) if w == "RUN" and "warm" in a and "ssr-pool" in a]
    user_at = max((i for i, (w, _) in enumerate(final["instrs"]) if w == "USER"), default=len(words))
    check(bool(warm) and warm[0] > user_at, "`ssr-pool warm` runs at build, as the service's user")

    env = env_values(final)
    cache = env.get("SSR_POOL_CACHE_DIR")
    volumes = " ".join(a for w, a in final["instrs"] if w == "VOLUME")
    check(cache is not None and cache in volumes, f"cache directory {cache} is a volume")
    check(not warm or not volumes or words.index("VOLUME") > warm[0], "VOLUME comes after the warm step (the baked cache stays in the image)")
    k8s = (ROOT / "deploy" / "k8s" / "base" / "deployment.yaml").read_text()
    check(cache is not None and f"mountPath: {cache}" in k8s, "the Kubernetes Deployment mounts the same cache directory")
    listen = env.get("SSR_POOL_LISTEN", "")
    exposed = " ".join(a for w, a in final["instrs"] if w == "EXPOSE")
    check(listen.startswith("0.0.0.0:") and listen.split(":")[1] in exposed.split(), f"listens on all interfaces on the exposed port ({listen})")
    check(env.get("SSR_POOL_BUNDLE", "").startswith("/") and env.get("SSR_POOL_SAMPLES", "").startswith("/"), "bundle and samples baked at absolute paths")
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    for name in ("BUNDLE", "SAMPLES"):
        check(name in args and (ROOT / args[name]).is_file(), f"build arg {name} defaults to a file of the repository ({args.get(name)})")
    check(("ENTRYPOINT", '["ssr-pool"]') in final["instrs"] and ("CMD", '["serve"]') in final["instrs"], "entrypoint ssr-pool, command serve (exec form)")


# ---------------------------------------------------------- .dockerignore


def ignore_patterns() -> list:
    out = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def pattern_regex(pattern: str):
    negate = pattern.startswith("!")
    pattern = pattern.lstrip("!").strip("/")
    rx = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            rx += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            rx += ".*"
            i += 2
        elif pattern[i] == "*":
            rx += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            rx += "[^/]"
            i += 1
        else:
            rx += re.escape(pattern[i])
            i += 1
    return negate, re.compile(rx)


def excluded(path: str, rules) -> bool:
    """Docker's rule: the last pattern matching the path or one of its
    parent directories decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for negate, rx in rules:
        if any(rx.fullmatch(p) for p in prefixes):
            result = not negate
    return result


def check_dockerignore():
    rules = [pattern_regex(p) for p in ignore_patterns()]
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    context = {f for f in files if not excluded(f, rules)}

    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    needed = ["Cargo.toml", "Cargo.lock"]
    for member in workspace:
        needed.append(f"{member}/Cargo.toml")
        sources = [f for f in files if f.startswith(f"{member}/src/")]
        missing = [f for f in sources if f not in context]
        check(bool(sources) and not missing, f".dockerignore keeps {member}/src ({len(sources)} files)" + (f": missing {missing[:3]}" if missing else ""))
    for crate in ("bundles", "cache", "pool", "ssr-api"):
        for rs in (ROOT / crate / "src").rglob("*.rs"):
            for inc in re.findall(r'include_(?:str|bytes)!\("([^"]+)"\)', rs.read_text()):
                needed.append(str((rs.parent / inc).resolve().relative_to(ROOT)))
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M))
    needed += [args["BUNDLE"], args["SAMPLES"]]
    missing = [f for f in needed if f not in context]
    check(not missing, f".dockerignore keeps the {len(needed)} files the build reads" + (f": missing {missing}" if missing else ""))
    for heavy in ("target/release/ssr-pool", "examples/app/node_modules/react/package.json", ".git/HEAD", "tests/fixtures/build/x.js"):
        check(excluded(heavy, rules), f".dockerignore leaves out {heavy}")


def main():
    if not HADOLINT.exists():
        sys.exit("hadolint missing: run deploy/test/setup.sh")
    version = subprocess.run([str(HADOLINT), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"linter: {version}")
    check_dockerfile()
    check_dockerignore()
    print(f"Dockerfile: {len(passed)} checks passed, {len(failures)} failed")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
