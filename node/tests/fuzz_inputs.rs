//! Malformed input at the node's RPC door: 10^6 `phr_` calls (`PHR_FUZZ_INPUTS`), each made from a
//! valid call by breaking it (a signed request with bytes flipped, cut, appended or overwritten;
//! parameters of the wrong type, count or size; tokens and hashes that name nothing), sent in
//! JSON-RPC batches to a real `--dev` node that holds a patient's record. Every call gets an answer,
//! the node never panics and keeps serving, and the store holds exactly what it held: no upload
//! opened, no receipt written, no ciphertext changed. (`/phr/blob/1` messages are fuzzed in the
//! unit tests of `node/src/blobs/replication.rs`.)

mod common;

use codec::Encode;
use common::{blob::*, fuzz::*, *};
use phr_primitives::{BlobMethod, BlobSubject, Purpose};
use phr_runtime::RuntimeCall;
use serde_json::{json, Value};
use sp_keyring::Sr25519Keyring::{Alice, Eve};
use std::time::{Duration, Instant};

/// Calls per JSON-RPC batch (one HTTP request).
const BATCH: usize = 2_000;

/// A JSON value of a type, size or form no `phr_` parameter has.
fn junk(rng: &mut Rng) -> Value {
	match rng.below(12) {
		0 => Value::Null,
		1 => json!(rng.below(2) == 1),
		2 => json!(u64::MAX),
		3 => json!(-1 - rng.below(1 << 20) as i64),
		4 => json!(1.5),
		5 => {
			let len = rng.below(200);
			json!(to_hex(&rng.bytes(len)))
		},
		6 => {
			let len = rng.below(64);
			json!(String::from_utf8_lossy(&rng.bytes(len)).to_string())
		},
		7 => json!("0xzz"),
		8 => json!([junk(rng), junk(rng)]),
		9 => json!({ "request": junk(rng) }),
		// Rarely, a long string: the node bounds what it reads.
		10 if rng.below(200) == 0 => json!("A".repeat(300_000)),
		_ => json!(format!("{:016x}", rng.next())),
	}
}

/// `request` (a signed request's encoding) broken: as bytes, or as its hex text.
fn broken_request(rng: &mut Rng, request: &[u8]) -> Value {
	let hex = to_hex(&mutate(rng, request));
	match rng.below(10) {
		0 => json!(&hex[2..]),          // no 0x
		1 => json!(format!("{hex}0")), // odd length
		_ => json!(hex),
	}
}

