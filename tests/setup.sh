#!/usr/bin/env bash
# Installs the JavaScript dependencies of the test fixtures, the example app,
# the client packages in clients/, the Hypernova parity test in
# tests/hypernova and the runtime's Web APIs in pool/js (npm ci, only when
# node_modules is missing or package-lock.json changed since the last
# install) and builds the fixture bundles into tests/fixtures/build/. Safe to
# run repeatedly; a no-op install is skipped.
#
#   tests/setup.sh
#
# Needs node (>= 20) and npm on PATH.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

hash_file() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

install_deps() {
  local dir="$1"
  local lock="$dir/package-lock.json"
  local stamp="$dir/node_modules/.setup-lock-sha256"
  local want
  want="$(hash_file "$lock")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "setup: ${dir#"$root"/}: dependencies up to date"
    return
  fi
  echo "setup: ${dir#"$root"/}: npm ci"
  # --ignore-scripts: esbuild's postinstall only verifies/optimizes its
  # binary; the JS API locates the platform package (@esbuild/<os>-<arch>)
  # without it.
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  # A package without dependencies (clients/react) gets no node_modules.
  mkdir -p "$dir/node_modules"
  echo "$want" >"$stamp"
}

install_deps "$root/tests/fixtures"
# clients/react before examples/app, which links it as a file: dependency.
install_deps "$root/clients/react"
install_deps "$root/examples/app"
install_deps "$root/clients/node"
install_deps "$root/tests/hypernova"
install_deps "$root/pool/js"

node "$root/tests/fixtures/build.mjs"
