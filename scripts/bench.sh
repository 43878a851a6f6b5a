#!/usr/bin/env bash
# The consortium's measured figures, written to docs/benchmarks.md (the section between the
# "bench.sh" markers) with the date, the machine, the commit and this command:
#  - chain: finalized Access::grant/s next to System::remark/s in the same run, on the four-validator
#    local network; grant -> finalized latency p50/p95 at a steady rate (node/benches/chain_throughput.rs);
#  - blobs: 64 KiB and 10 MiB upload/fetch through a node next to raw ChaCha20-Poly1305 and
#    blake2b in the same run; authorized 64 KiB read latency p50/p99 at 500 req/s
#    (node/benches/blob_store.rs);
#  - wallet: a 50-resource FHIR Bundle added in one action, a verified `phr grant` with the time its
#    proofs take (wallet/benches/wallet_ops.rs).
#   scripts/bench.sh                 all three, then docs/benchmarks.md is rewritten
#   scripts/bench.sh chain|blobs|wallet   one of them, printed only
#   scripts/bench.sh overload        5 chain runs of 50,176 extrinsics a phase, the losses counted
# Knobs (environment): PHR_BENCH_PATIENTS, PHR_BENCH_PER_PATIENT, PHR_BENCH_LATENCY_RATE,
# PHR_BENCH_LATENCY_SECONDS (chain); PHR_BENCH_SMALL, PHR_BENCH_LARGE, PHR_BENCH_RATE,
# PHR_BENCH_SECONDS (blobs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/setup.sh"
# shellcheck source=scripts/env.sh
source "$here/env.sh"
cd "$PHR_ROOT"

which=${1:-all}
case "$which" in
  all) benches=(chain_throughput blob_store wallet_ops) ;;
  chain) benches=(chain_throughput) ;;
  blobs) benches=(blob_store) ;;
  wallet) benches=(wallet_ops) ;;
  overload)
    # Issue 15's loss target: RUNS (5) consecutive runs of the chain benchmark with 1,024
    # patients x 49, that is 50,176 extrinsics in each phase (remarks, grants, relayed grants),
    # each phase submitted at once, far faster than blocks take them; prints every run's count of
    # accepted extrinsics never finalized, and the sum.
    runs=${RUNS:-5} lost_total=0
    for run in $(seq "$runs"); do
      log=$(mktemp /tmp/phr-overload.XXXXXX)
      echo "[bench] overload run $run of $runs ($(date -u '+%H:%M UTC'))"
      PHR_BENCH_PATIENTS=${PHR_BENCH_PATIENTS:-1024} PHR_BENCH_PER_PATIENT=${PHR_BENCH_PER_PATIENT:-49} \
        cargo bench --locked --workspace --profile release --bench chain_throughput >"$log" 2>&1 || { tail -n 30 "$log"; exit 1; }
      grep -E '^(System::remark|Access::grant|relayed grants)' "$log"
      lost=$(sed -n 's/^report: | accepted extrinsics never finalized[^|]*| \([0-9]*\) \/ \([0-9]*\) of.*/\1 \2/p' "$log")
      relayed=$(sed -n 's/^relayed grants: \([0-9]*\) of \([0-9]*\) signed.*/\1 \2/p' "$log")
      read -r lost_remarks lost_grants <<<"$lost"
      read -r relayed_used relayed_signed <<<"$relayed"
      lost_run=$((lost_remarks + lost_grants + relayed_signed - relayed_used))
      lost_total=$((lost_total + lost_run))
      echo "run $run: lost $lost_remarks remarks, $lost_grants grants, $((relayed_signed - relayed_used)) relayed grants"
    done
    echo "overload: $runs runs, accepted extrinsics (and signed relayed grants) never finalized in all: $lost_total"
    exit 0 ;;
  *) echo "usage: scripts/bench.sh [all|chain|blobs|wallet|overload]" >&2; exit 2 ;;
esac

out=$(mktemp /tmp/phr-bench.XXXXXX)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
for bench in "${benches[@]}"; do
  echo "[bench] $bench"
  # Same profile and feature set as the test build (scripts/test.sh): nothing is compiled twice.
  cargo bench --locked --workspace --profile release --bench "$bench" | tee -a "$out"
done
[ "$which" = all ] || exit 0

machine="$(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), $(free -g | awk '/^Mem:/ {print $2}') GiB, $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs' || echo ' (with uncommitted changes)')
python3 - "$out" docs/benchmarks.md "$started" "$machine" "$commit" <<'PY'
import re, sys
out, doc, started, machine, commit = sys.argv[1:]
printed = open(out).read()
rows = [l[len("report: "):] for l in printed.splitlines() if l.startswith("report: ")]
figures = "\n".join(l for l in printed.splitlines() if not l.startswith("report: "))
section = f"""<!-- bench.sh begin: written by scripts/bench.sh, do not edit by hand -->
## Consortium figures (`scripts/bench.sh`)

Run {started} on {machine}, commit {commit}, by `scripts/bench.sh`.

| figure | value | target / note |
|---|---|---|
{chr(10).join(rows)}

What the benchmarks printed:

```
{figures}
```
<!-- bench.sh end -->"""
text = open(doc).read()
pattern = re.compile(r"<!-- bench.sh begin.*?<!-- bench.sh end -->", re.S)
if pattern.search(text):
    text = pattern.sub(lambda _: section, text)
else:
    text = text.replace("## Weights", section + "\n\n## Weights", 1)
open(doc, "w").write(text)
print(f"[bench] figures written to {doc}")
PY
