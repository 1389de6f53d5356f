#!/usr/bin/env bash
# The deployment checks, as `make test` runs them:
#   dockerfile  hadolint and the image's contract (check_dockerfile.py)
#   manifests   kustomize renderings validated offline (check_manifests.py)
#   image       the image's runtime played without Docker: warm as the
#               image's user, the init container's copy, a read-only root
#               (check_image_runtime.py; needs root, skipped otherwise)
#   replicas    three replicas behind HAProxy: rolling restart and SIGKILL
#               under load (replicas.py)
# SSR_POOL_BIN names the service binary (default target/release/ssr-pool
# when present, else target/debug/ssr-pool). Installs its Python packages
# first (setup.sh); HAProxy must be installed (.ci/run does it).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/setup.sh" || exit 1
py="$here/.venv/bin/python"
export PYTHONUNBUFFERED=1

passed=0
failed=0
skipped=0
names=()
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
for check in dockerfile manifests image replicas; do
  case "$check" in
    dockerfile) script=check_dockerfile.py ;;
    manifests) script=check_manifests.py ;;
    image) script=check_image_runtime.py ;;
    replicas) script=replicas.py ;;
  esac
  echo
  echo "== deploy: $check"
  started=$SECONDS
  if "$py" "$here/$script" | tee "$out"; [[ ${PIPESTATUS[0]} -eq 0 ]]; then
    if grep -q '^skipped:' "$out"; then
      skipped=$((skipped + 1))
      echo "== deploy: $check skipped"
      continue
    fi
    passed=$((passed + 1))
    echo "== deploy: $check passed ($((SECONDS - started)) s)"
  else
    failed=$((failed + 1))
    names+=("$check")
    echo "== deploy: $check FAILED ($((SECONDS - started)) s)"
  fi
done

echo
if ((failed)); then
  echo "failed: ${names[*]}"
fi
if ((skipped)); then
  echo "deploy: $passed passed, $failed failed, $skipped skipped"
else
  echo "deploy: $passed passed, $failed failed"
fi
((failed == 0))
