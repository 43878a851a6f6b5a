//! The off-chain ciphertext store on the four-hospital local consortium (real `phr-node` processes
//! on loopback): uploads pinned only once their registration is final; a granted reader fetches the
//! exact bytes through any node; an ungranted one is refused; a finalized revocation refuses the
//! reader on every node; an erasure purges the ciphertext everywhere; every bad request gets its
//! own error code; a request signed for one node or chain is refused at every other; served reads
//! are anchored on chain, each receipt naming its basis, and verify against the anchored root; a
//! batch's receipts go only to those allowed to see them.

mod common;

use codec::{Decode, Encode};
use common::{blob::*, *};
use phr_primitives::{
	ciphertext_hash, receipts, Basis, BlobMethod, BlobSubject, CategorySet, Conditions, GrantTerms, Grantee,
	Purpose, ReadReceipt, ReceiptBatch, RecordInfo, Rights, Role, RoleSet, Scope,
};
use phr_runtime::{AccountId, BlockNumber, RuntimeCall};
use serde_json::json;
use sp_keyring::Sr25519Keyring::{self, Alice, Bob, Charlie, Eve, Ferdie, One, Two};
use std::time::Duration;

// Error codes of the `phr_` namespace, from the contract (docs/blob-store.md).
const fn code_of(code: phr_rpc_api::ErrorCode) -> i64 {
	code.code() as i64
}
const BAD_SIGNATURE: i64 = code_of(phr_rpc_api::ErrorCode::BadSignature);
const EXPIRED: i64 = code_of(phr_rpc_api::ErrorCode::Expired);
const REPLAYED: i64 = code_of(phr_rpc_api::ErrorCode::Replayed);
const TOO_LARGE: i64 = code_of(phr_rpc_api::ErrorCode::TooLarge);
const UNKNOWN: i64 = code_of(phr_rpc_api::ErrorCode::Unknown);
const NOT_FINAL: i64 = code_of(phr_rpc_api::ErrorCode::NotFinal);
const DENIED: i64 = code_of(phr_rpc_api::ErrorCode::Denied);
const ERASED: i64 = code_of(phr_rpc_api::ErrorCode::Erased);
const MALFORMED: i64 = code_of(phr_rpc_api::ErrorCode::Malformed);
const BUSY: i64 = code_of(phr_rpc_api::ErrorCode::Busy);
const WRONG_CHAIN: i64 = code_of(phr_rpc_api::ErrorCode::WrongChain);
const WRONG_NODE: i64 = code_of(phr_rpc_api::ErrorCode::WrongNode);
const WRONG_EPOCH: i64 = code_of(phr_rpc_api::ErrorCode::WrongEpoch);
const FORBIDDEN: i64 = code_of(phr_rpc_api::ErrorCode::Forbidden);

fn expect_code(result: Result<impl std::fmt::Debug, serde_json::Value>, expected: i64, what: &str) -> serde_json::Value {
	match result {
		Ok(answer) => panic!("{what}: expected error {expected}, got {answer:?}"),
		Err(error) => {
			assert_eq!(code(&error), expected, "{what}: {error}");
			error
		},
	}
}

