#!/usr/bin/env bash
# Sets up the machine, builds phr-node when needed, and runs the local four-hospital consortium:
# validators H1..H4 (Alice, Bob, Charlie, Dave) on 127.0.0.1, each with its own ports, base path and
# keys. Waits until GRANDPA finalizes, prints each node's RPC address, serves the web portal
# (`phr portal`, http://127.0.0.1:8080/, PHR_PORTAL_PORT to change) and prints its URL, runs the demo
# (scripts/demo.sh: patient, physician, revocation, break-glass, audit, each step reported), and
# stops everything on Ctrl-C.
#
#   scripts/run-consortium.sh                     run (with the demo) until Ctrl-C
#   scripts/run-consortium.sh --no-demo           only the network
#   scripts/run-consortium.sh --until-finalized N exit (stopping the nodes) once block N is final (no demo)
#   PHR_NET_DIR=/path scripts/run-consortium.sh   where the nodes keep their data (default: a fresh temp dir)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
until_finalized=""
demo=1
while [ $# -gt 0 ]; do
  case "$1" in
    --until-finalized) until_finalized="${2:?--until-finalized needs a block number}"; demo=0; shift 2 ;;
    --no-demo) demo=0; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "run-consortium: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

"$here/setup.sh"
# shellcheck source=scripts/env.sh
source "$here/env.sh"
echo "[consortium] building phr-node (a no-op when it is up to date; about 40 minutes the first time on 2 cores)"
phr_build
[ -n "$until_finalized" ] || phr_portal_build
portal_port="${PHR_PORTAL_PORT:-8080}"

net_dir="${PHR_NET_DIR:-$(mktemp -d /tmp/phr-consortium.XXXXXX)}"
mkdir -p "$net_dir"
# The raw chain spec: the network's identity, and the root of trust the wallets check every chain
# read against (docs/verified-reads.md).
export PHR_CHAIN_SPEC="$net_dir/chain-spec.json"
"$PHR_NODE" build-spec --chain local-consortium --raw --disable-default-bootnode 2>/dev/null >"$PHR_CHAIN_SPEC"
names=(Alice Bob Charlie Dave)
pids=()

