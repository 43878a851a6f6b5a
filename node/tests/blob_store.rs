//! The off-chain ciphertext store on the four-hospital local consortium (real `phr-node` processes
//! on loopback): uploads pinned only once their registration is final; a granted reader fetches the
//! exact bytes through any node; an ungranted one is refused; a finalized revocation refuses the
//! reader on every node; an erasure purges the ciphertext everywhere; every bad request gets its
//! own error code; served reads are anchored on chain and verify against the anchored root.

mod common;

use codec::{Decode, Encode};
use common::{blob::*, *};
use phr_primitives::{
	ciphertext_hash, receipts, BlobMethod, BlobSubject, Category, CategorySet, Conditions, GrantTerms, Grantee,
	ReceiptBatch, RecordInfo, Rights, Role, RoleSet, Scope, SignedBlobRequest,
};
use phr_runtime::{AccountId, BlockNumber, RuntimeCall};
use serde_json::json;
use sp_keyring::Sr25519Keyring::{self, Alice, Bob, Charlie, Eve, Ferdie};
use std::time::Duration;

// Error codes of the `phr_` namespace (docs/blob-store.md).
const BAD_SIGNATURE: i64 = 4001;
const EXPIRED: i64 = 4002;
const REPLAYED: i64 = 4003;
const TOO_LARGE: i64 = 4004;
const UNKNOWN: i64 = 4005;
const NOT_FINAL: i64 = 4006;
const DENIED: i64 = 4007;
const ERASED: i64 = 4008;
const MALFORMED: i64 = 4009;

fn state_call<T: Decode>(node: &Node, method: &str, args: impl Encode) -> T {
	let answer = node.rpc("state_call", json!([method, to_hex(&args.encode())])).unwrap_or_else(|e| panic!("{method}: {e}"));
	let bytes = hex::decode(answer.as_str().expect("hex").trim_start_matches("0x")).expect("hex");
	T::decode(&mut &bytes[..]).unwrap_or_else(|e| panic!("{method} answer does not decode: {e}"))
}

fn register(patient: Sr25519Keyring, data: &[u8]) -> RuntimeCall {
	RuntimeCall::Records(pallet_records::Call::register {
		patient: patient.to_account_id(),
		ciphertext_hash: ciphertext_hash(data),
		size: data.len() as u64,
		category: Category::Observation,
	})
}

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

	// Eve becomes H1's patient, Ferdie a physician at H2; Eve, Ferdie and Charlie (H3's admin)
	// register their keys.
	let (eve, ferdie, charlie) = (Requester::new(Eve), Requester::new(Ferdie), Requester::new(Charlie));
	submit_and_finalize(
		&nodes[0],
		&nodes,
		vec![
			(Alice, RuntimeCall::Consortium(pallet_consortium::Call::onboard_patient { patient: Eve.to_account_id() })),
			(
				Bob,
				RuntimeCall::Consortium(pallet_consortium::Call::register_staff {
					who: Ferdie.to_account_id(),
					roles: RoleSet::from_roles(&[Role::Physician]),
					department: b"cardiology".to_vec().try_into().unwrap(),
					facility: b"H2".to_vec().try_into().unwrap(),
				}),
			),
		],
	);
	let keys = |r: &Requester| (r.keyring, RuntimeCall::Keys(pallet_keys::Call::register_keys { keys: r.keys() }));
	submit_and_finalize(&nodes[0], &nodes, vec![keys(&eve), keys(&ferdie), keys(&charlie)]);

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
		let extrinsic = chain.signed(register(Eve, data), Eve, nonce + i as u32);
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
		DENIED,
		"a reader without the append right cannot store keys",
	);
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

	// Charlie has no grant.
	let denied = expect_code(charlie.fetch(&nodes[0], 0), DENIED, "an ungranted reader");
	assert_eq!(denied["data"], "NoGrant", "{denied}");

	// Each bad request, its own code.
	let fetch_0 = |who: &Requester| who.request(BlobMethod::Fetch, BlobSubject::Record(0));
	let mut forged = fetch_0(&ferdie);
	forged.signature[5] ^= 1;
	expect_code(Requester::fetch_signed(&nodes[0], &forged), BAD_SIGNATURE, "a forged signature");
	let impostor = Requester { keyring: Ferdie, key: ed25519_dalek::SigningKey::from_bytes(&[9; 32]) };
	expect_code(impostor.fetch(&nodes[0], 0), BAD_SIGNATURE, "a key that is not Ferdie's registered one");
	let expired = ferdie.request_with(BlobMethod::Fetch, BlobSubject::Record(0), [1; 16], now_ms() - 1_000);
	expect_code(Requester::fetch_signed(&nodes[0], &expired), EXPIRED, "an expired request");
	let once = fetch_0(&ferdie);
	Requester::fetch_signed(&nodes[0], &once).expect("the first use of a nonce");
	expect_code(Requester::fetch_signed(&nodes[0], &once), REPLAYED, "the same request again");
	let huge = eve.request(BlobMethod::UploadCiphertext, BlobSubject::Ciphertext(ciphertext_hash(b"huge")));
	expect_code(nodes[0].rpc("phr_uploadBegin", json!([to_hex(&huge.encode()), 8u64 << 30])), TOO_LARGE, "8 GiB");
	expect_code(ferdie.fetch(&nodes[0], 999), UNKNOWN, "an unknown record");
	expect_code(nodes[0].rpc("phr_fetch", json!(["0x0102"])), MALFORMED, "undecodable request");
	let upload_signed = ferdie.request(BlobMethod::UploadCiphertext, BlobSubject::Record(0));
	expect_code(Requester::fetch_signed(&nodes[0], &upload_signed), MALFORMED, "signed for another method");

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

	// Served reads are anchored: every receipt H1 kept verifies against a root on chain.
	let anchored = wait_until(Duration::from_secs(90), || {
		nodes[0].rpc("phr_storeStatus", json!([])).map_or(false, |s| s["receiptsAnchored"].as_u64().unwrap_or(0) > 0)
	});
	assert!(anchored, "H1 anchors its read receipts; logs:\n{}", logs(&nodes));
	let mut verified = 0;
	for batch in 0u64..20 {
		let Ok(answer) = nodes[0].rpc("phr_receiptBatch", json!([batch])) else { continue };
		let on_chain: Option<ReceiptBatch<AccountId, BlockNumber>> = state_call(&nodes[0], "AccessApi_receipt_batch", batch);
		let on_chain = on_chain.expect("a batch H1 anchored is on chain");
		assert_eq!(on_chain.hospital, 1, "anchored by H1");
		let receipts: Vec<SignedBlobRequest<AccountId>> = answer["receipts"]
			.as_array()
			.unwrap()
			.iter()
			.map(|r| Decode::decode(&mut &hex::decode(r.as_str().unwrap().trim_start_matches("0x")).unwrap()[..]).unwrap())
			.collect();
		assert_eq!(receipts.len() as u32, on_chain.count);
		let leaves: Vec<_> = receipts.iter().map(|r| r.receipt_hash()).collect();
		for (i, receipt) in receipts.iter().enumerate() {
			let proof = receipts::inclusion_proof(&leaves, i as u32).unwrap();
			assert!(receipts::verify_receipt(&on_chain.root, on_chain.count, receipt, &proof), "receipt {i} of batch {batch}");
			verified += 1;
		}
	}
	assert!(verified > 0, "at least one anchored receipt verified");
}