#[test]
fn blob_store_serves_granted_readers_on_every_node_and_nobody_else() {
	let dir = temp_dir("phr-blobs-");
	let mut nodes = start_local_consortium(dir.path());
	assert!(wait_until(Duration::from_secs(150), || min_finalized(&nodes) >= 2), "finality; logs:\n{}", logs(&nodes));

	// Eve becomes H1's patient, Ferdie a physician at H2, One a physician at H3 (no grant), Two an
	// auditor at H1; they register their keys. (The validators' accounts, Alice..Dave, hold their
	// hospitals' escrow keys, registered by their nodes.)
	let (eve, ferdie, one, two) = (Requester::new(Eve), Requester::new(Ferdie), Requester::new(One), Requester::new(Two));
	let staff = |who: Sr25519Keyring, role: Role, department: &[u8], facility: &[u8]| {
		RuntimeCall::Consortium(pallet_consortium::Call::register_staff {
			who: who.to_account_id(),
			roles: RoleSet::from_roles(&[role]),
			department: department.to_vec().try_into().unwrap(),
			facility: facility.to_vec().try_into().unwrap(),
		})
	};
	submit_and_finalize(
		&nodes[0],
		&nodes,
		vec![
			(Alice, RuntimeCall::Consortium(pallet_consortium::Call::onboard_patient { patient: Eve.to_account_id() })),
			(Bob, staff(Ferdie, Role::Physician, b"cardiology", b"H2")),
			(Charlie, staff(One, Role::Physician, b"cardiology", b"H3")),
			(Alice, staff(Two, Role::Auditor, b"compliance", b"H1")),
		],
	);
	let keys = |r: &Requester| (r.keyring, RuntimeCall::Keys(pallet_keys::Call::register_keys { keys: r.keys() }));
	submit_and_finalize(&nodes[0], &nodes, vec![keys(&eve), keys(&ferdie), keys(&one), keys(&two)]);

	// One starts 64 uploads at H1 and abandons them: it may hold 4 at once, the others are refused
	// as busy; nobody else is held up (Eve's uploads below, and their replication to every node,
	// go through).
	let mut started = 0;
	for i in 0..64u8 {
		match one.begin_upload(&nodes[0], &test_bytes(CHUNK + 1, 100 + i)) {
			Ok(answer) if answer["upload"].is_string() => started += 1,
			other => drop(expect_code(other, BUSY, "One's uploads beyond 4 at once")),
		}
	}
	assert_eq!(started, 4, "One holds 4 uploads, no more");

	// Uploads: a 2.5 MiB ciphertext at H1, a small one at H2. Not registered yet: pending.
	let big = test_bytes(5 * CHUNK / 2, 1);
	let small = test_bytes(1000, 2);
	let (big_hash, small_hash) = (ciphertext_hash(&big), ciphertext_hash(&small));
	let status = eve.upload(&nodes[0], &big).expect("upload at H1");
	assert_eq!((status["state"].as_str(), status["size"].as_u64()), (Some("pending"), Some(big.len() as u64)));
	eve.upload(&nodes[1], &small).expect("upload at H2");
	expect_code(eve.fetch(&nodes[0], 0), UNKNOWN, "a record not registered");

	// With H3 and H4 down, GRANDPA cannot finalize: the registration is in the best chain only.
	nodes[2].kill();
	nodes[3].kill();
	let chain = ChainContext::of(&nodes[0]);
	let nonce = onchain_nonce(&nodes[0], &Eve.to_account_id()).unwrap();
	for (i, data) in [&big, &small].into_iter().enumerate() {
		let extrinsic = chain.signed(register_call(Eve, data), Eve, nonce + i as u32);
		nodes[0].rpc("author_submitExtrinsic", json!([to_hex(&extrinsic)])).expect("Eve registers");
	}
	let in_best = wait_until(Duration::from_secs(30), || {
		state_call::<Option<RecordInfo<AccountId, BlockNumber>>>(&nodes[0], "RecordsApi_record", 1u64).is_some()
	});
	assert!(in_best, "both records should be in the best chain; logs:\n{}", logs(&nodes));
	expect_code(eve.fetch(&nodes[0], 0), NOT_FINAL, "a registration not final yet");
	assert_eq!(blob_state(&nodes[0], big_hash, false), "pending", "pinned only once final");

	nodes[2].restart();
	nodes[3].restart();
	let best = nodes[0].best_height().unwrap();
	assert!(
		wait_until(Duration::from_secs(120), || min_finalized(&nodes) >= best),
		"finality resumes with H3 and H4 back; logs:\n{}",
		logs(&nodes)
	);
	assert!(wait_until(Duration::from_secs(10), || blob_state(&nodes[0], big_hash, false) == "pinned"));
	let (bytes, _) = eve.fetch(&nodes[0], 0).expect("the patient reads her own record");
	assert!(bytes == big, "the exact bytes");

	// Wrapped keys for Ferdie, then a one-hour read grant to him.
	eve.put_wrapped_key(&nodes[0], 0, &Ferdie.to_account_id(), b"data key 0 wrapped for Ferdie").expect("key at H1");
	eve.put_wrapped_key(&nodes[1], 1, &Ferdie.to_account_id(), b"data key 1 wrapped for Ferdie").expect("key at H2");
	expect_code(
		ferdie.put_wrapped_key(&nodes[0], 0, &Ferdie.to_account_id(), b"not his to wrap"),
		FORBIDDEN,
		"only the record's patient or author stores its keys",
	);
	// A key planted for a data-key epoch the record does not have (it would shadow every honest
	// key of later epochs), or for a recipient key epoch that is not the recipient's, is refused.
	expect_code(
		eve.put_wrapped_key_at(&nodes[0], 0, &Ferdie.to_account_id(), (u32::MAX, 0), b"a key from the future"),
		WRONG_EPOCH,
		"a data epoch the record does not have",
	);
	expect_code(
		eve.put_wrapped_key_at(&nodes[0], 0, &Ferdie.to_account_id(), (0, 9), b"a key for a recipient epoch never registered"),
		WRONG_EPOCH,
		"a recipient epoch the recipient does not have",
	);
	// The signature covers the recipient, the epochs and the key bytes: the same request with
	// other bytes, or for another recipient, is refused.
	let method = BlobMethod::UploadWrappedKey {
		recipient: Ferdie.to_account_id(),
		data_epoch: 0,
		recipient_epoch: 0,
		wrapped: phr_primitives::wrapped_key_hash(b"signed bytes"),
	};
	let signed = eve.request(&nodes[0], method, BlobSubject::Record(0));
	for (recipient, bytes, what) in [
		(Ferdie.to_account_id(), &b"other bytes"[..], "other key bytes than signed"),
		(One.to_account_id(), &b"signed bytes"[..], "another recipient than signed"),
	] {
		let sent = nodes[0].rpc(
			"phr_putWrappedKey",
			json!([to_hex(&signed.encode()), recipient.to_string(), 0, 0, base64_of(bytes)]),
		);
		expect_code(sent, MALFORMED, what);
	}
	let terms = GrantTerms {
		grantee: Grantee::Account(Ferdie.to_account_id()),
		scope: Scope { categories: CategorySet::all(), records: Default::default() },
		rights: Rights::READ,
		expires_at: now_ms() + 3_600_000,
		conditions: Conditions::default(),
	};
	submit_and_finalize(
		&nodes[0],
		&nodes,
		vec![(Eve, RuntimeCall::Access(pallet_access::Call::grant { patient: Eve.to_account_id(), terms }))],
	);

	// Ferdie reads through every node: the ciphertext and his wrapped key travel between nodes.
	for node in &nodes {
		let (bytes, wrapped) = ferdie.fetch(node, 0).unwrap_or_else(|e| panic!("Ferdie reads record 0 at {}: {e}", node.name));
		assert!(bytes == big, "exact bytes of record 0 at {}", node.name);
		assert_eq!(wrapped.as_deref(), Some(&b"data key 0 wrapped for Ferdie"[..]), "at {}", node.name);
	}
	let (bytes, wrapped) = ferdie.fetch(&nodes[3], 1).expect("uploaded at H2, read at H4");
	assert_eq!((bytes, wrapped.as_deref()), (small.clone(), Some(&b"data key 1 wrapped for Ferdie"[..])));
	for hash in [big_hash, small_hash] {
		let replicated = wait_until(Duration::from_secs(60), || nodes.iter().all(|n| blob_state(n, hash, true) == "pinned"));
		assert!(replicated, "every node keeps an intact copy of {hash:?}; logs:\n{}", logs(&nodes));
	}

	// One has no grant.
	let denied = expect_code(one.fetch(&nodes[0], 0), DENIED, "an ungranted reader");
	assert_eq!(denied["data"], "NoGrant", "{denied}");

	// Each bad request, its own code.
	let fetch_0 = |who: &Requester| who.fetch_request(&nodes[0], 0);
	let mut forged = fetch_0(&ferdie);
	forged.signature[5] ^= 1;
	expect_code(Requester::fetch_signed(&nodes[0], &forged), BAD_SIGNATURE, "a forged signature");
	let impostor = Requester { keyring: Ferdie, key: ed25519_dalek::SigningKey::from_bytes(&[9; 32]) };
	expect_code(impostor.fetch(&nodes[0], 0), BAD_SIGNATURE, "a key that is not Ferdie's registered one");
	let treatment = BlobMethod::Fetch { purpose: Purpose::Treatment };
	let expired = ferdie.request_with(&nodes[0], treatment.clone(), BlobSubject::Record(0), [1; 16], now_ms() - 1_000);
	expect_code(Requester::fetch_signed(&nodes[0], &expired), EXPIRED, "an expired request");
	let once = fetch_0(&ferdie);
	Requester::fetch_signed(&nodes[0], &once).expect("the first use of a nonce");
	expect_code(Requester::fetch_signed(&nodes[0], &once), REPLAYED, "the same request again");
	let huge =
		eve.request(&nodes[0], BlobMethod::UploadCiphertext { size: 8 << 30 }, BlobSubject::Ciphertext(ciphertext_hash(b"huge")));
	expect_code(nodes[0].rpc("phr_uploadBegin", json!([to_hex(&huge.encode()), 8u64 << 30])), TOO_LARGE, "8 GiB");
	expect_code(ferdie.fetch(&nodes[0], 999), UNKNOWN, "an unknown record");
	expect_code(nodes[0].rpc("phr_fetch", json!(["0x0102"])), MALFORMED, "undecodable request");
	let upload_signed = ferdie.request(&nodes[0], BlobMethod::UploadCiphertext { size: 1 }, BlobSubject::Record(0));
	expect_code(Requester::fetch_signed(&nodes[0], &upload_signed), MALFORMED, "signed for another method");
	let emergency_signed = ferdie.request(&nodes[0], BlobMethod::Fetch { purpose: Purpose::Emergency }, BlobSubject::Record(0));
	expect_code(Requester::fetch_signed(&nodes[0], &emergency_signed), MALFORMED, "signed for another purpose");

	// A request is bound to one node and one chain: a fetch Ferdie signed for H2 is refused at
	// H3 (no receipt there for a read that never happened), and so is one for another chain.
	let for_h2 = ferdie.fetch_request(&nodes[1], 0);
	expect_code(Requester::fetch_signed(&nodes[2], &for_h2), WRONG_NODE, "a fetch signed for H2, replayed at H3");
	let mut other_chain = ferdie.fetch_request(&nodes[2], 0);
	other_chain.request.genesis = sp_core::H256::repeat_byte(7);
	let other_chain = phr_primitives::sign_request(other_chain.request, &ferdie.key);
	expect_code(Requester::fetch_signed(&nodes[2], &other_chain), WRONG_CHAIN, "a fetch signed for another chain");
	Requester::fetch_signed(&nodes[1], &for_h2).expect("the request H3 refused is served at H2, the node it names");
	// A signature stands for one byte string: a valid request with a byte appended is refused.
	let mut trailing = ferdie.fetch_request(&nodes[1], 0).encode();
	trailing.push(0);
	expect_code(nodes[1].rpc("phr_fetch", json!([to_hex(&trailing)])), MALFORMED, "a signed request with a byte appended");

	// Revoked and final: Ferdie is refused on every node.
	submit_and_finalize(&nodes[0], &nodes, vec![(Eve, RuntimeCall::Access(pallet_access::Call::revoke { grant: 0 }))]);
	for node in &nodes {
		expect_code(ferdie.fetch(node, 0), DENIED, &format!("Ferdie after the revocation, at {}", node.name));
	}

	// Erased and final: gone from every node, never served again.
	submit_and_finalize(&nodes[0], &nodes, vec![(Eve, RuntimeCall::Records(pallet_records::Call::erase { record: 0 }))]);
	let purged = wait_until(Duration::from_secs(30), || nodes.iter().all(|n| blob_state(n, big_hash, false) == "purged"));
	assert!(purged, "the erased ciphertext is purged on every node; logs:\n{}", logs(&nodes));
	for node in &nodes {
		expect_code(eve.fetch(node, 0), ERASED, &format!("an erased record at {}", node.name));
	}

	// Served reads are anchored: every receipt H1 kept names its basis and verifies against a root
	// on chain. Two, an auditor, may read whole batches; Eve only the receipts of her records;
	// Ferdie, a physician, none.
	let anchored = wait_until(Duration::from_secs(90), || {
		nodes[0].rpc("phr_storeStatus", json!([])).map_or(false, |s| s["receiptsAnchored"].as_u64().unwrap_or(0) > 0)
	});
	assert!(anchored, "H1 anchors its read receipts; logs:\n{}", logs(&nodes));
	let receipts_of = |who: &Requester, batch: u64| {
		let request = who.request(&nodes[0], BlobMethod::Receipts { batch }, BlobSubject::Patient(Eve.to_account_id()));
		nodes[0].rpc("phr_receiptBatch", json!([to_hex(&request.encode()), batch]))
	};
	let (mut verified, mut bases) = (0, Vec::new());
	for batch in 0u64..20 {
		let Ok(answer) = receipts_of(&two, batch) else { continue };
		let on_chain: Option<ReceiptBatch<AccountId, BlockNumber>> = state_call(&nodes[0], "AccessApi_receipt_batch", batch);
		let on_chain = on_chain.expect("a batch H1 anchored is on chain");
		assert_eq!(on_chain.hospital, 1, "anchored by H1");
		let decode = |answer: &serde_json::Value| -> Vec<(ReadReceipt<AccountId>, receipts::InclusionProof)> {
			answer["receipts"]
				.as_array()
				.unwrap()
				.iter()
				.map(|r| Decode::decode(&mut &hex::decode(r.as_str().unwrap().trim_start_matches("0x")).unwrap()[..]).unwrap())
				.collect()
		};
		let all = decode(&answer);
		assert_eq!(all.len() as u32, on_chain.count, "an auditor gets the whole batch");
		for (receipt, proof) in &all {
			assert!(receipts::verify_receipt(&on_chain.root, on_chain.count, receipt, proof), "a receipt of batch {batch}");
			bases.push(receipt.basis);
			verified += 1;
		}
		let eves = decode(&receipts_of(&eve, batch).expect("the patient reads her receipts"));
		for (receipt, proof) in &eves {
			assert!(receipts::verify_receipt(&on_chain.root, on_chain.count, receipt, proof), "Eve's receipt of batch {batch}");
			assert!(matches!(receipt.request.request.subject, BlobSubject::Record(0 | 1)), "only reads of Eve's records");
		}
		expect_code(receipts_of(&ferdie, batch), FORBIDDEN, "a physician asking for a batch's receipts");
	}
	assert!(verified > 0, "at least one anchored receipt verified");
	assert!(bases.contains(&Basis::Owner) && bases.iter().any(|b| matches!(b, Basis::Grant(_))), "bases {bases:?}");
}

fn base64_of(bytes: &[u8]) -> String {
	use base64::Engine as _;
	base64::engine::general_purpose::STANDARD.encode(bytes)
}
