#!/usr/bin/env python3
"""Renders the Kubernetes manifests and validates them offline.

    deploy/test/.venv/bin/python deploy/test/check_manifests.py

1. Renders deploy/k8s with kustomize: the base, every overlay, and the base
   with each component on its own (so a component no overlay uses is still
   checked).
2. Validates every object against the Kubernetes OpenAPI schemas of the
   oldest and newest versions supported (kubernetes-validate, strict: an
   unknown or misspelt field fails), and ServiceMonitors against the
   prometheus-operator models (unknown fields fail too). A kind with no
   schema fails: nothing is skipped.
3. Checks what no schema can: the timings, sizes, selectors and ports that
   must agree with one another and with the service (deploy/README.md
   explains each rule).

Exits non-zero on the first rendering error or after listing every failed
check; prints one line per check.
"""

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import kubernetes_validate
import yaml
from cloudcoil.models.prometheus_operator.v1 import ServiceMonitor

HERE = Path(__file__).resolve().parent
K8S = HERE.parent / "k8s"

# Kubernetes versions the manifests are written for: the preStop `sleep`
# action is on by default from 1.30.
K8S_VERSIONS = ["1.30.0", "1.37.0"]

# What the image and the service fix (Dockerfile, ssr-api settings).
CACHE_DIR = "/var/cache/ssr-pool"
CONTAINER_PORT = 3000
DEFAULT_SHUTDOWN_TIMEOUT_S = 30
POOL_STOP_GRACE_S = 5  # ssr-api/src/startup.rs POOL_STOP_GRACE
DEFAULT_HEAP_LIMIT_MB = 512
# The near-heap-limit callback grants 25% more heap once to let a
# terminated script unwind; ArrayBuffers have a budget equal to the heap
# limit. Per worker: 1.25 H + H.
WORKER_CEILING_FACTOR = 2.25
# Process memory besides the isolates (binary, HTTP side, caches), from
# the RSS measurement in deploy/README.md, rounded up.
PROCESS_BASE_MIB = 64

failures = []
passed = []
VERBOSE = "-v" in sys.argv[1:]


def check(ok: bool, what: str):
    if VERBOSE or not ok:
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
    (passed if ok else failures).append(what)


# ---------------------------------------------------------------- rendering


def renderer() -> list:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    for kubectl in (HERE / ".venv" / "bin" / "kubectl", shutil.which("kubectl")):
        if kubectl and Path(kubectl).exists():
            return [str(kubectl), "kustomize"]
    sys.exit("no kustomize renderer: run deploy/test/setup.sh")


def render(directory: Path) -> list:
    out = subprocess.run(renderer() + [str(directory)], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"kustomize failed on {directory}:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def render_base_with(component: Path, tmp: Path) -> list:
    root = tmp / component.name
    root.mkdir()
    rel = lambda p: str(Path(*[".."] * len(root.relative_to("/").parts)) / p.relative_to("/"))  # noqa: E731
    (root / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [rel(K8S / "base")],
                "components": [rel(component)],
            }
        )
    )
    return render(root)


# --------------------------------------------------------------- validation


def unknown_fields(given, parsed, path=""):
    """Paths present in `given` but dropped by the model (unknown fields)."""
    if isinstance(given, dict) and isinstance(parsed, dict):
        out = []
        for key, value in given.items():
            if key not in parsed:
                out.append(f"{path}.{key}")
            else:
                out += unknown_fields(value, parsed[key], f"{path}.{key}")
        return out
    if isinstance(given, list) and isinstance(parsed, list):
        out = []
        for i, (g, p) in enumerate(zip(given, parsed)):
            out += unknown_fields(g, p, f"{path}[{i}]")
        return out
    return []


def validate(doc: dict) -> list:
    """Error messages for one object (empty when valid)."""
    errors = []
    if doc.get("apiVersion") == "monitoring.coreos.com/v1" and doc.get("kind") == "ServiceMonitor":
        try:
            model = ServiceMonitor.model_validate(doc)
        except Exception as e:  # pydantic.ValidationError
            return [str(e)]
        dumped = model.model_dump(by_alias=True, exclude_unset=True, mode="json")
        return [f"unknown field {p}" for p in unknown_fields(doc, dumped)]
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = ".".join(str(p) for p in e.path)
            errors.append(f"k8s {version}: {where}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            errors.append(f"k8s {version}: no schema: {e.message}")
    return errors


def name_of(doc: dict) -> str:
    meta = doc.get("metadata", {})
    return f"{doc.get('kind')}/{meta.get('name') or meta.get('generateName', '?')}"


# ------------------------------------------------------------------ semantics


def quantity_mib(q: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]i?)?", str(q))
    if not m:
        raise ValueError(f"unsupported quantity {q}")
    return float(m.group(1)) * units.get(m.group(2) or "", 1 / 2**20)


