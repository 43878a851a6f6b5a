#!/usr/bin/env bash
# The whole story on a running local consortium (scripts/run-consortium.sh starts it and runs this):
# a patient registers at H1 and uploads a FHIR record; a physician at H2 is granted access for one
# hour and reads it through H2's node; the patient revokes with re-keying and the physician is
# refused; an emergency physician at H3 breaks glass and reads through H3's node; an auditor lists
# the trail and every read, each receipt verified against the chain. Each step prints what happened.
#
#   scripts/demo.sh                 against nodes on 127.0.0.1:9944..9947 (run-consortium.sh's ports)
#   PHR_DEMO_DIR=/path scripts/demo.sh   where the wallets are written (default: a fresh temp dir)
#   PHR_DEMO_NODES=url1,url2,url3,url4   the RPC addresses of H1..H4 (the end-to-end test's network)
#   PHR_BIN=/path/to/phr                 the wallet binary (default: the release build)
#   PHR_CHAIN_SPEC=/path/raw.json        the raw chain spec the wallets trust (default: local-consortium's,
#                                        from the node binary); every chain read is verified against it
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
source "$here/env.sh"
phr_bin="${PHR_BIN:-$CARGO_TARGET_DIR/release/phr}"
[ -x "$phr_bin" ] || { echo "demo: $phr_bin is not built: run scripts/run-consortium.sh" >&2; exit 1; }

dir="${PHR_DEMO_DIR:-$(mktemp -d /tmp/phr-demo.XXXXXX)}"
mkdir -p "$dir"
export PHR_PASSPHRASE="${PHR_PASSPHRASE:-demo passphrase}"
# The root of trust: the wallets check every finalized block and every chain read they rely on
# against the authority set this spec names (docs/verified-reads.md).
if [ -z "${PHR_CHAIN_SPEC:-}" ]; then
  PHR_CHAIN_SPEC="$dir/chain-spec.json"
  "$PHR_NODE" build-spec --chain local-consortium --raw --disable-default-bootnode 2>/dev/null >"$PHR_CHAIN_SPEC"
fi
export PHR_CHAIN_SPEC
IFS=, read -r H1 H2 H3 H4 <<<"${PHR_DEMO_NODES:-http://127.0.0.1:9944,http://127.0.0.1:9945,http://127.0.0.1:9946,http://127.0.0.1:9947}"
[ -n "$H4" ] && [[ "$H4" != *,* ]] || { echo "demo: PHR_DEMO_NODES needs four addresses, H1..H4" >&2; exit 1; }
step=0

