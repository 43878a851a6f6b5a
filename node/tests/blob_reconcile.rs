//! The blob store converges from the chain's current finalized state, not from events it must have
//! seen (issue 14): on the four-hospital local consortium, every node keeping state for only a few
//! blocks (`--state-pruning 8`), H4 is stopped while records are registered, one erased and a key
//! rotated over many more blocks than it keeps state for. Restarted, it pins the new ciphertext,
//! purges the erased one and serves reads. Then H4 starts with its chain database gone but its store
//! kept: it purges nothing while it resyncs. Then from an empty database and blob store (its keys
//! kept): it converges again. Last, a record registered with a hash nobody uploaded is
//! given up as "missing" on every node (`--blob-fetch-give-up 10`), and stays so.

mod common;

use common::{blob::*, *};
use phr_primitives::ciphertext_hash;
use phr_runtime::RuntimeCall;
use sp_keyring::Sr25519Keyring::{Alice, Eve};
use std::time::Duration;

/// What every node keeps state for, in blocks: short, so that the outage below outlives it in
/// seconds rather than in the default's 8.5 minutes.
const STATE_KEPT: u32 = 8;
/// Seconds a ciphertext no member holds is asked for before it is given up.
const GIVE_UP: &str = "10";

/// Waits until every node in `nodes` reports `state` for `hash`.
fn all_report(nodes: &[Node], hash: phr_primitives::CiphertextHash, state: &str, timeout: Duration) -> bool {
	wait_until(timeout, || nodes.iter().all(|node| blob_state(node, hash, false) == state))
}