def cpu_cores(q: str) -> float:
    q = str(q)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def check_env_references(label: str, container: dict):
    """$(VAR) in env values, command and args must name a variable defined
    earlier in the list (Kubernetes leaves the text as is otherwise)."""
    defined = []
    for e in container.get("env", []):
        for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", e.get("value", "")):
            check(ref in defined, f"{label}: {container['name']} env {e['name']} refers to ${ref} defined before it")
        defined.append(e["name"])
    for text in container.get("command", []) + container.get("args", []):
        for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", text):
            check(ref in defined, f"{label}: {container['name']} command refers to ${ref}, which it defines")


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def check_semantics(label: str, docs: list):
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    deployments = by_kind.get("Deployment", [])
    check(len(deployments) == 1, f"{label}: one Deployment")
    if not deployments:
        return
    dep = deployments[0]
    pod = dep["spec"]["template"]["spec"]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    check(matches(dep["spec"]["selector"]["matchLabels"], pod_labels), f"{label}: Deployment selector matches its pods")
    main = next(c for c in pod["containers"] if c["name"] == "ssr-pool")
    env = env_of(main)

    # Security: non-root, read-only root, the cache a writable volume.
    sc = {**pod.get("securityContext", {}), **main.get("securityContext", {})}
    check(sc.get("runAsNonRoot") is True and sc.get("runAsUser", 0) != 0, f"{label}: runs as a non-root user")
    check(main.get("securityContext", {}).get("readOnlyRootFilesystem") is True, f"{label}: read-only root file system")
    for c in pod.get("initContainers", []):
        check(c.get("securityContext", {}).get("readOnlyRootFilesystem") is True, f"{label}: init {c['name']} read-only root")
    mounts = {m["mountPath"]: m for m in main.get("volumeMounts", [])}
    cache_dir = env.get("SSR_POOL_CACHE_DIR", CACHE_DIR)
    cache_mount = mounts.get(cache_dir)
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    check(
        cache_mount is not None and not cache_mount.get("readOnly") and "emptyDir" in volumes.get(cache_mount["name"], {}),
        f"{label}: cache dir {cache_dir} is a writable emptyDir",
    )
    seed = [c for c in pod.get("initContainers", []) if any(m["name"] == (cache_mount or {}).get("name") for m in c.get("volumeMounts", []))]
    check(len(seed) == 1, f"{label}: an init container seeds the cache volume with the warm code cache")

    # Probes.
    def probe_path(probe):
        return main.get(probe, {}).get("httpGet", {}).get("path")

    check(probe_path("startupProbe") == "/ready", f"{label}: startupProbe on /ready")
    check(probe_path("readinessProbe") == "/ready", f"{label}: readinessProbe on /ready")
    check(probe_path("livenessProbe") == "/health", f"{label}: livenessProbe on /health")
    ports = {p["name"]: p["containerPort"] for p in main.get("ports", [])}
    check(ports.get("http") == CONTAINER_PORT, f"{label}: container port http = {CONTAINER_PORT}")
    listen = env.get("SSR_POOL_LISTEN")
    check(listen is None or listen.endswith(f":{CONTAINER_PORT}"), f"{label}: listens on the container port")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        check(main.get(probe, {}).get("httpGet", {}).get("port") in ("http", CONTAINER_PORT), f"{label}: {probe} on the http port")

    # Shutdown: the grace period covers preStop + HTTP drain + pool stop.
    pre_stop = main.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    shutdown = int(env.get("SSR_POOL_SHUTDOWN_TIMEOUT_SECS", DEFAULT_SHUTDOWN_TIMEOUT_S))
    grace = pod.get("terminationGracePeriodSeconds", 30)
    needed = pre_stop + shutdown + POOL_STOP_GRACE_S
    check(pre_stop > 0, f"{label}: preStop delay ({pre_stop} s)")
    check(grace > needed, f"{label}: terminationGracePeriodSeconds {grace} > preStop {pre_stop} + shutdown {shutdown} + pool stop {POOL_STOP_GRACE_S} = {needed}")
    strategy = dep["spec"].get("strategy", {}).get("rollingUpdate", {})
    check(strategy.get("maxUnavailable") == 0, f"{label}: rollouts keep every replica until its successor is ready")

    # Resources: one worker per requested core; the memory limit covers
    # every worker at its heap ceiling.
    workers = int(env.get("SSR_POOL_WORKERS", "0"))
    heap = int(env.get("SSR_POOL_HEAP_LIMIT_MB", DEFAULT_HEAP_LIMIT_MB))
    res = main.get("resources", {})
    check(workers > 0, f"{label}: SSR_POOL_WORKERS set explicitly ({workers})")
    check(cpu_cores(res.get("requests", {}).get("cpu", "0")) == workers, f"{label}: CPU request = workers")
    limit = quantity_mib(res.get("limits", {}).get("memory", "0"))
    ceiling = PROCESS_BASE_MIB + workers * WORKER_CEILING_FACTOR * heap
    check(limit >= ceiling, f"{label}: memory limit {limit:.0f} MiB >= {PROCESS_BASE_MIB} + {workers} x {WORKER_CEILING_FACTOR} x {heap} = {ceiling:.0f} MiB")
    request = quantity_mib(res.get("requests", {}).get("memory", "0"))
    check(0 < request <= limit, f"{label}: memory request {request:.0f} MiB within the limit")

    # Environment references.
    for c in pod.get("initContainers", []) + pod.get("containers", []):
        check_env_references(label, c)

    # Everything that selects the pods selects these pods, on the right port.
    for svc in by_kind.get("Service", []):
        check(matches(svc["spec"]["selector"], pod_labels), f"{label}: Service {svc['metadata']['name']} selects the pods")
        check(all(p.get("targetPort") in ("http", CONTAINER_PORT) for p in svc["spec"]["ports"]), f"{label}: Service targets the http port")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        check(matches(pdb["spec"]["selector"]["matchLabels"], pod_labels), f"{label}: PodDisruptionBudget selects the pods")
    for np in by_kind.get("NetworkPolicy", []):
        check(matches(np["spec"]["podSelector"]["matchLabels"], pod_labels), f"{label}: NetworkPolicy applies to the pods")
        rules = np["spec"].get("ingress", [])
        check(rules and all(r.get("from") for r in rules), f"{label}: NetworkPolicy admits only listed peers")
        check(all(p.get("port") in ("http", CONTAINER_PORT) for r in rules for p in r.get("ports", [])), f"{label}: NetworkPolicy opens only the http port")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        ref = hpa["spec"]["scaleTargetRef"]
        check(ref["kind"] == "Deployment" and ref["name"] == dep["metadata"]["name"], f"{label}: HPA scales the Deployment")
        check("replicas" not in dep["spec"], f"{label}: Deployment leaves the replica count to the HPA")
        pdb_max = [p["spec"].get("maxUnavailable") for p in by_kind.get("PodDisruptionBudget", [])]
        check(all(hpa["spec"]["minReplicas"] > (m or 0) + 1 for m in pdb_max), f"{label}: HPA minimum leaves >= 2 replicas during a disruption")
        kinds = {m["type"] for m in hpa["spec"]["metrics"]}
        check("Resource" in kinds, f"{label}: HPA scales on CPU")
    services = by_kind.get("Service", [])
    for sm in by_kind.get("ServiceMonitor", []):
        sel = sm["spec"]["selector"]["matchLabels"]
        targets = [s for s in services if matches(sel, s["metadata"].get("labels", {}))]
        check(len(targets) == 1, f"{label}: ServiceMonitor selects the Service")
        names = {p["name"] for s in targets for p in s["spec"]["ports"]}
        check(all(e.get("port") in names and e.get("path") == "/metrics" for e in sm["spec"]["endpoints"]), f"{label}: ServiceMonitor scrapes /metrics on a Service port")