#[test]
fn a_million_malformed_phr_calls_change_nothing_and_the_node_keeps_serving() {
	let dir = temp_dir("phr-fuzz-");
	let node = start_dev_node(dir.path());
	let all = std::slice::from_ref(&node);
	let eve = Requester::new(Eve);
	let onboard = RuntimeCall::Consortium(pallet_consortium::Call::onboard_patient { patient: Eve.to_account_id() });
	submit_and_finalize(&node, all, vec![(Alice, onboard)]);
	submit_and_finalize(&node, all, vec![(Eve, RuntimeCall::Keys(pallet_keys::Call::register_keys { keys: eve.keys() }))]);
	let data = test_bytes(CHUNK + 5, 3);
	let hash = phr_primitives::ciphertext_hash(&data);
	eve.upload(&node, &data).expect("Eve's upload");
	submit_and_finalize(&node, all, vec![(Eve, register_call(Eve, &data))]);
	assert!(wait_until(Duration::from_secs(60), || blob_state(&node, hash, false) == "pinned"), "{}", node.log_tail());
	let (fetched, _) = eve.fetch(&node, 0).expect("Eve reads her record");
	assert_eq!(fetched, data);
	let status = || {
		let mut status = node.rpc("phr_storeStatus", json!([])).expect("the node answers");
		// Anchoring the read above goes on in the background: not what this test is about.
		status.as_object_mut().unwrap().retain(|key, _| key != "receiptsAnchored" && key != "finalizedCursor");
		status
	};
	let before = status();

	// Valid calls, signed by Eve for this node and never sent as they are.
	let other = test_bytes(100, 9);
	let wrapped = vec![7u8; 80];
	let eve_id = Eve.to_account_id();
	// Valid for nine minutes (the node takes ten at most): a broken copy is never refused merely
	// for having expired.
	let signed = |method, subject| eve.request_with(&node, method, subject, rand::random(), now_ms() + 540_000).encode();
	let upload = signed(BlobMethod::UploadCiphertext { size: 100 }, BlobSubject::Ciphertext(phr_primitives::ciphertext_hash(&other)));
	let put_key = signed(
		BlobMethod::UploadWrappedKey {
			recipient: eve_id.clone(),
			data_epoch: 0,
			recipient_epoch: 0,
			wrapped: phr_primitives::ciphertext_hash(&wrapped),
		},
		BlobSubject::Record(0),
	);
	let fetch = signed(BlobMethod::Fetch { purpose: Purpose::Treatment }, BlobSubject::Record(0));
	let receipts = signed(BlobMethod::Receipts { batch: 0 }, BlobSubject::Patient(eve_id.clone()));
	let release = signed(BlobMethod::ReleaseShare { emergency: 0 }, BlobSubject::Record(0));
	let wrapped_b64 = {
		use base64::Engine as _;
		base64::engine::general_purpose::STANDARD.encode(&wrapped)
	};

	let total = inputs();
	let mut rng = Rng::new(0xf022_1e55);
	let started = Instant::now();
	let (mut sent, mut refused) = (0usize, 0usize);
	while sent < total {
		let mut calls: Vec<(&str, Value)> = Vec::with_capacity(BATCH);
		for _ in 0..BATCH.min(total - sent) {
			// A valid call, then one more thing broken in it: the signed request always (so that
			// no call is a valid one), and at times a parameter replaced or the count changed.
			let (method, mut params): (&str, Vec<Value>) = match rng.below(11) {
				0 => ("phr_uploadBegin", vec![broken_request(&mut rng, &upload), json!(100)]),
				1 => ("phr_uploadChunk", vec![junk(&mut rng), json!(rng.below(4)), json!(wrapped_b64)]),
				2 => ("phr_uploadFinish", vec![junk(&mut rng)]),
				3 => ("phr_uploadAbort", vec![junk(&mut rng)]),
				4 => (
					"phr_putWrappedKey",
					vec![broken_request(&mut rng, &put_key), json!(eve_id.to_string()), json!(0), json!(0), json!(wrapped_b64)],
				),
				5 => ("phr_fetch", vec![broken_request(&mut rng, &fetch), json!("treatment")]),
				6 => ("phr_fetchChunk", vec![junk(&mut rng), json!(rng.below(3))]),
				7 => ("phr_blobStatus", vec![json!(to_hex(&mutate(&mut rng, hash.as_bytes()))), json!(true)]),
				8 => ("phr_receiptBatch", vec![broken_request(&mut rng, &receipts), json!(0)]),
				9 => ("phr_releaseShares", vec![json!([broken_request(&mut rng, &release), broken_request(&mut rng, &release)])]),
				_ => ("phr_storeStatus", vec![junk(&mut rng)]),
			};
			match rng.below(4) {
				0 if !params.is_empty() => {
					let at = rng.below(params.len());
					params[at] = junk(&mut rng);
				},
				1 => params.push(junk(&mut rng)),
				2 => {
					params.pop();
				},
				_ => {},
			}
			// At times named parameters instead of positional ones.
			let params = if rng.below(50) == 0 { json!({ "request": junk(&mut rng) }) } else { Value::Array(params) };
			calls.push((method, params));
		}
		let answers = rpc_calls(node.rpc_port, &calls).unwrap_or_else(|error| {
			panic!("a batch of {} calls after {sent} got no answer ({error}); log:\n{}", calls.len(), node.log_tail())
		});
		refused += answers.iter().filter(|answer| answer.is_err()).count();
		for ((method, params), answer) in calls.iter().zip(&answers) {
			// A broken signed request is never served, whatever else the call holds.
			if let (Ok(answer), true) = (answer, ["phr_uploadBegin", "phr_putWrappedKey", "phr_fetch", "phr_receiptBatch"].contains(method)) {
				panic!("{method} {params} was served: {answer}");
			}
			if let Err(error) = answer {
				assert!(error.get("code").is_some(), "{method}: not a JSON-RPC error: {error}");
			}
			// Release requests are answered one by one: none of them with a share.
			if let (Ok(Value::Array(outcomes)), true) = (answer, *method == "phr_releaseShares") {
				assert!(outcomes.iter().all(|o| o["share"].is_null()), "{params} released a share: {answer:?}");
			}
		}
		sent += calls.len();
	}
	let elapsed = started.elapsed();
	eprintln!(
		"[fuzz] {sent} malformed phr_ calls in {:.1} s ({:.0}/s), {refused} refused",
		elapsed.as_secs_f64(),
		sent as f64 / elapsed.as_secs_f64()
	);

	let log = std::fs::read_to_string(dir.path().join("dev.log")).unwrap_or_default();
	assert!(!log.contains("panicked"), "the node panicked:\n{}", node.log_tail());
	assert_eq!(status(), before, "malformed calls changed the store");
	let (again, _) = eve.fetch(&node, 0).expect("the node still serves Eve");
	assert_eq!(again, data, "the ciphertext changed");
}
