# syntax=docker/dockerfile:1
# sfu-server image: `docker build -t sfu-server .` at the repository root.
# Runs as a non-root user (65532) and reads its config from /etc/sfu/sfu.toml, where the
# Kubernetes manifests (k8s/) mount their ConfigMap; the image carries the same file. On its own:
#   docker run --rm --network host -e SFU_MEDIA__ANNOUNCE_IPS='["<host IP>"]' \
#     -e SFU_AUTH__KEYS__PROD="$(openssl rand -hex 32)" sfu-server
# Arguments replace the default command: `... sfu-server check-config --config /etc/sfu/sfu.toml`
# prints the effective configuration (secrets redacted) and exits.

# --- build: the release binary, with the crates.io and target caches kept between builds.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p sfu-server \
    && install -D -m 0755 target/release/sfu-server /out/sfu-server

# --- runtime: glibc and libgcc only (what the binary links), no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/sfu-server /usr/local/bin/sfu-server
# The config Kubernetes mounts from the ConfigMap; a copy of it for `docker run` on its own.
COPY k8s/base/sfu.toml /etc/sfu/sfu.toml
USER 65532:65532
# HTTP: REST API, WebSocket signalling, /healthz, /readyz, /metrics. UDP: all media.
EXPOSE 7880/tcp 7882/udp
ENTRYPOINT ["/usr/local/bin/sfu-server"]
CMD ["--config", "/etc/sfu/sfu.toml"]
