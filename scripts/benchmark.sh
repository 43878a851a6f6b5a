#!/usr/bin/env bash
# Regenerates the pallets' weights.rs from benchmarks run on this machine:
# builds phr-node with `--features runtime-benchmarks` in its OWN target directory (a second full
# build: the feature changes most crates; about 40 minutes cold on 2 cores), then runs
# `phr-node benchmark pallet` for every PHR pallet over the `dev` genesis.
#   scripts/benchmark.sh                 all pallets, 20 steps x 10 repeats
#   STEPS=50 REPEAT=20 scripts/benchmark.sh pallet_access
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/setup.sh"
# shellcheck source=scripts/env.sh
source "$here/env.sh"
export CARGO_TARGET_DIR="${PHR_BENCH_TARGET_DIR:-$HOME/.cache/phr-target-bench}"
cd "$PHR_ROOT"

cargo build --release --locked -p phr-node --features runtime-benchmarks
node="$CARGO_TARGET_DIR/release/phr-node"

declare -A dirs=(
  [pallet_consortium]=pallets/consortium
  [pallet_records]=pallets/records
  [pallet_keys]=pallets/keys
  [pallet_access]=pallets/access
)
pallets=("$@")
[ ${#pallets[@]} -gt 0 ] || pallets=(pallet_consortium pallet_records pallet_keys pallet_access)
for pallet in "${pallets[@]}"; do
  dir="${dirs[$pallet]:?unknown pallet $pallet (one of ${!dirs[*]})}"
  echo "[benchmark] $pallet -> $dir/src/weights.rs"
  "$node" benchmark pallet --chain dev --pallet "$pallet" --extrinsic '*' \
    --steps "${STEPS:-20}" --repeat "${REPEAT:-10}" \
    --template scripts/weight-template.hbs --output "$dir/src/weights.rs"
done
