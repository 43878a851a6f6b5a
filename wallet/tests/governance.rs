//! Governance on real `phr-node` processes, driven through the real `phr` wallet.
//!
//! - The four-hospital network, started from the runtime of the previous release (spec version
//!   104, `node/tests/fixtures/local-consortium-spec104.json`), is upgraded to this build's runtime
//!   by vote while patients keep granting: H1 proposes the blob, H2 and H3 approve, anyone applies
//!   it. Its storage migration is first run natively against a snapshot of the network's state
//!   (what `try-runtime` would do) with its checks; then, on chain, every grant submitted before,
//!   during and after is finalized, state written before reads back after, the blob store keeps
//!   serving and no node forks off. The new runtime then takes a privileged call (the pool's rate
//!   window) by vote, dispatched with the consortium's origin.
//! - On a dev node, a patient its hospital offboarded still revokes a grant and erases a record,
//!   but can no longer grant; onboarded again, it can.

#[path = "../../node/tests/common/mod.rs"]
mod common;
mod support;

use std::{
	collections::BTreeMap,
	sync::{
		atomic::{AtomicBool, Ordering},
		Arc, Mutex,
	},
	time::Duration,
};

use codec::{Decode, Encode};
use common::{load::*, *};
use phr_runtime::{AccountId, BlockNumber, Runtime};
use serde_json::{json, Value};
use sp_core::{crypto::Ss58Codec, H256};
use sp_keyring::Sr25519Keyring;
use support::Wallet;

const PATIENTS: u32 = 16;
/// One grant every 250 ms: 4 grants/s through H1.
const LOAD_INTERVAL: Duration = Duration::from_millis(250);

/// The compressed runtime blob this build produced: what a consortium would propose.
fn runtime_blob() -> std::path::PathBuf {
	let node = phr_node_binary();
	let path = node.parent().expect("target/release").join("wbuild/phr-runtime/phr_runtime.compact.compressed.wasm");
	assert!(path.exists(), "{} is not built", path.display());
	path
}

fn spec_version(node: &Node) -> u32 {
	let version = node.rpc("state_getRuntimeVersion", json!([])).expect("runtime version");
	version["specVersion"].as_u64().expect("specVersion") as u32
}

fn finalized_head(node: &Node) -> H256 {
	serde_json::from_value(node.rpc("chain_getFinalizedHead", json!([])).expect("finalized head")).expect("a hash")
}

/// A runtime API call at block `at`, decoded.
fn state_call_at<T: Decode>(node: &Node, method: &str, args: impl Encode, at: H256) -> T {
	let answer = node.rpc("state_call", json!([method, to_hex(&args.encode()), at])).unwrap_or_else(|e| panic!("{method}: {e}"));
	let bytes = hex::decode(answer.as_str().expect("hex").trim_start_matches("0x")).expect("hex");
	T::decode(&mut &bytes[..]).unwrap_or_else(|e| panic!("{method} does not decode: {e}"))
}

/// Raw storage at `key`, at block `at`.
fn storage_at(node: &Node, key: &[u8], at: H256) -> Option<Vec<u8>> {
	let answer = node.rpc("state_getStorage", json!([to_hex(key), at])).expect("state_getStorage");
	answer.as_str().map(|h| hex::decode(h.trim_start_matches("0x")).expect("hex"))
}

/// Every grant a load patient signed: nonce -> (spec version it was signed for, bytes).
type Signed = Arc<Mutex<Vec<BTreeMap<u32, (u32, Vec<u8>)>>>>;

