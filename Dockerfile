# The Ostrich-Legs coordinator as a container image: `docker build -t ostrich-legs .`, then
# `docker compose up -d` (compose.yaml) or
# `docker run -d -p 8443:8443 -p 8080:8080 -v ostrich-data:/data -e OSTRICH_PUBLIC_URL=https://<LAN IP>:8443 ostrich-legs`.
# The builder compiles the browser app and a static musl binary; the image holds only that
# binary. Machines that cannot pull base images use scripts/image.sh instead.

FROM rust:1-bookworm AS builder
RUN rustup target add wasm32-unknown-unknown "$(uname -m)-unknown-linux-musl" \
    && apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The registry and target caches survive between builds (BuildKit or podman); the binary is
# copied out of the cached target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo xtask build-ui \
    && cargo build --release --locked --target "$(uname -m)-unknown-linux-musl" -p ostrich-coordinator \
    && mkdir -p /out/data \
    && strip --strip-debug -o /out/ostrich-coordinator \
        "target/$(uname -m)-unknown-linux-musl/release/ostrich-coordinator"

# The runtime: one static binary, a non-root user and its data volume. Keep it alike to
# scripts/Containerfile.prebuilt.
FROM scratch
COPY --from=builder --chown=65532:65532 /out/data/ /data/
COPY --from=builder /out/ostrich-coordinator /ostrich-coordinator
USER 65532:65532
ENV OSTRICH_BIND=0.0.0.0:8080 \
    OSTRICH_TLS=true \
    OSTRICH_TLS_BIND=0.0.0.0:8443 \
    OSTRICH_DATA_DIR=/data
VOLUME /data
EXPOSE 8080 8443
ENTRYPOINT ["/ostrich-coordinator"]
