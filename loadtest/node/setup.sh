#!/usr/bin/env bash
# Installs the npm packages of the Node baseline servers (isolated-vm 5,
# compiled from source by node-gyp against the headers of the Node that is on
# PATH, so no download of headers or prebuilt binaries is needed).
#
#   loadtest/node/setup.sh
#
# Idempotent: does nothing when node_modules matches package-lock.json and
# isolated-vm loads in the current Node; otherwise runs `npm ci`, which builds
# isolated-vm (about 30 s on 2 cores). Needs node (>= 20), npm, python3 and a
# C++ toolchain (g++, make).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

hash_file() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# The lock file and the Node ABI decide whether the build is still good.
want="$(hash_file package-lock.json) $(node -p 'process.version + " abi" + process.versions.modules')"
stamp="node_modules/.setup-stamp"

loads() {
  node --no-node-snapshot -e 'require("isolated-vm")' >/dev/null 2>&1
}

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && loads; then
  echo "setup: loadtest/node: isolated-vm up to date"
  exit 0
fi

# The Node install prefix: the directory holding include/node/ (e.g. /usr for
# /usr/bin/node). node-gyp uses its headers instead of downloading them.
nodedir="$(node -p 'require("path").resolve(process.execPath, "..", "..")')"
if [[ -f "$nodedir/include/node/node_version.h" ]]; then
  export npm_config_nodedir="$nodedir"
else
  echo "setup: no Node headers under $nodedir/include/node; node-gyp will try to download them" >&2
fi
# Skip prebuild-install's download attempt and compile right away.
export npm_config_build_from_source=true

echo "setup: loadtest/node: npm ci (builds isolated-vm with node-gyp, nodedir=${npm_config_nodedir:-download})"
npm ci --no-audit --no-fund

if ! loads; then
  echo "setup: isolated-vm was installed but does not load in $(node --version)" >&2
  exit 1
fi
echo "$want" >"$stamp"
echo "setup: loadtest/node: isolated-vm ready"
