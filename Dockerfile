# syntax=docker/dockerfile:1.7
# The one Basalt image: a static `basalt` binary (musl, rustls with ring: no OpenSSL, no libc at
# run time) on distroless/static, running as the non-root user 65532. Every component is a
# subcommand: the Helm chart runs `basalt controller` and `basalt webhook` from this image.
#
#   docker build -t basalt:dev .
#   docker run --rm basalt:dev --help

ARG RUST_VERSION=1.95

# ---- build: compile a statically linked release binary ----------------------------------
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
ARG TARGETARCH
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
# Map Docker's architecture name (the platform being built) to Rust's musl target.
RUN case "${TARGETARCH:-amd64}" in \
      amd64) echo x86_64-unknown-linux-musl > /rust-target ;; \
      arm64) echo aarch64-unknown-linux-musl > /rust-target ;; \
      *) echo "unsupported TARGETARCH ${TARGETARCH}" >&2; exit 1 ;; \
    esac \
 && rustup target add "$(cat /rust-target)"
WORKDIR /src
COPY . .
# Cache the registry and target directory between builds; copy the binary out of the cache mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    target="$(cat /rust-target)" \
 && cargo build --release --locked -p basalt --bin basalt --target "$target" \
 && install -D -m 0755 "target/$target/release/basalt" /out/basalt \
 && (ldd /out/basalt 2>&1 | grep -q 'not a dynamic executable\|statically linked') \
 && /out/basalt --version

# ---- run: distroless static, non-root, nothing but the binary -----------------------------
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="basalt" \
      org.opencontainers.image.description="Volcano-compatible batch and GPU scheduler and operator suite for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/basalt /usr/local/bin/basalt
# 65532 = distroless "nonroot"; the chart's podSecurityContext uses the same uid/gid.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/basalt"]
CMD ["--help"]
