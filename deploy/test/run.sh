#!/usr/bin/env bash
# The deployment checks, as `make test` runs them:
#   dockerfile  hadolint and the image's contract (check_dockerfile.py)
#   manifests   kustomize renderings validated offline (check_manifests.py)
#   replicas    three replicas behind HAProxy: rolling restart and SIGKILL
#               under load (replicas.py)
# SSR_POOL_BIN names the service binary (default target/release/ssr-pool
# when present, else target/debug/ssr-pool). Installs its Python packages
# first (setup.sh); HAProxy must be installed (.ci/run does it).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/setup.sh" || exit 1
py="$here/.venv/bin/python"

passed=0
failed=0
names=()
for check in dockerfile manifests replicas; do
  case "$check" in
    dockerfile) script=check_dockerfile.py ;;
    manifests) script=check_manifests.py ;;
    replicas) script=replicas.py ;;
  esac
  echo
  echo "== deploy: $check"
  started=$SECONDS
  if "$py" "$here/$script"; then
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
echo "deploy: $passed passed, $failed failed"
((failed == 0))
