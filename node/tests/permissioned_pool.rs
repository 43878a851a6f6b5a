//! The transaction pool of a real dev node refuses unregistered signers with the documented error,
//! includes a registered patient's extrinsic without any fee, and keeps what it accepted beyond a
//! signer's rate window queued until the window moves: nothing accepted is dropped.

mod common;

use codec::Decode;
use common::{load::*, *};
use phr_primitives::tx_error::UNREGISTERED_SIGNER;
use phr_runtime::{Runtime, RuntimeCall, SystemCall};
use serde_json::json;
use sp_keyring::Sr25519Keyring;
use std::{collections::BTreeMap, time::Duration};

fn remark() -> RuntimeCall {
	RuntimeCall::System(SystemCall::remark { remark: b"phr".to_vec() })
}

#[test]
fn pool_refuses_unregistered_and_admits_patient_without_fees() {
	let dir = temp_dir("phr-dev-");
	let node = start_dev_node(dir.path());
	let chain = ChainContext::of(&node);

	// Eve is not registered in the dev preset.
	let refused = chain.signed(remark(), Sr25519Keyring::Eve, 0);
	let error = node.rpc("author_submitExtrinsic", json!([to_hex(&refused)])).expect_err("must be refused");
	assert_eq!(error["code"], 1010, "an invalid transaction: {error}");
	assert_eq!(error["data"], format!("Custom error: {UNREGISTERED_SIGNER}"), "{error}");

	// Bob is the dev preset's patient: accepted, included, and no balance was ever needed.
	let accepted = chain.signed(remark(), Sr25519Keyring::Bob, 0);
	node.rpc("author_submitExtrinsic", json!([to_hex(&accepted)])).expect("a patient's extrinsic is accepted");
	let bob = Sr25519Keyring::Bob.to_account_id();
	let included = wait_until(Duration::from_secs(30), || onchain_nonce(&node, &bob) == Some(1));
	assert!(included, "Bob's remark should be included; log:\n{}", node.log_tail());

	let key = frame_system::Account::<Runtime>::hashed_key_for(&bob);
	let stored = node.rpc("state_getStorage", json!([to_hex(&key)])).expect("storage query");
	let bytes = hex::decode(stored.as_str().expect("Bob's account exists").trim_start_matches("0x")).unwrap();
	let account = frame_system::AccountInfo::<u32, pallet_balances_data::AccountData>::decode(&mut &bytes[..]).unwrap();
	assert_eq!(account.nonce, 1);
	assert_eq!(account.data.free, 0, "no fee was charged: there is no token");
}

/// The runtime's rate window: 600 extrinsics per signer per 30 blocks (`configs/consortium.rs`).
const WINDOW_EXTRINSICS: u32 = 600;
const WINDOW_BLOCKS: u32 = 30;

/// A patient's wallet sends more than a rate window's worth at once. The pool accepts them all;
/// blocks include at most a window's worth per window; every one of them is finalized, none is
/// refused at block building, banned, or lost with the later nonces it held up.
#[test]
fn extrinsics_beyond_a_full_rate_window_wait_for_the_next_window() {
	let dir = temp_dir("phr-dev-");
	let node = start_dev_node(dir.path());
	let chain = ChainContext::of(&node);
	// Early in a window, so that the whole submission lands in one window and fills it.
	let early = wait_until(Duration::from_secs(90), || node.best_height().is_some_and(|n| (1..=15).contains(&(n % WINDOW_BLOCKS))));
	assert!(early, "the dev node should keep authoring; log:\n{}", node.log_tail());
	let count = WINDOW_EXTRINSICS + WINDOW_EXTRINSICS / 3;
	let extrinsics: Vec<Vec<u8>> =
		(0..count).map(|nonce| chain.signed(remark_call(nonce as u64), Sr25519Keyring::Bob, nonce)).collect();
	let hashes: Vec<_> = extrinsics.iter().map(|x| extrinsic_hash(x)).collect();
	let mut watcher = FinalityWatcher::from_now(&node);
	let (accepted, refusals) = submit_all(&[node.rpc_port], &extrinsics, 100);
	assert_eq!(accepted, extrinsics.len(), "the pool should accept every one: {refusals:?}");

	// Two windows at most (60 s each on the dev chain's 2 s blocks), and finality behind them.
	let all_final = wait_until(Duration::from_secs(200), || watcher.poll(&node) && watcher.contains_all(&hashes));
	let missing = hashes.iter().filter(|h| !watcher.included.contains_key(h)).count();
	let pooled = pooled(std::slice::from_ref(&node), &hashes)[0];
	assert!(
		all_final,
		"{missing} of {count} accepted extrinsics were not finalized ({pooled} still pooled, the rest lost); log:\n{}",
		node.log_tail()
	);
	// And the window still held: no window included more than its share of Bob's.
	let mut per_window = BTreeMap::<u32, u32>::new();
	for hash in &hashes {
		*per_window.entry(watcher.included[hash].0 / WINDOW_BLOCKS).or_default() += 1;
	}
	assert!(
		per_window.values().all(|&n| n <= WINDOW_EXTRINSICS),
		"a window included more than {WINDOW_EXTRINSICS} of Bob's extrinsics: {per_window:?}"
	);
	assert!(
		per_window.values().any(|&n| n == WINDOW_EXTRINSICS),
		"no window was filled, so the limit was never reached: {per_window:?}"
	);
	assert!(per_window.len() >= 2, "{count} extrinsics cannot fit one window: {per_window:?}");
}

/// The runtime's account data type, without depending on pallet-balances here.
mod pallet_balances_data {
	#[derive(codec::Decode, Debug)]
	#[allow(dead_code)]
	pub struct AccountData {
		pub free: u128,
		pub reserved: u128,
		pub frozen: u128,
		pub flags: u128,
	}
}
