//! Crash safety of the blob store in a real node: uploads run while the node is killed with SIGKILL,
//! many times; after each restart every upload the node had acknowledged is there and intact, and
//! nothing of the interrupted ones is left behind.

mod common;

use common::{blob::*, *};
use phr_runtime::RuntimeCall;
use serde_json::json;
use sp_keyring::Sr25519Keyring::Bob;
use std::{
	sync::{
		atomic::{AtomicBool, Ordering},
		Arc, Mutex,
	},
	time::Duration,
};

const ROUNDS: u32 = 6;

#[test]
fn acknowledged_uploads_survive_sigkill_and_none_is_corrupt() {
	let dir = temp_dir("phr-crash-");
	let mut node = start_dev_node(dir.path());
	let bob = Requester::new(Bob);
	let nodes = std::slice::from_ref(&node);
	submit_and_finalize(&node, nodes, vec![(Bob, RuntimeCall::Keys(pallet_keys::Call::register_keys { keys: bob.keys() }))]);

	let acknowledged: Arc<Mutex<Vec<(phr_primitives::CiphertextHash, usize)>>> = Default::default();
	for round in 0..ROUNDS {
		// Upload blobs of 8 bytes to 3.5 MiB, one after another, until the node dies.
		let stop = Arc::new(AtomicBool::new(false));
		let uploader = {
			let (acknowledged, stop, rpc_port) = (acknowledged.clone(), stop.clone(), node.rpc_port);
			std::thread::spawn(move || {
				let node = Node::attach("dev", rpc_port);
				let bob = Requester::new(Bob);
				let mut i = 0u32;
				while !stop.load(Ordering::SeqCst) {
					let len = [8, CHUNK - 1, CHUNK + 1, 7 * CHUNK / 2][(i % 4) as usize];
					let mut data = test_bytes(len, i as u8);
					// Unique content: the round and the upload's number.
					let tag = ((round as u64) << 32 | i as u64).to_le_bytes();
					let n = tag.len().min(len);
					data[..n].copy_from_slice(&tag[..n]);
					if bob.upload(&node, &data).is_ok() {
						acknowledged.lock().unwrap().push((phr_primitives::ciphertext_hash(&data), len));
					}
					i += 1;
				}
			})
		};
		std::thread::sleep(Duration::from_millis(700 + 350 * round as u64));
		node.kill();
		stop.store(true, Ordering::SeqCst);
		uploader.join().unwrap();

		node.restart();
		let up = wait_until(Duration::from_secs(60), || node.rpc("phr_storeStatus", json!([])).is_ok());
		assert!(up, "the node restarts after SIGKILL (round {round}); log:\n{}", node.log_tail());
		let status = node.rpc("phr_storeStatus", json!([])).unwrap();
		let acked = acknowledged.lock().unwrap().clone();
		for (hash, len) in &acked {
			let answer = node.rpc("phr_blobStatus", json!([hash, true])).unwrap();
			assert_eq!(answer["state"], "pending", "acknowledged upload {hash:?} after round {round}: {answer}");
			assert_eq!(answer["size"].as_u64(), Some(*len as u64));
		}
		assert_eq!(status["uploadsInProgress"], 0);
		// Acknowledged uploads, plus at most one per kill: an upload the node completed whose
		// acknowledgement the kill cut off before it reached the client.
		let pending = status["pending"].as_u64().unwrap();
		let acked = acked.len() as u64;
		assert!(
			(acked..=acked + round as u64 + 1).contains(&pending),
			"round {round}: {pending} stored, {acked} acknowledged"
		);
	}
	assert!(acknowledged.lock().unwrap().len() >= ROUNDS as usize, "uploads were acknowledged between the kills");
}