def check_validators_reject():
    """The validators are not vacuous: a misspelt field, a wrong type and an
    unknown kind fail."""
    dep = yaml.safe_load((K8S / "base" / "deployment.yaml").read_text())
    dep["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    check(bool(validate(dep)), "validator rejects a misspelt Deployment field")
    hpa = yaml.safe_load((K8S / "base" / "hpa.yaml").read_text())
    hpa["spec"]["minReplicas"] = "three"
    check(bool(validate(hpa)), "validator rejects a string where an integer belongs")
    sm = yaml.safe_load((K8S / "components" / "servicemonitor" / "servicemonitor.yaml").read_text())
    sm["spec"]["endpoints"][0]["intervall"] = "15s"
    check(bool(validate(sm)), "validator rejects a misspelt ServiceMonitor field")
    sm = yaml.safe_load((K8S / "components" / "servicemonitor" / "servicemonitor.yaml").read_text())
    sm["spec"]["endpoints"][0]["interval"] = "15 seconds"
    check(bool(validate(sm)), "validator rejects a malformed ServiceMonitor interval")
    check(bool(validate({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})), "validator rejects a kind it has no schema for")


# --------------------------------------------------------------------- main


def main():
    tool = renderer()
    version = subprocess.run(tool[:1] + (["version", "--client"] if tool[1] == "kustomize" else ["version"]), capture_output=True, text=True).stdout
    kustomize_version = re.search(r"v\d+\.\d+\.\d+", version.split("Kustomize")[-1])
    print(f"renderer: {' '.join(tool)} (kustomize {kustomize_version.group(0) if kustomize_version else '?'})")
    print(f"schemas: Kubernetes {', '.join(K8S_VERSIONS)} (kubernetes-validate, strict); ServiceMonitor: prometheus-operator models")
    rendered = {"base": render(K8S / "base")}
    for overlay in sorted((K8S / "overlays").iterdir()):
        rendered[f"overlays/{overlay.name}"] = render(overlay)
    with tempfile.TemporaryDirectory(prefix="ssr-kustomize-") as tmp:
        for component in sorted((K8S / "components").iterdir()):
            rendered[f"base+{component.name}"] = render_base_with(component, Path(tmp))

    for label, docs in rendered.items():
        before = len(passed) + len(failures)
        for doc in docs:
            errors = validate(doc)
            check(not errors, f"{label}: {name_of(doc)} valid" + ("".join(f"\n       {e}" for e in errors)))
        check_semantics(label, docs)
        kinds = ", ".join(sorted({d["kind"] for d in docs}))
        print(f"{label}: {len(docs)} objects ({kinds}); {len(passed) + len(failures) - before} checks")

    check_validators_reject()

    # Files applied on their own.
    job = yaml.safe_load((K8S / "overlays" / "bundle-volume" / "warm-job.yaml").read_text())
    errors = validate(job)
    check(not errors, f"overlays/bundle-volume/warm-job.yaml: {name_of(job)} valid" + "".join(f"\n       {e}" for e in errors))
    for c in job["spec"]["template"]["spec"]["containers"]:
        check_env_references("warm-job", c)

    # Off by default: the admin token only with its component.
    def mounts_secret(docs):
        dep = next(d for d in docs if d["kind"] == "Deployment")
        return any("secret" in v for v in dep["spec"]["template"]["spec"].get("volumes", []))

    check(not mounts_secret(rendered["base"]), "admin token: base mounts no Secret")
    check(not any(mounts_secret(d) for k, d in rendered.items() if k.startswith("overlays/")), "admin token: no overlay enables it")
    with_token = rendered["base+admin-token"]
    dep = next(d for d in with_token if d["kind"] == "Deployment")
    spec = dep["spec"]["template"]["spec"]
    secret_vols = {v["name"]: v["secret"] for v in spec["volumes"] if "secret" in v}
    main_c = next(c for c in spec["containers"] if c["name"] == "ssr-pool")
    token_file = env_of(main_c).get("SSR_POOL_ADMIN_TOKEN_FILE", "")
    mount = next((m for m in main_c["volumeMounts"] if m["name"] in secret_vols), None)
    item_paths = [f"{mount['mountPath']}/{i['path']}" for i in secret_vols.get(mount["name"] if mount else "", {}).get("items", [])]
    check(mount is not None and mount.get("readOnly") is True and token_file in item_paths, f"admin token: SSR_POOL_ADMIN_TOKEN_FILE ({token_file}) is the mounted Secret key")

    # The queue-depth metric the HPA asks for is the one the adapter rule
    # serves, and it is built from a metric the service exports.
    hpa = next(d for d in rendered["base+queue-depth-hpa"] if d["kind"] == "HorizontalPodAutoscaler")
    pods_metrics = [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    adapter = yaml.safe_load((K8S / "components" / "queue-depth-hpa" / "prometheus-adapter-values.yaml").read_text())
    served = {r["name"]["as"]: r["seriesQuery"] for r in adapter["rules"]["custom"]}
    check(pods_metrics and all(m in served for m in pods_metrics), f"queue depth: HPA metric {pods_metrics} served by the adapter rule")
    check(all("ssr_queue_depth" in served[m] for m in pods_metrics if m in served), "queue depth: the rule reads ssr_queue_depth")
    check(any(m["type"] == "Resource" for m in hpa["spec"]["metrics"]), "queue depth: CPU stays a signal")

    objects = sum(len(d) for d in rendered.values()) + 1
    print(f"{len(rendered)} renderings, {objects} objects: {len(passed)} checks passed, {len(failures)} failed")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
