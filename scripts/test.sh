#!/usr/bin/env bash
# Runs every test of the project: unit tests of all crates, the pallets' benchmark tests in their
# mocks, the node's integration tests (real phr-node processes on loopback), and the check that
# chain-spec/ matches the runtime's presets. One release build serves all of them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/setup.sh"
# shellcheck source=scripts/env.sh
source "$here/env.sh"
cd "$PHR_ROOT"

echo "[test] the portal: build, and its unit tests (crypto against the Rust-made vectors, FHIR display)"
phr_portal_build
(cd web && npx vitest run)

echo "[test] cargo test --release --workspace (target dir: $CARGO_TARGET_DIR)"
cargo test --release --locked --workspace

echo "[test] pallet benchmarks in their mock runtimes (a FRAME-only build with runtime-benchmarks)"
pallets=(pallet-consortium pallet-records pallet-keys pallet-access)
features=$(printf '%s/runtime-benchmarks,' "${pallets[@]}")
cargo test --release --locked "${pallets[@]/#/-p=}" --features "${features%,}" -- benchmarking

echo "[test] chain-spec/ is up to date"
"$here/gen-chain-specs.sh" --check

echo "[test] all tests passed"
