#!/usr/bin/env bash
# Regenerates the pallets' weights.rs from benchmarks run on this machine: builds phr-node with
# `--features runtime-benchmarks` beside the plain build (`phr_bench_node_build` in scripts/env.sh;
# docs/toolchain.md says how long that takes), then runs `phr-node benchmark pallet` for every PHR
# pallet over the `dev` genesis. scripts/measure-weights.sh does the same for the database and
# base weights of the runtime.
#   scripts/benchmark.sh                 all pallets, 20 steps x 10 repeats
# PHR_BENCH_NODE_READY=1: $PHR_BENCH_NODE is already built from this commit.
#   STEPS=50 REPEAT=20 scripts/benchmark.sh pallet_access
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/setup.sh"
# shellcheck source=scripts/env.sh
source "$here/env.sh"
cd "$PHR_ROOT"

[ "${PHR_BENCH_NODE_READY:-}" = 1 ] || phr_bench_node_build
node="$PHR_BENCH_NODE"

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
