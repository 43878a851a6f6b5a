#!/usr/bin/env bash
# Measures, on this machine, the weights the runtime charges for its database and for the base of
# every block and extrinsic, and writes them to runtime/src/weights.rs (then rebuild the runtime):
#  1. the chain benchmark's load on the four local validators (node/benches/chain_throughput.rs),
#     keeping H1's database as the load left it: tens of thousands of grants, trail entries and
#     rate windows, the state a busy chain reads and writes;
#  2. `phr-node benchmark storage` over that database: one read of a storage item, and one write
#     as a block commits it, among BATCH (1,000) written and committed together;
#  3. `phr-node benchmark overhead` on a fresh dev chain: an empty block, and one more signed
#     `System::remark` (signature check, the transaction extensions, the nonce) in a full block.
# The runtime charges the 95th percentile of each (METRIC=average|median|p99|... to choose).
# PHR_BENCH_NODE_READY=1: $PHR_BENCH_NODE is already built from this commit.
#   scripts/measure-weights.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/setup.sh"
# shellcheck source=scripts/env.sh
source "$here/env.sh"
cd "$PHR_ROOT"
metric=${METRIC:-p95}

# `benchmark storage` needs the runtime-benchmarks build; the load runs on the plain one.
[ "${PHR_BENCH_NODE_READY:-}" = 1 ] || phr_bench_node_build
work=$(mktemp -d /tmp/phr-weights.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "[weights] 1/3 the chain benchmark's load, keeping H1's database"
PHR_BENCH_KEEP_STATE="$work/state" cargo bench --locked --workspace --profile release --bench chain_throughput \
  | tee "$work/chain.txt"

echo "[weights] 2/3 benchmark storage over it"
mkdir -p "$work/storage" "$work/overhead"
"$PHR_BENCH_NODE" benchmark storage --chain "$work/state/spec.json" --base-path "$work/state/h1" \
  --state-version 1 --metric "$metric" --batch-size "${BATCH:-1000}" --weight-path "$work/storage" 2>&1 \
  | tee "$work/storage.log" | tail -n 30

echo "[weights] 3/3 benchmark overhead on a fresh dev chain"
"$PHR_BENCH_NODE" benchmark overhead --dev --base-path "$work/dev" --metric "$metric" \
  --weight-path "$work/overhead" 2>&1 | tail -n 20

machine="$(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), $(. /etc/os-release && echo "$PRETTY_NAME")"
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs' || echo ' with uncommitted changes')
python3 - "$work" "$metric" "$machine" "$(date -u '+%Y-%m-%d')" "$commit" <<'PY'
import pathlib, re, sys
work, metric, machine, date, commit = sys.argv[1:]
work = pathlib.Path(work)

def number(text, pattern, what):
    found = re.search(pattern, text)
    if not found:
        sys.exit(f"[weights] no {what} in the benchmark's output")
    return int(found.group(1).replace("_", ""))

storage = (work / "storage" / "rocksdb_weights.rs").read_text()
read_ns = number(storage, r"read: ([\d_]+) \*", "read weight")
write_ns = number(storage, r"write: ([\d_]+) \*", "write weight")
block_ns = number((work / "overhead" / "block_weights.rs").read_text(), r"saturating_mul\(([\d_]+)\)", "block weight")
extrinsic_ns = number((work / "overhead" / "extrinsic_weights.rs").read_text(), r"saturating_mul\(([\d_]+)\)", "extrinsic weight")
keys = re.search(r"Reading (\d+) keys", (work / "storage.log").read_text())

out = f"""//! The weights of the database and of the base of every block and extrinsic, measured on the
//! machine that runs the consortium's benchmarks. Written by `scripts/measure-weights.sh`; do not
//! edit by hand. {date}, commit {commit}, {machine}; metric: {metric}.
//!
//! - Database: `phr-node benchmark storage` over H1's database after the chain benchmark's load
//!   ({keys.group(1) if keys else "?"} keys), one read of a storage item, and one write among
//!   1,000 written and committed together, as a block commits them.
//! - Block and extrinsic: `phr-node benchmark overhead` on a fresh dev chain, an empty block and
//!   one more signed `System::remark` in a full block.

use frame_support::weights::{{constants::WEIGHT_REF_TIME_PER_NANOS, RuntimeDbWeight, Weight}};

/// One storage read ({read_ns} ns) and one storage write ({write_ns} ns).
pub const DB_WEIGHT: RuntimeDbWeight = RuntimeDbWeight {{
	read: {read_ns} * WEIGHT_REF_TIME_PER_NANOS,
	write: {write_ns} * WEIGHT_REF_TIME_PER_NANOS,
}};

/// Executing an empty block ({block_ns} ns).
pub const BLOCK_EXECUTION_WEIGHT: Weight = Weight::from_parts({block_ns} * WEIGHT_REF_TIME_PER_NANOS, 0);

/// The base of every extrinsic ({extrinsic_ns} ns): a signed no-op, its signature and extensions.
pub const EXTRINSIC_BASE_WEIGHT: Weight = Weight::from_parts({extrinsic_ns} * WEIGHT_REF_TIME_PER_NANOS, 0);
"""
pathlib.Path("runtime/src/weights.rs").write_text(out)
print(f"[weights] runtime/src/weights.rs: read {read_ns} ns, write {write_ns} ns, block {block_ns} ns, extrinsic {extrinsic_ns} ns ({metric})")
PY
echo "[weights] done: rebuild (scripts/test.sh) and regenerate chain-spec/ (scripts/gen-chain-specs.sh)"
