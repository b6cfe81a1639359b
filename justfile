# The project's menu. Each recipe is a few lines; CI runs `bash .ci/run`, which is `just test`.

# Start the coordinator on the LAN; it prints the URL to open.
run *ARGS:
    bash scripts/run.sh {{ARGS}}

# Run every test.
test:
    bash scripts/test.sh

# Build the container image ostrich-legs:latest around a static build, with podman (no base
# image to pull); `docker build -t ostrich-legs .` builds it where a registry is reachable.
image:
    bash scripts/image.sh

# Run the image, join a native worker through its port and run a job to completion.
image-smoke:
    bash scripts/image-smoke.sh

# Run a native worker: `just worker --join 'http://HOST:8080/join?token=CODE'`.
worker *ARGS:
    cargo run --release --locked -p ostrich-worker -- {{ARGS}}

# Run every benchmark and rewrite BENCHMARKS.md; `just bench swarm` runs one part.
bench *PARTS:
    cargo xtask bench {{PARTS}}

# Fuzz one target with cargo-fuzz (FUZZING.md): `just fuzz scheduler_core 10000000` runs,
# or a duration: `just fuzz decode_to_device 10m`.
fuzz TARGET *ARGS:
    bash scripts/fuzz.sh {{TARGET}} {{ARGS}}

# Format the code.
fmt:
    cargo fmt --all

# Lint every target; warnings are errors.
clippy:
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Check that the shared crates still build for the browser.
check-wasm:
    rustup target add wasm32-unknown-unknown
    cargo check --locked --target wasm32-unknown-unknown -p ostrich-protocol -p ostrich-kernels