#[test]
fn a_node_down_longer_than_its_state_converges_when_it_returns() {
	let dir = temp_dir("phr-reconcile-");
	let pruning = STATE_KEPT.to_string();
	let mut nodes =
		start_consortium(dir.path(), "local-consortium", &["--state-pruning", &pruning, "--blob-fetch-give-up", GIVE_UP]);
	assert!(wait_until(Duration::from_secs(150), || min_finalized(&nodes) >= 2), "finality; logs:\n{}", logs(&nodes));
	// Eve, H1's patient, with her keys.
	let eve = Requester::new(Eve);
	let onboard = RuntimeCall::Consortium(pallet_consortium::Call::onboard_patient { patient: Eve.to_account_id() });
	submit_and_finalize(&nodes[0], &nodes, vec![(Alice, onboard)]);
	submit_and_finalize(&nodes[0], &nodes, vec![(Eve, RuntimeCall::Keys(pallet_keys::Call::register_keys { keys: eve.keys() }))]);

	// Record 0, on every node.
	let first = test_bytes(3 * CHUNK / 2, 7);
	eve.upload(&nodes[0], &first).expect("upload at H1");
	submit_and_finalize(&nodes[0], &nodes, vec![(Eve, register_call(Eve, &first))]);
	assert!(
		all_report(&nodes, ciphertext_hash(&first), "pinned", Duration::from_secs(60)),
		"record 0 pinned everywhere; logs:\n{}",
		logs(&nodes)
	);

	// H4 down; meanwhile record 1 registered, record 0 erased, Eve's keys rotated, and then many
	// more blocks finalized than H4 keeps state for.
	nodes[3].kill();
	let up = &nodes[..3];
	let second = test_bytes(CHUNK + 11, 8);
	eve.upload(&nodes[0], &second).expect("upload at H1");
	submit_and_finalize(&nodes[0], up, vec![(Eve, register_call(Eve, &second))]);
	submit_and_finalize(&nodes[0], up, vec![(Eve, RuntimeCall::Records(pallet_records::Call::erase { record: 0 }))]);
	// A new encryption key; the request key stays, so that Eve's later requests still verify.
	let rotated = phr_primitives::AccountKeys { encryption: [0x5a; 32], ..eve.keys() };
	submit_and_finalize(&nodes[0], up, vec![(Eve, RuntimeCall::Keys(pallet_keys::Call::rotate_keys { keys: rotated }))]);
	let since = min_finalized(up);
	assert!(
		wait_until(Duration::from_secs(120), || min_finalized(up) >= since + 3 * STATE_KEPT),
		"three hospitals keep finalizing; logs:\n{}",
		logs(up)
	);

	// Back: H4 converges to the chain's state, not to the events it missed (their state is gone).
	nodes[3].restart();
	assert_converged(&nodes[3], &first, &second, "after an outage longer than its state", Duration::from_secs(120));
	let log = std::fs::read_to_string(nodes[3].base.with_extension("log")).unwrap_or_default();
	let reconciled_after: Vec<u32> = log
		.lines()
		.filter_map(|line| line.split("reconciled with finalized block ").nth(1))
		.filter_map(|rest| rest.split(':').next()?.parse().ok())
		.filter(|block| *block >= since)
		.collect();
	assert!(!reconciled_after.is_empty(), "H4 should have reconciled with a block after its outage; log:\n{}", nodes[3].log_tail());

	// H4 again, its chain database gone but its store kept: while it syncs from genesis, an old
	// finalized state must not make it purge what it holds.
	nodes[3].kill();
	for chain_dir in chain_dirs(&nodes[3]) {
		std::fs::remove_dir_all(chain_dir.join("db")).expect("H4's chain database");
	}
	nodes[3].restart();
	assert!(wait_until(Duration::from_secs(30), || nodes[3].best_height().is_some()), "H4's RPC; log:\n{}", nodes[3].log_tail());
	assert_eq!(blob_state(&nodes[3], ciphertext_hash(&second), false), "pinned", "kept while the chain resyncs");
	let head = nodes[0].finalized_height().expect("H1's finalized height");
	assert!(
		wait_until(Duration::from_secs(180), || nodes[3].finalized_height().is_some_and(|h| h >= head)),
		"H4 resyncs to block {head}; log:\n{}",
		nodes[3].log_tail()
	);
	assert_converged(&nodes[3], &first, &second, "with its chain database resynced", Duration::from_secs(60));

	// H4 again, from an empty database and an empty blob store (its keys kept).
	nodes[3].kill();
	for chain_dir in chain_dirs(&nodes[3]) {
		for data in ["db", "phr-blobs"] {
			std::fs::remove_dir_all(chain_dir.join(data)).expect("H4's database and store");
		}
	}
	nodes[3].restart();
	assert_converged(&nodes[3], &first, &second, "from an empty database and store", Duration::from_secs(180));

	// A registration of a hash nobody uploaded: every node asks the others for a while, then gives
	// up, and it stays given up.
	let never = test_bytes(100, 9);
	submit_and_finalize(&nodes[0], &nodes, vec![(Eve, register_call(Eve, &never))]);
	assert!(
		all_report(&nodes, ciphertext_hash(&never), "missing", Duration::from_secs(90)),
		"every node gives the unheld ciphertext up (states {:?}); logs:\n{}",
		nodes.iter().map(|n| blob_state(n, ciphertext_hash(&never), false)).collect::<Vec<_>>(),
		logs(&nodes)
	);
	std::thread::sleep(Duration::from_secs(15));
	assert!(all_report(&nodes, ciphertext_hash(&never), "missing", Duration::from_secs(1)), "still given up 15 s later");
	let status = nodes[0].rpc("phr_storeStatus", serde_json::json!([])).expect("store status");
	assert_eq!(status["missing"], 1, "the store counts it: {status}");
}

/// The directories of `node`'s chains (one here) under its base path.
fn chain_dirs(node: &Node) -> Vec<std::path::PathBuf> {
	std::fs::read_dir(node.base.join("chains"))
		.expect("the node's chains directory")
		.map(|entry| entry.expect("a chain directory").path())
		.collect()
}

/// Within `timeout`, `node` has the live `second` pinned and the erased `first` purged, and serves
/// `second` to its patient, byte for byte.
fn assert_converged(node: &Node, first: &[u8], second: &[u8], when: &str, timeout: Duration) {
	let state = |data: &[u8]| blob_state(node, ciphertext_hash(data), false);
	let converged = wait_until(timeout, || state(second) == "pinned" && state(first) == "purged");
	assert!(
		converged,
		"{} {when}: record 1 should be pinned and the erased record 0 purged (they are {} and {}); log:\n{}",
		node.name,
		state(second),
		state(first),
		node.log_tail()
	);
	let (bytes, _) = Requester::new(Eve).fetch(node, 1).unwrap_or_else(|e| panic!("Eve reads record 1 at {} {when}: {e}", node.name));
	assert!(bytes == second, "the exact bytes at {} {when}", node.name);
}
