#!/usr/bin/env bash
# Blob-store benchmark on a real dev node: upload and fetch throughput for 64 KiB and 10 MiB
# records, p50/p99 latency of authorized 64 KiB fetches at a fixed rate, and raw ChaCha20-Poly1305
# and blake2b throughput measured in the same run. Prints the figures (docs/benchmarks.md keeps them).
#   scripts/bench-blobs.sh
#   PHR_BENCH_RATE=500 PHR_BENCH_SECONDS=10 PHR_BENCH_SMALL=200 PHR_BENCH_LARGE=10 scripts/bench-blobs.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/setup.sh"
# shellcheck source=scripts/env.sh
source "$here/env.sh"
cd "$PHR_ROOT"
echo "[bench-blobs] $(date -u +%FT%TZ) on $(nproc) cores, $(uname -m)"
# Same profile and feature set as the test build (scripts/test.sh), so nothing is compiled twice.
cargo bench --locked --workspace --profile release --bench blob_store
