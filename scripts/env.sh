# Sourced by the other scripts: where the build lives and how the runtime's WASM is compiled.
# shellcheck shell=bash

PHR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PHR_ROOT
# The cargo target directory lives outside the checkout, so a fresh clone (CI) reuses the build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/phr-target}"
# The runtime's WASM build must resolve crates from this workspace's Cargo.lock.
export WASM_BUILD_WORKSPACE_HINT="$PHR_ROOT"
# The runtime's WASM must not depend on where the checkout or the cargo home is: file paths end up
# in panic messages, and chain-spec/ embeds the WASM, so a clone elsewhere must build the same bytes.
export WASM_BUILD_RUSTFLAGS="--remap-path-prefix=$PHR_ROOT=/phr-chain --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
# Where rustup could not install wasm32v1-none, scripts/setup.sh linked Debian's rustc as `debian-web`.
if ! [ -d "$(rustc --print sysroot 2>/dev/null)/lib/rustlib/wasm32v1-none/lib" ] \
    && rustup toolchain list 2>/dev/null | grep -q '^debian-web'; then
  export WASM_BUILD_TOOLCHAIN="${WASM_BUILD_TOOLCHAIN:-debian-web}"
fi
# libp2p's WebRTC transport (through sc-network) asks for a vendored OpenSSL, compiled from C on
# every cold build; link Debian's libssl instead (scripts/setup.sh installs libssl-dev), which
# also gets the distribution's security updates.
export OPENSSL_NO_VENDOR=1
export PHR_NODE="$CARGO_TARGET_DIR/release/phr-node"

# Builds phr-node and every test binary with ONE feature set (that of `cargo test`), so that the
# node the scripts run and the node the tests run are the same artifacts, compiled once.
phr_build() {
  (cd "$PHR_ROOT" && cargo test --release --locked --workspace --no-run "$@")
}

# Builds phr-node with `--features runtime-benchmarks` (what `benchmark pallet` and `benchmark
# storage` need) in the SAME target directory: the crates the feature does not reach (RocksDB's
# C++, libp2p, wasmtime, ...) are reused, the others are built once more beside their plain
# variants. Keeps that binary as $PHR_BENCH_NODE, then restores the plain build: the feature build
# rewrote the runtime's WASM in wbuild/, so the runtime's build script is made to run again.
export PHR_BENCH_NODE="$CARGO_TARGET_DIR/release/phr-node-benchmarks"
phr_bench_node_build() {
  (cd "$PHR_ROOT" && cargo build --release --locked -p phr-node --features runtime-benchmarks) || return
  cp "$CARGO_TARGET_DIR/release/phr-node" "$PHR_BENCH_NODE"
  touch "$PHR_ROOT/runtime/build.rs"
  phr_build
}

# Installs the portal's npm packages when package-lock.json changed (npm ci: exactly the lock's
# versions) and builds web/dist, which `phr portal` serves.
phr_portal_build() {
  local web="$PHR_ROOT/web" stamp="$PHR_ROOT/web/node_modules/.phr-lock"
  if ! cmp -s "$web/package-lock.json" "$stamp"; then
    echo "[portal] npm ci (the versions in web/package-lock.json)"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error) && cp "$web/package-lock.json" "$stamp"
  fi
  echo "[portal] building web/dist"
  (cd "$web" && npx vite build --logLevel warn)
}
