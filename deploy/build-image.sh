#!/usr/bin/env bash
# Builds the image from the repository root, giving the build the prebuilt
# V8 of ../shared/v8 when the repository sits beside such a folder
# (machines without the V8 download); elsewhere the `v8` crate downloads
# its library as usual. Extra arguments go to `docker build`.
#
#   deploy/build-image.sh -t ssr-pool:dev
#   deploy/build-image.sh -t my-ssr --build-arg BUNDLE=web/dist/server.js --build-arg SAMPLES=web/samples.json
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="$(cd "$root/.." && pwd)/shared"
context=()
if [[ -f "$shared/v8/src_binding_release_x86_64-unknown-linux-gnu.rs" ]]; then
  context=(--build-context "shared=$shared")
fi
exec docker build "${context[@]}" "$@" "$root"
