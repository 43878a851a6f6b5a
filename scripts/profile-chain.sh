#!/usr/bin/env bash
# Where the CPU goes while the four-validator network finalizes grants as fast as it can: runs the
# chain throughput benchmark (node/benches/chain_throughput.rs) and, during its grant phase,
# samples every process on the machine for 25 s with perf (cpu-clock: works where hardware
# counters are not exposed), then prints the samples grouped by what the code does.
#   scripts/profile-chain.sh            (needs perf: apt-get install linux-perf)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
source "$here/env.sh"
cd "$PHR_ROOT"
command -v perf >/dev/null || { echo "profile-chain: perf is missing: apt-get install linux-perf" >&2; exit 1; }

work=$(mktemp -d /tmp/phr-profile.XXXXXX)
# Its own process group, so that an early exit stops the benchmark and its four nodes too.
setsid cargo bench --locked --workspace --profile release --bench chain_throughput >"$work/bench.log" 2>&1 &
bench=$!
trap 'kill -- -$bench 2>/dev/null || true' EXIT
# The grant phase starts 6 s after the remark phase's line.
until grep -q '^System::remark:' "$work/bench.log"; do
  kill -0 $bench 2>/dev/null || { cat "$work/bench.log"; echo "profile-chain: the benchmark ended early" >&2; exit 1; }
  sleep 1
done
sleep 7
if ! perf record -a -g -F 299 -e cpu-clock -o "$work/perf.data" -- sleep 25 2>"$work/perf.err"; then
  cat "$work/perf.err" >&2
  echo "profile-chain: perf record failed (as root, or with kernel.perf_event_paranoid <= 0)" >&2
  exit 1
fi
wait $bench || true
trap - EXIT
grep -v '^report:' "$work/bench.log" | grep -E '^(System|Access|grant|the runtime|chain)' || true
perf report -i "$work/perf.data" --no-children --sort dso,sym -g none --stdio 2>/dev/null | grep -E '^ +[0-9]' >"$work/symbols.txt"
python3 - "$work/symbols.txt" <<'PY'
import re, sys
# First match wins: the order matters (idle before kernel).
groups = [
    ("idle", r"safe_halt|cpuidle|swapper"),
    ("signature checks (sr25519 / ed25519: curve25519, merlin, keccak, sha512)", r"curve25519|merlin|keccak|schnorrkel|sha512|ed25519"),
    ("runtime execution (wasmtime JIT code, wasm instances and memory)", r"\[JIT\]|wasmtime|sc_executor|cranelift|sc_allocator"),
    ("memory allocation and copies (malloc, free, memmove, memcmp)", r"malloc|free|_int_|memmove|memcpy|memset|calloc|realloc|unlink_chunk|memcmp"),
    ("kernel (scheduling four nodes on two cores, syscalls, page faults, loopback TCP)", r"\[kernel|\[k\]"),
    ("transaction pool bookkeeping", r"sc_transaction_pool|txpool"),
    ("state: trie, caches, hashing, RocksDB", r"sp_trie|trie_db|sp_state_machine|blake2|twox|xxh|hash_db|memory_db|kvdb|rocksdb|sp_database|sc_client_db"),
    ("networking and encoding (libp2p, SCALE, JSON-RPC)", r"libp2p|litep2p|sc_network|yamux|snow|parity_scale_codec|serde|jsonrpsee|hyper|tokio::net|snappy"),
    ("hash maps", r"sip::Hasher|DefaultHasher|hashbrown"),
]
totals = {name: 0.0 for name, _ in groups}
other = 0.0
for line in open(sys.argv[1]):
    m = re.match(r"\s+([\d.]+)%\s+(.*)", line)
    if not m:
        continue
    share, symbol = float(m.group(1)), m.group(2)
    for name, pattern in groups:
        if re.search(pattern, symbol):
            totals[name] += share
            break
    else:
        other += share
print("\nCPU samples of the whole machine during the grant phase (perf, cpu-clock, 299 Hz, 25 s):")
for name, _ in groups:
    print(f"{totals[name]:6.1f}%  {name}")
print(f"{other:6.1f}%  everything else (async runtime, channels, metrics, ...)")
PY
echo "profile-chain: perf data and the benchmark's output in $work"
