//! The transaction pool of a real dev node refuses unregistered signers with the documented error,
//! and includes a registered patient's extrinsic without any fee.

mod common;

use codec::Decode;
use common::*;
use phr_primitives::tx_error::UNREGISTERED_SIGNER;
use phr_runtime::{Runtime, RuntimeCall, SystemCall};
use serde_json::json;
use sp_keyring::Sr25519Keyring;
use std::time::Duration;

fn remark() -> RuntimeCall {
	RuntimeCall::System(SystemCall::remark { remark: b"phr".to_vec() })
}

#[test]
fn pool_refuses_unregistered_and_admits_patient_without_fees() {
	let dir = temp_dir("phr-dev-");
	let mut node = Node::new("dev", &dir.path().join("dev"));
	node.start(vec!["--dev".into()]);
	assert!(
		wait_until(Duration::from_secs(60), || node.best_height().unwrap_or(0) >= 1),
		"the dev node should author blocks; log:\n{}",
		node.log_tail()
	);
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
