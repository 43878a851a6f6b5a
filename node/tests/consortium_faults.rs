//! Faults on the four-hospital consortium (real `phr-node` validators on loopback) under a steady
//! load of grants from 32 patients:
//! - one validator of four killed: finality goes on and the grants keep being finalized;
//! - restarted, it catches up with the others' finalized head;
//! - two of four killed: finality stalls (blocks are still authored); one back: it resumes;
//! - an upload not registered yet outlives its time-to-live while finality stalls (that clock runs
//!   on the finalized chain's time), and expires once finality resumes;
//! - every grant the pool accepted ends up finalized, and no finalized block is ever replaced;
//! - the whole network killed and restarted: chain state, every finalized block and the pinned
//!   ciphertext (on every node, read back and hash-checked) survive.

mod common;

use common::{blob::*, load::*, *};
use phr_runtime::RuntimeCall;
use serde_json::json;
use sp_core::H256;
use sp_keyring::Sr25519Keyring::{Alice, Eve};
use std::{
	sync::{
		atomic::{AtomicBool, Ordering},
		Arc, Mutex,
	},
	time::Duration,
};

const PATIENTS: u32 = 32;
/// One grant every 200 ms: 5 grants/s.
const LOAD_INTERVAL: Duration = Duration::from_millis(200);
/// The nodes' `--blob-pending-ttl`, in seconds: short, so that a stall outlasts it.
const PENDING_TTL_S: u64 = 10;
/// How often a node deletes expired uploads (`HOUSEKEEPING_EVERY` in `node/src/blobs/lifecycle.rs`).
const HOUSEKEEPING_S: u64 = 30;

/// Accepted grants: (extrinsic hash, patient index).
type Accepted = Arc<Mutex<Vec<(H256, usize)>>>;

/// Submits one grant every `LOAD_INTERVAL` through the node at `rpc_port`, patients in turn,
/// until `stop`. After an error the same extrinsic is sent again (the answer may have been lost
/// while the pool took it: "already imported" or "outdated" then count as accepted).
fn grant_load(rpc_port: u16, chain: ChainContext, accepted: Accepted, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
	std::thread::spawn(move || {
		let node = Node::attach("H1", rpc_port);
		let patients: Vec<_> = (0..PATIENTS).map(patient).collect();
		let mut nonces = vec![0u32; patients.len()];
		let mut turn = 0usize;
		let mut retry: Option<Vec<u8>> = None;
		while !stop.load(Ordering::SeqCst) {
			let i = turn % patients.len();
			let extrinsic = retry.take().unwrap_or_else(|| {
				chain.signed_by(grant_call(account(&patients[i]), Alice.to_account_id()), &patients[i], nonces[i])
			});
			match node.rpc("author_submitExtrinsic", json!([to_hex(&extrinsic)])) {
				Err(error) if !already_taken(&error) => retry = Some(extrinsic),
				_ => {
					accepted.lock().unwrap().push((extrinsic_hash(&extrinsic), i));
					nonces[i] += 1;
					turn += 1;
				},
			}
			std::thread::sleep(LOAD_INTERVAL);
		}
	})
}

fn finalized_of(watcher: &FinalityWatcher, accepted: &Accepted) -> usize {
	accepted.lock().unwrap().iter().filter(|(h, _)| watcher.included.contains_key(h)).count()
}

/// Every block the watcher saw finalized is still, at its height, the block of every running node.
fn assert_finalized_blocks_kept(nodes: &[Node], watcher: &FinalityWatcher) {
	for node in nodes {
		for block in &watcher.blocks {
			let hash = node.rpc("chain_getBlockHash", json!([block.number])).expect("the node answers");
			let hash: Option<H256> = serde_json::from_value(hash).expect("a hash or null");
			assert_eq!(hash, Some(block.hash), "{}: finalized block {} replaced or lost", node.name, block.number);
		}
	}
}

