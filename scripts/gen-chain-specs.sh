#!/usr/bin/env bash
# Generates chain-spec/<name>.json (plain) and chain-spec/<name>-raw.json (raw) from the runtime's
# genesis presets with `phr-node build-spec`. Never edit those files by hand.
#   scripts/gen-chain-specs.sh          regenerate
#   scripts/gen-chain-specs.sh --check  fail if the committed files differ from what the runtime gives
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
source "$here/env.sh"
cd "$PHR_ROOT"

check=false
[ "${1:-}" = "--check" ] && check=true
phr_build

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for chain in dev local-consortium deployment-template; do
  "$PHR_NODE" build-spec --chain "$chain" --disable-default-bootnode 2>/dev/null >"$out/$chain.json"
  "$PHR_NODE" build-spec --chain "$chain" --disable-default-bootnode --raw 2>/dev/null >"$out/$chain-raw.json"
done

# The runtime's WASM bytes depend on the checkout's path (cargo's crate metadata hashes include it),
# so a clone elsewhere builds a different blob of the same code: the check compares everything but
# the code (the plain spec's `code`, the raw spec's `:code` key). See docs/toolchain.md.
without_code() {
  python3 -c '
import json, sys
spec = json.load(open(sys.argv[1]))
genesis = spec.get("genesis", {})
genesis.get("runtimeGenesis", {}).pop("code", None)
genesis.get("raw", {}).get("top", {}).pop("0x3a636f6465", None)
print(json.dumps(spec, sort_keys=True))' "$1"
}

if $check; then
  stale=()
  for f in "$out"/*.json; do
    committed="chain-spec/$(basename "$f")"
    if [ ! -f "$committed" ] || [ "$(without_code "$f")" != "$(without_code "$committed")" ]; then
      stale+=("$committed")
    fi
  done
  if [ ${#stale[@]} -gt 0 ]; then
    echo "chain specs are stale (run scripts/gen-chain-specs.sh and commit): ${stale[*]}" >&2
    exit 1
  fi
  echo "chain-spec/ matches the runtime's presets"
else
  mkdir -p chain-spec
  cp "$out"/*.json chain-spec/
  echo "wrote chain-spec/{dev,local-consortium,deployment-template}{,-raw}.json"
fi
