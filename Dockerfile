# syntax=docker/dockerfile:1.7
#
# The ssr-pool image: the release binary on Debian slim, running as a
# non-root user on a read-only root file system, with the bundle and its
# V8 code cache baked in so every replica starts warm.
#
#   docker build -t ssr-pool .
#   docker build --build-context shared=../shared -t ssr-pool .
#   deploy/build-image.sh -t ssr-pool    # adds that context when ../shared/v8 exists
#   docker build --build-arg BUNDLE=web/dist/server.js \
#                --build-arg SAMPLES=web/ssr-samples.json -t my-ssr .
#
#   docker run --rm --read-only -p 3000:3000 \
#       -v ssr-pool-cache:/var/cache/ssr-pool ssr-pool
#
# deploy/README.md tells how the code cache travels with the image and the
# other way to run it (bundle and cache from a volume).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# The prebuilt V8 for the `v8` crate, where the repository sits beside a
# shared/ folder holding one (shared/v8). Empty unless the build is given
# `--build-context shared=<that shared/ folder>`; then the normal download
# is used.
FROM scratch AS shared

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY . .
RUN --mount=type=bind,from=shared,target=/shared \
    --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    if [ -f /shared/v8/src_binding_release_x86_64-unknown-linux-gnu.rs ]; then \
        export RUSTY_V8_ARCHIVE=/shared/v8; \
    fi \
    && cargo build --release --locked -p ssr-api \
    && install -D -m 0755 target/release/ssr-pool /out/ssr-pool

FROM debian:${DEBIAN_RELEASE}-slim AS runtime

# The bundle baked into the image and its warm-up samples, paths in the
# build context. The defaults are the example app the binary also embeds;
# a bundle without samples can pass a file holding `[]` (every registered
# component is then rendered with {}).
ARG BUNDLE=examples/app/dist/server.js
ARG SAMPLES=examples/app/samples.json

RUN groupadd --system --gid 10001 ssr \
    && useradd --system --uid 10001 --gid ssr --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin ssr \
    && install -d -o 10001 -g 10001 -m 0755 /var/cache/ssr-pool

COPY --from=build /out/ssr-pool /usr/local/bin/ssr-pool
COPY ${BUNDLE} /opt/ssr-pool/bundle/server.js
COPY ${SAMPLES} /opt/ssr-pool/bundle/samples.json

# Every setting is also an environment variable. V8 flags belong here, not
# on the Kubernetes command line: they are part of the code-cache key, so
# `warm` below and `serve` must run with the same ones.
ENV SSR_POOL_BUNDLE=/opt/ssr-pool/bundle/server.js \
    SSR_POOL_SAMPLES=/opt/ssr-pool/bundle/samples.json \
    SSR_POOL_CACHE_DIR=/var/cache/ssr-pool \
    SSR_POOL_LISTEN=0.0.0.0:3000 \
    SSR_POOL_LOG_JSON=true

USER 10001:10001

# Compile the bundle, render the samples and write the V8 code cache into
# the image, so replicas load the bundle from the cache instead of
# compiling it cold. This also fails the build when a sample does not
# render.
RUN ["ssr-pool", "warm"]

# The cache directory must stay writable (a miss or a rejected entry is
# rewritten). Docker seeds a new named volume with the cache baked above;
# Kubernetes copies it into an emptyDir with an init container
# (deploy/k8s/base/deployment.yaml).
VOLUME ["/var/cache/ssr-pool"]

EXPOSE 3000
ENTRYPOINT ["ssr-pool"]
CMD ["serve"]