/// Grants from the load patients through `rpc_port`, one per `LOAD_INTERVAL`, until `stop_new`,
/// as a careful wallet sends them: each nonce is used once; what is not included yet is sent again
/// every few seconds (the same bytes), until `done`; and when a runtime upgrade changed the version
/// signatures commit to, it is first signed again with the same nonce (the pool drops the old
/// signature as invalid under the new runtime, and only one extrinsic per nonce can ever be
/// included). Returns how many it signed again.
fn grant_load(rpc_port: u16, signed: Signed, stop_new: Arc<AtomicBool>, done: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
	std::thread::spawn(move || {
		let node = Node::attach("H1", rpc_port);
		let patients: Vec<_> = (0..PATIENTS).map(patient).collect();
		let grantee = Sr25519Keyring::Alice.to_account_id();
		let (mut turn, mut resigned) = (0usize, 0usize);
		let mut last_check = std::time::Instant::now();
		while !done.load(Ordering::SeqCst) {
			let chain = ChainContext::of(&node);
			if last_check.elapsed() > Duration::from_secs(4) {
				last_check = std::time::Instant::now();
				let mut all = signed.lock().unwrap();
				for (i, pair) in patients.iter().enumerate() {
					let included = onchain_nonce(&node, &account(pair)).unwrap_or(0);
					for (nonce, (version, bytes)) in all[i].range_mut(included..) {
						if *version != chain.spec_version {
							*bytes = chain.signed_by(grant_call(account(pair), grantee.clone()), pair, *nonce);
							*version = chain.spec_version;
							resigned += 1;
						}
						if let Err(error) = node.rpc("author_submitExtrinsic", json!([to_hex(bytes)])) {
							if !already_taken(&error) {
								eprintln!("resend of patient {i} nonce {nonce} (spec {version}) refused: {error}");
							}
						}
					}
				}
			}
			if stop_new.load(Ordering::SeqCst) {
				std::thread::sleep(LOAD_INTERVAL);
				continue;
			}
			let i = turn % patients.len();
			let nonce = signed.lock().unwrap()[i].len() as u32;
			let bytes = chain.signed_by(grant_call(account(&patients[i]), grantee.clone()), &patients[i], nonce);
			match node.rpc("author_submitExtrinsic", json!([to_hex(&bytes)])) {
				Err(error) if !already_taken(&error) => {}, // signed again next turn
				_ => {
					signed.lock().unwrap()[i].insert(nonce, (chain.spec_version, bytes));
					turn += 1;
				},
			}
			std::thread::sleep(LOAD_INTERVAL);
		}
		resigned
	})
}

/// The consortium pallet's migration, run natively on a snapshot of `node`'s state at `at` with
/// its before/after checks: what `try-runtime on-runtime-upgrade` does against a live chain.
fn migrations_pass_on_a_snapshot(node: &Node, at: H256) -> usize {
	use frame_support::traits::OnRuntimeUpgrade;
	let pairs = node.rpc("state_getPairs", json!(["0x", at])).expect("state_getPairs (an unsafe RPC, open on loopback)");
	let mut storage = sp_core::storage::Storage::default();
	for pair in pairs.as_array().expect("pairs") {
		let (key, value) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
		storage.top.insert(
			hex::decode(key.trim_start_matches("0x")).unwrap(),
			hex::decode(value.trim_start_matches("0x")).unwrap(),
		);
	}
	let keys = storage.top.len();
	sp_io::TestExternalities::new(storage).execute_with(|| {
		let state = pallet_consortium::migrations::v1::before::<Runtime>();
		<phr_runtime::Migrations as OnRuntimeUpgrade>::on_runtime_upgrade();
		pallet_consortium::migrations::v1::after::<Runtime>(state).expect("the migration's checks pass on the snapshot");
		assert!(pallet_consortium::PatientOf::<Runtime>::iter().count() > PATIENTS as usize, "the snapshot's patients migrated");
	});
	keys
}