#[test]
fn consortium_survives_validator_faults_under_grant_load() {
	let dir = temp_dir("phr-faults-");
	let patients: Vec<_> = (0..PATIENTS).map(patient).collect();
	let spec = spec_with_patients(dir.path(), &patients);
	let ttl = PENDING_TTL_S.to_string();
	let mut nodes = start_consortium(dir.path(), spec.to_str().unwrap(), &["--blob-pending-ttl", &ttl]);
	assert!(wait_until(Duration::from_secs(150), || min_finalized(&nodes) >= 2), "finality; logs:\n{}", logs(&nodes));

	// A pinned ciphertext: Eve (onboarded at H1) uploads at H1 and registers it; every node pins it.
	let eve = Requester::new(Eve);
	let onboard = RuntimeCall::Consortium(pallet_consortium::Call::onboard_patient { patient: Eve.to_account_id() });
	submit_and_finalize(&nodes[0], &nodes, vec![(Alice, onboard)]);
	let register_keys = RuntimeCall::Keys(pallet_keys::Call::register_keys { keys: eve.keys() });
	submit_and_finalize(&nodes[0], &nodes, vec![(Eve, register_keys)]);
	let ciphertext = test_bytes(3 * CHUNK / 2, 7);
	let hash = phr_primitives::ciphertext_hash(&ciphertext);
	eve.upload(&nodes[0], &ciphertext).expect("upload at H1");
	let register = RuntimeCall::Records(pallet_records::Call::register {
		patient: Eve.to_account_id(),
		ciphertext_hash: hash,
		size: ciphertext.len() as u64,
		category: phr_primitives::Category::Observation,
	});
	submit_and_finalize(&nodes[0], &nodes, vec![(Eve, register)]);
	let pinned_everywhere = |nodes: &[Node]| nodes.iter().all(|n| blob_state(n, hash, true) == "pinned");
	assert!(wait_until(Duration::from_secs(60), || pinned_everywhere(&nodes)), "pinned on every node; logs:\n{}", logs(&nodes));

	// Steady load through H1 (which stays up until the whole network restarts).
	let accepted: Accepted = Default::default();
	let stop = Arc::new(AtomicBool::new(false));
	let mut watcher = FinalityWatcher::from_now(&nodes[0]);
	let load = grant_load(nodes[0].rpc_port, ChainContext::of(&nodes[0]), accepted.clone(), stop.clone());
	let flowing = wait_until(Duration::from_secs(60), || watcher.poll(&nodes[0]) && finalized_of(&watcher, &accepted) >= 10);
	assert!(flowing, "grants are finalized under load; logs:\n{}", logs(&nodes));

	// One of four down: the other three are more than two thirds; finality and grants go on.
	nodes[3].kill();
	let (height, granted) = (nodes[0].finalized_height().unwrap(), finalized_of(&watcher, &accepted));
	let goes_on = wait_until(Duration::from_secs(60), || {
		watcher.poll(&nodes[0]) &&
			nodes[0].finalized_height().unwrap_or(0) >= height + 5 &&
			finalized_of(&watcher, &accepted) >= granted + 10
	});
	assert!(goes_on, "finality and grants go on with H4 down (from block {height}); logs:\n{}", logs(&nodes));

	// H4 back: it catches up with H1's finalized head.
	nodes[3].restart();
	let target = nodes[0].finalized_height().unwrap();
	let caught_up = wait_until(Duration::from_secs(90), || nodes[3].finalized_height().unwrap_or(0) >= target);
	assert!(caught_up, "H4 catches up to block {target}; logs:\n{}", logs(&nodes));

	// Two of four down: two votes of four are not a supermajority; finality stalls while H1 and H2
	// go on authoring in their slots.
	nodes[2].kill();
	nodes[3].kill();
	std::thread::sleep(Duration::from_secs(6)); // a round already under way may still complete
	let stalled_at = nodes[0].finalized_height().unwrap();
	let best_before = nodes[0].best_height().unwrap();
	// An upload at H1 that nobody registers: on the node's clock its time-to-live passes during
	// the stall (and a housekeeping round with it), on the finalized chain's it does not.
	let unregistered = test_bytes(CHUNK + 3, 11);
	let unregistered_hash = phr_primitives::ciphertext_hash(&unregistered);
	eve.upload(&nodes[0], &unregistered).expect("an upload during the stall");
	std::thread::sleep(Duration::from_secs(PENDING_TTL_S + HOUSEKEEPING_S + 5));
	assert_eq!(
		blob_state(&nodes[0], unregistered_hash, false),
		"pending",
		"an unregistered upload is kept while finality stalls; logs:\n{}",
		logs(&nodes)
	);
	watcher.poll(&nodes[0]);
	let (stalled_now, best_now) = (nodes[0].finalized_height().unwrap(), nodes[0].best_height().unwrap());
	assert_eq!(stalled_now, stalled_at, "no finality with two of four validators down; logs:\n{}", logs(&nodes));
	// H1's and H2's slots: half of the 2 s slots, about 12 blocks in 51 s; 2 leaves room for missed slots.
	assert!(best_now >= best_before + 2, "blocks are still authored ({best_before} -> {best_now})");

	// H3 back: three of four again; finality resumes past the blocks authored meanwhile.
	nodes[2].restart();
	let resumed = wait_until(Duration::from_secs(120), || nodes[0].finalized_height().unwrap_or(0) >= best_now);
	assert!(resumed, "finality resumes past block {best_now} with H3 back; logs:\n{}", logs(&nodes));
	nodes[3].restart();
	// The finalized chain's time now passes the upload's time-to-live: the next housekeeping
	// deletes it.
	let expired = wait_until(Duration::from_secs(HOUSEKEEPING_S + 30), || blob_state(&nodes[0], unregistered_hash, false) == "absent");
	assert!(expired, "the unregistered upload expires once finality resumes; logs:\n{}", logs(&nodes));

	// Load stops; every grant the pool accepted is finalized; no finalized block was replaced.
	stop.store(true, Ordering::SeqCst);
	load.join().unwrap();
	let accepted_now = accepted.lock().unwrap().clone();
	let all_final = wait_until(Duration::from_secs(90), || {
		watcher.poll(&nodes[0]) && watcher.contains_all(accepted_now.iter().map(|(h, _)| h))
	});
	let missing = accepted_now.len() - finalized_of(&watcher, &accepted);
	assert!(all_final, "{missing} of {} accepted grants never finalized; logs:\n{}", accepted_now.len(), logs(&nodes));
	let everywhere = wait_until(Duration::from_secs(90), || min_finalized(&nodes) >= watcher.next - 1);
	assert!(everywhere, "every node finalizes block {}; logs:\n{}", watcher.next - 1, logs(&nodes));
	assert_finalized_blocks_kept(&nodes, &watcher);

	// The whole network down (SIGKILL) and back: state, finalized blocks and the pinned blob survive.
	for node in nodes.iter_mut() {
		node.kill();
	}
	for node in nodes.iter_mut() {
		node.restart();
	}
	let last = watcher.next - 1;
	let restarted = wait_until(Duration::from_secs(150), || min_finalized(&nodes) >= last + 3);
	assert!(restarted, "the restarted network finalizes past block {last}; logs:\n{}", logs(&nodes));
	assert_finalized_blocks_kept(&nodes, &watcher);
	for (i, pair) in patients.iter().enumerate() {
		let granted = accepted_now.iter().filter(|(_, p)| *p == i).count() as u32;
		for node in &nodes {
			assert_eq!(onchain_nonce(node, &account(pair)), Some(granted), "{}: patient {i}'s grants", node.name);
		}
	}
	assert!(pinned_everywhere(&nodes), "the pinned ciphertext survives on every node");
	let record = 0;
	let (bytes, _) = eve.fetch(&nodes[3], record).expect("Eve reads her record through H4");
	assert!(bytes == ciphertext, "the exact bytes after the restart");
	assert!(accepted_now.len() >= 100, "a steady load ran: {} grants", accepted_now.len());
}