stop_nodes() {
  trap - INT TERM EXIT
  if [ ${#pids[@]} -gt 0 ]; then
    echo "[consortium] stopping the nodes"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  echo "[consortium] node data and logs kept in $net_dir"
}
trap stop_nodes EXIT
trap 'exit 130' INT TERM

rpc() { # rpc <port> <method> [params-json]
  curl -s --max-time 2 -H 'Content-Type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$2\",\"params\":${3:-[]}}" "http://127.0.0.1:$1"
}
finalized_height() { # finalized_height <rpc-port>: prints the number, or nothing
  local hash header
  hash=$(rpc "$1" chain_getFinalizedHead | sed -n 's/.*"result":"\(0x[0-9a-f]*\)".*/\1/p')
  [ -n "$hash" ] || return 0
  header=$(rpc "$1" chain_getHeader "[\"$hash\"]")
  printf '%d\n' "$(printf '%s' "$header" | sed -n 's/.*"number":"\(0x[0-9a-f]*\)".*/\1/p')"
}

for i in 1 2 3 4; do
  for port in $((30332 + i)) $((9943 + i)) "$portal_port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "run-consortium: port $port is in use (is another consortium running?)" >&2; exit 1
    fi
  done
done

# Keys and node identities.
declare -a peer_ids
for i in 1 2 3 4; do
  base="$net_dir/h$i"
  mkdir -p "$base"
  grep "^H$i " "$here/local-node-keys" | cut -d' ' -f2 | tr -d '\n' >"$base/node-key"
  peer_ids[$i]=$("$PHR_NODE" key inspect-node-key --file "$base/node-key")
  suri="//${names[$((i - 1))]}"
  "$PHR_NODE" key insert --chain local-consortium --base-path "$base" --key-type aura --scheme sr25519 --suri "$suri"
  "$PHR_NODE" key insert --chain local-consortium --base-path "$base" --key-type gran --scheme ed25519 --suri "$suri"
  # The hospital's node key: signs the anchoring of read receipts and registers its escrow key.
  "$PHR_NODE" key insert --chain local-consortium --base-path "$base" --key-type phrn --scheme sr25519 --suri "$suri"
  # The hospital's escrow key (break-glass shares).
  (umask 077 && grep "^H$i " "$here/local-escrow-keys" | cut -d' ' -f2 | tr -d '\n' >"$base/escrow-key")
done

start=$(date +%s)
for i in 1 2 3 4; do
  bootnodes=()
  for j in 1 2 3 4; do
    [ "$j" = "$i" ] || bootnodes+=("/ip4/127.0.0.1/tcp/$((30332 + j))/p2p/${peer_ids[$j]}")
  done
  "$PHR_NODE" --chain local-consortium --validator --name "H$i" \
    --base-path "$net_dir/h$i" --node-key-file "$net_dir/h$i/node-key" --escrow-key-file "$net_dir/h$i/escrow-key" \
    --listen-addr "/ip4/127.0.0.1/tcp/$((30332 + i))" --rpc-port $((9943 + i)) --rpc-cors all \
    --blob-http-port $((9954 + i)) \
    --no-mdns --no-prometheus --no-telemetry --bootnodes "${bootnodes[@]}" \
    >"$net_dir/h$i.log" 2>&1 &
  pids+=($!)
done
echo "[consortium] started H1..H4 (logs: $net_dir/h<n>.log); waiting for finality"

target="${until_finalized:-10}"
while :; do
  sleep 2
  for idx in 0 1 2 3; do
    if ! kill -0 "${pids[$idx]}" 2>/dev/null; then
      echo "run-consortium: node H$((idx + 1)) exited; last lines of its log:" >&2
      tail -n 5 "$net_dir/h$((idx + 1)).log" >&2
      exit 1
    fi
  done
  heights=()
  for i in 1 2 3 4; do heights+=("$(finalized_height $((9943 + i)))"); done
  elapsed=$(( $(date +%s) - start ))
  echo "[consortium] ${elapsed}s: finalized heights H1..H4 = ${heights[*]}"
  lowest=$(printf '%s\n' "${heights[@]}" | sort -n | head -n1)
  if [ -n "$lowest" ] && [ "$lowest" -ge "$target" ]; then break; fi
  if [ "$elapsed" -gt 300 ]; then echo "run-consortium: no finality after 300 s; see the logs in $net_dir" >&2; exit 1; fi
done
echo "[consortium] all four validators finalized block $target within ${elapsed}s of starting"
for i in 1 2 3 4; do
  echo "  H$i (validator ${names[$((i - 1))]}): RPC http://127.0.0.1:$((9943 + i))  ws://127.0.0.1:$((9943 + i))  peer ${peer_ids[$i]}"
done

if [ -n "$until_finalized" ]; then exit 0; fi
"$CARGO_TARGET_DIR/release/phr" portal --dir "$PHR_ROOT/web/dist" --listen "127.0.0.1:$portal_port" \
  --nodes "H1=ws://127.0.0.1:9944,H2=ws://127.0.0.1:9945,H3=ws://127.0.0.1:9946,H4=ws://127.0.0.1:9947" \
  >"$net_dir/portal.log" 2>&1 &
pids+=($!)
echo "[consortium] wallets: export PHR_CHAIN_SPEC=$PHR_CHAIN_SPEC  (the chain spec \`phr\` verifies against)"
echo "[consortium] web portal: http://127.0.0.1:$portal_port/  (patients, providers, auditors, admins; keys stay in the browser)"
if [ "$demo" = 1 ]; then
  PHR_DEMO_DIR="$net_dir/demo" "$here/demo.sh"
fi
echo "[consortium] running; press Ctrl-C to stop"
wait "${pids[@]}"