#[test]
fn a_runtime_upgrade_by_vote_keeps_every_grant_and_every_byte() {
	let dir = temp_dir("phr-upgrade-");
	let patients: Vec<_> = (0..PATIENTS).map(patient).collect();
	let previous_release = include_str!("../../node/tests/fixtures/local-consortium-spec104.json");
	let spec = spec_from_with_patients(dir.path(), previous_release, &patients);
	let nodes = start_consortium(dir.path(), spec.to_str().unwrap(), &[]);
	assert!(wait_until(Duration::from_secs(150), || min_finalized(&nodes) >= 2), "finality; logs:\n{}", logs(&nodes));
	assert_eq!(spec_version(&nodes[0]), 104, "the network starts on the previous release");

	// State written before the upgrade, through the wallet: Eve onboarded at H1 (stored in the old
	// layout), her keys, and a record whose ciphertext every node pins.
	let urls: Vec<String> = nodes.iter().map(|n| format!("http://127.0.0.1:{}", n.rpc_port)).collect();
	let wallet = |name: &str, hospital: usize| Wallet { path: dir.path().join(format!("{name}.json")), url: urls[hospital - 1].clone() };
	let (alice, bob, charlie, eve) = (wallet("alice", 1), wallet("bob", 2), wallet("charlie", 3), wallet("eve", 1));
	for (w, suri) in [(&alice, "//Alice"), (&bob, "//Bob"), (&charlie, "//Charlie"), (&eve, "//Eve")] {
		w.ok(&["keys", "import", suri]);
	}
	let eve_account = Sr25519Keyring::Eve.to_account_id();
	alice.ok(&["admin", "onboard", &eve_account.to_ss58check()]);
	eve.ok(&["keys", "register"]);
	let note: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 251) as u8).collect();
	let note_path = dir.path().join("note.bin");
	std::fs::write(&note_path, &note).unwrap();
	let added = eve.ok(&["record", "add", note_path.to_str().unwrap(), "--category", "condition"]);
	let record = added["records"][0]["record"].as_u64().unwrap().to_string();

	// Patients keep granting from here to the end.
	let signed: Signed = Arc::new(Mutex::new(vec![BTreeMap::new(); PATIENTS as usize]));
	let (stop_new, done) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
	let load = grant_load(nodes[0].rpc_port, signed.clone(), stop_new.clone(), done.clone());
	let granted = |signed: &Signed| signed.lock().unwrap().iter().map(|m| m.len()).sum::<usize>();
	assert!(wait_until(Duration::from_secs(30), || granted(&signed) >= 20), "the load runs");

	// The upgrade's migration, checked first against the running network's state.
	let blob = runtime_blob();
	let snapshot_keys = migrations_pass_on_a_snapshot(&nodes[0], finalized_head(&nodes[0]));
	assert!(snapshot_keys > 100, "a real snapshot ({snapshot_keys} keys)");

	// The vote: H1 proposes, H2 and H3 approve (three of four), anyone applies.
	let proposed = alice.ok(&["admin", "propose-upgrade", blob.to_str().unwrap()]);
	let new_version = phr_runtime::VERSION.spec_version;
	assert_eq!(proposed["specVersion"], new_version);
	let proposal = proposed["proposal"].as_u64().expect("the proposal's id").to_string();
	let first = bob.ok(&["admin", "approve", &proposal]);
	assert_eq!((first["executed"].clone(), first["approvals"].clone(), first["needed"].clone()), (json!(false), json!(2), json!(3)));
	let refused = charlie.phr(&["admin", "apply-upgrade", blob.to_str().unwrap()]).unwrap_err();
	assert!(refused.contains("has not authorized"), "{refused}");
	assert_eq!(charlie.ok(&["admin", "approve", &proposal])["executed"], true);
	let applied = charlie.ok(&["admin", "apply-upgrade", blob.to_str().unwrap()]);
	assert_eq!(applied["specVersion"], new_version);
	let upgraded = wait_until(Duration::from_secs(60), || nodes.iter().all(|n| spec_version(n) == new_version));
	assert!(upgraded, "every node runs spec {new_version}; logs:\n{}", logs(&nodes));
	let upgraded_at = min_finalized(&nodes);

	// Grants go on under the new runtime for a while, then no new ones are made (what is pending
	// is still sent again until final, as the wallet does).
	let before_stop = granted(&signed);
	assert!(wait_until(Duration::from_secs(60), || granted(&signed) >= before_stop + 40), "grants go on after the upgrade");
	stop_new.store(true, Ordering::SeqCst);

	// Every grant signed before, during and after is finalized, each exactly once.
	let expected: Vec<u32> = signed.lock().unwrap().iter().map(|m| m.len() as u32).collect();
	let mut short = Vec::new();
	let all_final = wait_until(Duration::from_secs(120), || {
		let at = finalized_head(&nodes[0]);
		short = patients
			.iter()
			.zip(&expected)
			.enumerate()
			.filter_map(|(i, (p, n))| {
				let grants: Vec<(u64, phr_primitives::Grant<AccountId, BlockNumber>)> =
					state_call_at(&nodes[0], "AccessApi_grants_of", account(p), at);
				(grants.len() as u32 != *n).then(|| format!("patient {i}: {} of {n}", grants.len()))
			})
			.collect();
		short.is_empty()
	});
	done.store(true, Ordering::SeqCst);
	let resigned = load.join().unwrap();
	let total = expected.iter().sum::<u32>();
	assert!(all_final, "all {total} grants finalized, {resigned} signed again; short: {short:?}; logs:\n{}", logs(&nodes));
	eprintln!("{total} grants finalized, {resigned} of them signed again for the new runtime");

	// State written before reads back after: Eve, migrated to the new layout, and her record,
	// fetched through another hospital's node and decrypted.
	let at = finalized_head(&nodes[0]);
	let key = pallet_consortium::PatientOf::<Runtime>::hashed_key_for(&eve_account);
	let stored = storage_at(&nodes[0], &key, at).expect("Eve is still a patient");
	let info = pallet_consortium::PatientInfo::<BlockNumber>::decode(&mut &stored[..]).expect("the new layout");
	assert_eq!((info.onboarded_by, info.offboarded), (1, None));
	let mut version_key = sp_crypto_hashing::twox_128(b"Consortium").to_vec();
	version_key.extend(sp_crypto_hashing::twox_128(b":__STORAGE_VERSION__:"));
	assert_eq!(storage_at(&nodes[0], &version_key, at), Some(1u16.encode()), "the pallet's storage version is 1");
	let out = dir.path().join("note.out");
	eve.at(&urls[1]).ok(&["record", "get", &record, "-o", out.to_str().unwrap()]);
	assert!(std::fs::read(&out).unwrap() == note, "the record reads back intact through H2");

	// No node forked off: all agree on the finalized chain past the upgrade.
	let height = min_finalized(&nodes);
	assert!(height > upgraded_at, "finality went on past the upgrade");
	let hashes: Vec<Value> = nodes.iter().map(|n| n.rpc("chain_getBlockHash", json!([height])).unwrap()).collect();
	assert!(hashes.windows(2).all(|w| w[0] == w[1]), "the nodes agree on block {height}: {hashes:?}");

	// The new runtime's consortium origin: a passed proposal dispatches a privileged call (the
	// pool's rate window), which no single hospital can make.
	let proposed = alice.ok(&["admin", "propose-rate-limit", "--max", "900", "--window", "30"]);
	let proposal = proposed["proposal"].as_u64().expect("the proposal's id").to_string();
	assert_eq!(bob.ok(&["admin", "approve", &proposal])["executed"], false);
	assert_eq!(charlie.ok(&["admin", "approve", &proposal])["executed"], true);
	let stored = storage_at(&nodes[0], &pallet_consortium::RateLimitSet::<Runtime>::hashed_key(), finalized_head(&nodes[0]));
	let limit = stored.map(|bytes| pallet_consortium::RateLimit::<BlockNumber>::decode(&mut &bytes[..]).expect("a rate limit"));
	assert_eq!(limit, Some(pallet_consortium::RateLimit { max_per_window: 900, window_blocks: 30 }));
}

