//! The records and keys runtime APIs, called over JSON-RPC `state_call` on a real dev node and
//! decoded, after a patient registered keys and a record by extrinsic.

mod common;

use common::*;
use phr_primitives::{ciphertext_hash, AccountKeys, Category, KeyRecord, RecordId, RecordInfo, RecordStatus};
use phr_runtime::{AccountId, BlockNumber, RuntimeCall};
use serde_json::json;
use sp_keyring::Sr25519Keyring;
use std::time::Duration;

#[test]
fn records_and_keys_apis_answer_over_state_call() {
	let dir = temp_dir("phr-apis-");
	let node = start_dev_node(dir.path());
	let chain = ChainContext::of(&node);
	let bob = Sr25519Keyring::Bob;
	let keys = AccountKeys {
		encryption: [7; 32],
		request_signing: ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key().to_bytes(),
	};
	let ciphertext = b"not really a ciphertext, but the chain cannot tell";
	let calls = [
		RuntimeCall::Keys(pallet_keys::Call::register_keys { keys: keys.clone() }),
		RuntimeCall::Records(pallet_records::Call::register {
			patient: bob.to_account_id(),
			ciphertext_hash: ciphertext_hash(ciphertext),
			size: ciphertext.len() as u64,
			category: Category::Immunization,
		}),
	];
	for (nonce, call) in calls.into_iter().enumerate() {
		let extrinsic = chain.signed(call, bob, nonce as u32);
		node.rpc("author_submitExtrinsic", json!([to_hex(&extrinsic)])).expect("Bob's extrinsic is accepted");
	}
	let included = wait_until(Duration::from_secs(30), || onchain_nonce(&node, &bob.to_account_id()) == Some(2));
	assert!(included, "both extrinsics should be included; log:\n{}", node.log_tail());

	let record: Option<RecordInfo<AccountId, BlockNumber>> = state_call(&node, "RecordsApi_record", 0u64);
	let record = record.expect("record 0 exists");
	assert_eq!(record.patient, bob.to_account_id());
	assert_eq!(record.ciphertext_hash, ciphertext_hash(ciphertext));
	assert_eq!((record.size, record.category, record.version, record.key_epoch), (ciphertext.len() as u64, Category::Immunization, 1, 0));
	assert_eq!(record.status, RecordStatus::Current);

	let unknown: Option<RecordInfo<AccountId, BlockNumber>> = state_call(&node, "RecordsApi_record", 99u64);
	assert!(unknown.is_none());
	let page: Vec<(RecordId, RecordInfo<AccountId, BlockNumber>)> =
		state_call(&node, "RecordsApi_patient_records", (bob.to_account_id(), 0u32, 10u32));
	assert_eq!(page.len(), 1);
	assert_eq!(page[0].0, 0);
	let versions: Vec<RecordId> = state_call(&node, "RecordsApi_versions", 0u64);
	assert_eq!(versions, vec![0]);
	let by_hash: Option<RecordId> = state_call(&node, "RecordsApi_record_by_hash", ciphertext_hash(ciphertext));
	assert_eq!(by_hash, Some(0));

	let current: Option<KeyRecord<BlockNumber>> = state_call(&node, "KeysApi_current_key", bob.to_account_id());
	let current = current.expect("Bob registered keys");
	assert_eq!((current.keys, current.epoch, current.retired_at), (keys, 0, None));
	let none: Option<KeyRecord<BlockNumber>> = state_call(&node, "KeysApi_key_at", (bob.to_account_id(), 1u32));
	assert!(none.is_none());
	let due: Vec<AccountId> = state_call(&node, "KeysApi_keys_due", (Option::<AccountId>::None, 10u32));
	assert!(due.is_empty(), "a fresh key is not due");
	let records_due: Vec<RecordId> = state_call(&node, "KeysApi_records_due", (bob.to_account_id(), 0u32, 10u32));
	assert!(records_due.is_empty());
}