say() { step=$((step + 1)); printf '\n[demo %d] %s\n' "$step" "$*"; }
ok() { printf '[demo %d] ok: %s\n' "$step" "$*"; }
fail() { printf '[demo %d] FAILED: %s\n' "$step" "$*" >&2; exit 1; }
# phr <wallet> <node> args...: runs the wallet, JSON out; failures end the demo.
phr() { local wallet=$1 node=$2; shift 2; "$phr_bin" --quiet --json --wallet "$dir/$wallet.json" --node "$node" "$@"; }
field() { python3 -c 'import json,sys; v=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }  # field 'v["a"]'
address() { phr "$1" "$H1" keys show | field 'v["account"]'; }

say "Wallets: the hospitals' admins (H1 Alice, H2 Bob, H3 Charlie), patient Eve, physician Ferdie (H2), emergency physician Erin (H3), auditor Audrey (H1)"
for who in alice:'//Alice' bob:'//Bob' charlie:'//Charlie' eve:'//Eve' ferdie:'//Ferdie' erin:'//Erin' audrey:'//Audrey'; do
  name=${who%%:*} secret=${who#*:}
  [ -f "$dir/$name.json" ] || phr "$name" "$H1" keys import "$secret" >/dev/null
done
EVE=$(address eve) FERDIE=$(address ferdie) ERIN=$(address erin) AUDREY=$(address audrey)
ok "seven wallets in $dir"

say "H1 onboards Eve as a patient and Audrey as an auditor; H2 registers Ferdie (physician, cardiology); H3 registers Erin (emergency physician)"
phr alice "$H1" admin onboard "$EVE" >/dev/null
phr alice "$H1" admin staff "$AUDREY" --roles auditor --department compliance --facility H1 >/dev/null
phr bob "$H2" admin staff "$FERDIE" --roles physician --department cardiology --facility H2 >/dev/null
phr charlie "$H3" admin staff "$ERIN" --roles physician,emergency --department emergency --facility H3 >/dev/null
for name in eve ferdie erin audrey; do phr "$name" "$H1" keys register >/dev/null; done
ok "registrations final on chain; every one registered its encryption and request keys"

say "Eve uploads a FHIR Bundle (observation, medication, allergy) through H1; it is encrypted on her machine"
cat >"$dir/eve-bundle.json" <<'EOF'
{"resourceType":"Bundle","type":"collection","entry":[
 {"resource":{"resourceType":"Observation","id":"bp","status":"final","code":{"text":"blood pressure"},"valueQuantity":{"value":128,"unit":"mmHg"}}},
 {"resource":{"resourceType":"MedicationStatement","id":"m1","status":"active","medicationCodeableConcept":{"text":"lisinopril 10 mg"}}},
 {"resource":{"resourceType":"AllergyIntolerance","id":"a1","code":{"text":"penicillin"}}}]}
EOF
added=$(phr eve "$H1" record add "$dir/eve-bundle.json")
RECORD=$(echo "$added" | field 'v["records"][0]["record"]')
ok "records $(echo "$added" | field '[r["record"] for r in v["records"]]') registered; record $RECORD is the observation"

say "Eve grants Ferdie (physician at H2) read access to her observations for one hour"
granted=$(phr eve "$H1" grant --to "$FERDIE" --categories observation --expires 1h)
GRANT=$(echo "$granted" | field 'v["grant"]')
ok "grant $GRANT, data key wrapped for Ferdie"

say "Ferdie reads the record through H2's node"
phr ferdie "$H2" record get "$RECORD" -o "$dir/ferdie-bp.json" >/dev/null
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))["entry"][0]["resource"]; sys.exit(a!=b)' \
  "$dir/ferdie-bp.json" "$dir/eve-bundle.json" || fail "Ferdie's copy differs from what Eve uploaded"
ok "Ferdie's decrypted copy equals Eve's observation (uploaded at H1, read at H2)"

say "Eve revokes grant $GRANT; the record is re-encrypted under a new data key"
revoked=$(phr eve "$H1" revoke "$GRANT")
ok "revoked; re-keyed records $(echo "$revoked" | field 'v["rekeyed"]')"

say "Ferdie tries again through H2"
if out=$("$phr_bin" --quiet --wallet "$dir/ferdie.json" --node "$H2" record get "$RECORD" -o "$dir/ferdie-again.json" 2>&1); then
  fail "Ferdie could still read: $out"
fi
ok "refused: ${out#error: }"

say "Erin, emergency physician at H3, breaks glass for Eve and reads through H3's node"
phr erin "$H3" emergency open "$EVE" --reason "unconscious on admission, ER H3" --minutes 30 >/dev/null
read_basis=$(phr erin "$H3" record get "$RECORD" -o "$dir/erin-bp.json" --purpose emergency | field 'v["basis"]')
ok "read with basis $read_basis; Eve was notified on chain and the opening awaits review"

say "Audrey (auditor) lists Eve's audit trail and every read, verifying each receipt against the chain"
audit=""
for _ in $(seq 1 30); do
  audit=$(phr audrey "$H1" audit "$EVE" --nodes "$H1,$H2,$H3,$H4")
  readers=$(echo "$audit" | field '[r["reader"] for r in v["reads"] if r["verified"]]')
  if [[ "$readers" == *"$FERDIE"* && "$readers" == *"$ERIN"* ]]; then break; fi
  sleep 2
done
[[ "$readers" == *"$FERDIE"* && "$readers" == *"$ERIN"* ]] || fail "reads not anchored and verified: $audit"
[ "$(echo "$audit" | field 'v["receiptsFailed"]')" = 0 ] || fail "a receipt failed verification: $audit"
"$phr_bin" --quiet --wallet "$dir/audrey.json" --node "$H1" audit "$EVE" --nodes "$H1,$H2,$H3,$H4"
ok "$(echo "$audit" | field 'v["receiptsVerified"]') receipts verified; Ferdie's and Erin's reads are on the trail"

printf '\n[demo] all %d steps ok\n' "$step"