#[test]
fn an_offboarded_patient_still_revokes_and_erases() {
	let dir = temp_dir("phr-offboard-");
	let node = start_dev_node(dir.path());
	let url = format!("http://127.0.0.1:{}", node.rpc_port);
	let wallet = |name: &str| Wallet { path: dir.path().join(format!("{name}.json")), url: url.clone() };
	// Dev preset: Alice is H1's admin, Bob a patient, Charlie a physician.
	let (alice, bob, charlie) = (wallet("alice"), wallet("bob"), wallet("charlie"));
	for (w, suri) in [(&alice, "//Alice"), (&bob, "//Bob"), (&charlie, "//Charlie")] {
		w.ok(&["keys", "import", suri]);
	}
	bob.ok(&["keys", "register"]);
	charlie.ok(&["keys", "register"]);
	let file = dir.path().join("lab.txt");
	std::fs::write(&file, b"HbA1c 6.1 %").unwrap();
	let record = bob.ok(&["record", "add", file.to_str().unwrap(), "--category", "observation"])["records"][0]["record"]
		.as_u64()
		.unwrap()
		.to_string();
	let charlie_address = Sr25519Keyring::Charlie.to_account_id().to_ss58check();
	let grant = bob.ok(&["grant", "--to", &charlie_address, "--categories", "all", "--expires", "1h"])["grant"]
		.as_u64()
		.unwrap()
		.to_string();

	alice.ok(&["admin", "offboard", &Sr25519Keyring::Bob.to_account_id().to_ss58check()]);
	// Widening access is refused, in words.
	let refused = bob.phr(&["grant", "--to", &charlie_address, "--categories", "all", "--expires", "1h"]).unwrap_err();
	assert!(refused.contains("offboarded"), "{refused}");
	// Taking it back is not: revoke (with re-keying), then erase.
	bob.ok(&["revoke", &grant]);
	let out = dir.path().join("lab.out");
	let denied = charlie.phr(&["record", "get", &record, "-o", out.to_str().unwrap()]).unwrap_err();
	assert!(denied.to_lowercase().contains("nogrant"), "{denied}");
	bob.ok(&["record", "erase", &record]);
	let gone = bob.phr(&["record", "get", &record, "-o", out.to_str().unwrap()]).unwrap_err();
	assert!(gone.to_lowercase().contains("erased"), "{gone}");
	// Onboarded again, the patient may grant again.
	alice.ok(&["admin", "onboard", &Sr25519Keyring::Bob.to_account_id().to_ss58check()]);
	bob.ok(&["grant", "--to", &charlie_address, "--categories", "all", "--expires", "1h"]);
}
