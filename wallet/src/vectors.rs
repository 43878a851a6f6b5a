//! Test vectors for the web portal's crypto (web/src/crypto.ts), made by this wallet's own code:
//! the `PHRC` STREAM ciphertext, HPKE data-key wraps, escrow shares, signed blob requests, read
//! receipts with their Merkle proofs, and a wallet file. The portal's unit tests check that the
//! browser opens, recomputes and verifies each of them byte for byte; this test checks that the
//! committed file still holds for the Rust side, so neither side can drift alone.
//!
//! Regenerate (after a deliberate format change): `PHR_WRITE_VECTORS=1 cargo test --release -p
//! phr-wallet vectors` writes web/tests/vectors.json.

use codec::{Decode, Encode};
use phr_crypto::escrow;
use phr_primitives::{
	receipts, sign_request, Basis, BlobMethod, BlobRequest, BlobSubject, Purpose, ReadReceipt, SignedBlobRequest,
};
use phr_runtime::AccountId;
use serde_json::{json, Value};
use sp_core::{crypto::Ss58Codec, H256};
use zeroize::Zeroizing;

use crate::{
	crypto::{self, DataKey, EncryptionKey},
	keyfile::Wallet,
};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/tests/vectors.json");
const WALLET_SECRET: &str = "//PortalVector";
const WALLET_PASSPHRASE: &str = "vector passphrase";

fn pattern(len: usize) -> Vec<u8> {
	(0..len).map(|i| (i * 7 + 3) as u8).collect()
}

fn unhex(value: &Value) -> Vec<u8> {
	hex::decode(value.as_str().expect("a hex string")).expect("hex")
}

fn key32(value: &Value) -> [u8; 32] {
	unhex(value).try_into().expect("32 bytes")
}

fn account(byte: u8) -> AccountId {
	AccountId::new([byte; 32])
}

/// A signed request of each method and subject, from a fixed ed25519 seed (ed25519 signatures
/// are deterministic, so the browser must produce these exact bytes).
fn requests(seed: [u8; 32]) -> Vec<SignedBlobRequest<AccountId>> {
	let key = ed25519_dalek::SigningKey::from_bytes(&seed);
	let node: phr_primitives::NodePeerId = bs58::decode("12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp")
		.into_vec()
		.unwrap()
		.try_into()
		.unwrap();
	let methods: Vec<(BlobMethod<AccountId>, BlobSubject<AccountId>)> = vec![
		(BlobMethod::UploadCiphertext { size: 70_000 }, BlobSubject::Ciphertext(H256::repeat_byte(0xab))),
		(
			BlobMethod::UploadWrappedKey { recipient: account(9), data_epoch: 2, recipient_epoch: 1, wrapped: H256::repeat_byte(7) },
			BlobSubject::Record(42),
		),
		(BlobMethod::Fetch { purpose: Purpose::Treatment }, BlobSubject::Record(3)),
		(BlobMethod::Fetch { purpose: Purpose::Emergency }, BlobSubject::Record(u64::MAX - 1)),
		(BlobMethod::Fetch { purpose: Purpose::Research(4711) }, BlobSubject::Record(5)),
		(BlobMethod::Receipts { batch: 12 }, BlobSubject::Patient(account(5))),
		(BlobMethod::ReleaseShare { emergency: 8 }, BlobSubject::Record(6)),
	];
	methods
		.into_iter()
		.enumerate()
		.map(|(i, (method, subject))| {
			let request = BlobRequest {
				genesis: H256::repeat_byte(0x11),
				node: node.clone(),
				method,
				account: account(0x22),
				subject,
				nonce: [i as u8; 16],
				expires_at_ms: 1_764_000_000_000 + i as u64,
			};
			sign_request(request, &key)
		})
		.collect()
}

fn generate() -> Value {
	// STREAM ciphertexts: empty, one partial chunk, exactly one chunk, a chunk and a bit; and one of
	// format 1, as wallets sealed before format 2, which must still open and keep its blake2b name.
	let mut stream: Vec<Value> = [0usize, 100, crypto::PLAINTEXT_CHUNK, crypto::PLAINTEXT_CHUNK + 5]
		.into_iter()
		.map(|len| {
			let key = DataKey::random();
			let mut sealed = Vec::new();
			crypto::seal(&key, &mut &pattern(len)[..], &mut sealed, |_| {}).unwrap();
			json!({ "key": hex::encode(key.bytes()), "plaintextPattern": len, "ciphertext": hex::encode(&sealed),
				"recordHash": hex::encode(phr_primitives::ciphertext_hash(&sealed)) })
		})
		.collect();
	let key = DataKey::random();
	let mut sealed = Vec::new();
	crypto::seal_format_1(&key, &mut &pattern(100)[..], &mut sealed).unwrap();
	stream.push(json!({ "key": hex::encode(key.bytes()), "plaintextPattern": 100, "ciphertext": hex::encode(&sealed),
		"recordHash": hex::encode(sp_crypto_hashing::blake2_256(&sealed)) }));

	// A data key wrapped for a reader, bound to record 7 at epoch 3.
	let reader = EncryptionKey::generate();
	let data_key = DataKey::random();
	let wrapped = crypto::wrap(&data_key, &reader.public(), 7, 3).unwrap();
	let wrap = json!({ "readerSecret": hex::encode(*reader.secret_bytes()), "readerPublic": hex::encode(reader.public()),
		"record": 7, "dataEpoch": 3, "dataKey": hex::encode(data_key.bytes()), "wrapped": hex::encode(&wrapped) });

	// Escrow: 3-of-4 shares, one sealed to a hospital's escrow key, one released to an opener.
	let escrow_secret = EncryptionKey::generate();
	let opener = EncryptionKey::generate();
	let shares = escrow::split(data_key.bytes(), 3, 4).unwrap();
	let sealed_share = escrow::seal_share(&shares[1], &escrow_secret.public(), 7, 3, 2).unwrap();
	let released = escrow::reseal_for_opener(&escrow_secret, &sealed_share, 7, 3, 2, &opener.public()).unwrap();
	let escrow_json = json!({
		"key": hex::encode(data_key.bytes()), "threshold": 3,
		"shares": shares.iter().map(|s| json!({ "x": s.x, "y": hex::encode(s.y), "encoded": hex::encode(s.encode()) })).collect::<Vec<_>>(),
		"escrowSecret": hex::encode(*escrow_secret.secret_bytes()), "sealedShare": hex::encode(&sealed_share),
		"sealedShareIndex": 1, "hospital": 2, "record": 7, "dataEpoch": 3,
		"openerSecret": hex::encode(*opener.secret_bytes()), "released": hex::encode(&released),
	});

	// Signed requests, and a batch of receipts about them with proofs.
	let seed = [0x5a; 32];
	let signed = requests(seed);
	let requests_json: Vec<Value> = signed
		.iter()
		.map(|s| json!({ "signingPayload": hex::encode(s.request.signing_payload()), "encoded": hex::encode(s.encode()) }))
		.collect();
	let batch: Vec<ReadReceipt<AccountId>> = signed
		.iter()
		.enumerate()
		.map(|(i, request)| ReadReceipt {
			request: request.clone(),
			basis: [Basis::Owner, Basis::Guardian, Basis::Grant(4), Basis::Emergency(9), Basis::Consent(4711)][i % 5],
			decided_at: H256::repeat_byte(i as u8),
		})
		.collect();
	let leaves: Vec<H256> = batch.iter().map(|r| r.receipt_hash()).collect();
	let root = receipts::batch_root(&leaves);
	let receipts_json: Vec<Value> = batch
		.iter()
		.enumerate()
		.map(|(i, receipt)| {
			let proof = receipts::inclusion_proof(&leaves, i as u32).unwrap();
			json!({ "encoded": hex::encode((receipt, proof).encode()), "hash": hex::encode(leaves[i]) })
		})
		.collect();

	// A wallet file as `phr keys import` writes it.
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("wallet.json");
	let wallet = Wallet::create(&path, WALLET_SECRET, Zeroizing::new(WALLET_PASSPHRASE.into())).unwrap();
	let keys = wallet.public_keys().unwrap();
	let wallet_json = json!({
		"file": serde_json::from_slice::<Value>(&std::fs::read(&path).unwrap()).unwrap(),
		"passphrase": WALLET_PASSPHRASE, "account": wallet.account().to_ss58check(),
		"encryptionPublic": hex::encode(keys.encryption), "requestPublic": hex::encode(keys.request_signing),
	});

	// A FHIR Bundle split as `phr record add` splits it: one record per resource, these bytes.
	let bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": [
		{ "resource": { "resourceType": "Observation", "id": "bp", "status": "final", "effectiveDateTime": "2026-11-02T08:30:00Z",
			"code": { "text": "Blood pressure", "coding": [{ "system": "http://loinc.org", "code": "85354-9" }] },
			"component": [
				{ "code": { "text": "Systolic" }, "valueQuantity": { "value": 128, "unit": "mmHg" } },
				{ "code": { "text": "Diastolic" }, "valueQuantity": { "value": 82.5, "unit": "mmHg" } }] } },
		{ "resource": { "resourceType": "MedicationStatement", "id": "m1", "status": "active", "note": [{ "text": "Zoë, 10 mg \"daily\" <am>" }] } },
		{ "resource": { "resourceType": "Patient", "id": "p" } }] });
	let bundle_text = serde_json::to_string_pretty(&bundle).unwrap();
	let split: Vec<Value> = crate::fhir::split_bundle(bundle_text.as_bytes())
		.unwrap()
		.unwrap()
		.into_iter()
		.map(|r| json!({ "category": r.category.as_str(), "resourceType": r.resource_type, "json": String::from_utf8(r.json).unwrap() }))
		.collect();

	json!({
		"fhir": { "bundle": bundle_text, "records": split },
		"about": "Made by wallet/src/vectors.rs (PHR_WRITE_VECTORS=1 cargo test --release -p phr-wallet vectors); checked by it and by web/tests/crypto.test.ts.",
		"stream": stream, "wrap": wrap, "escrow": escrow_json,
		"requests": { "seed": hex::encode(seed), "signer": hex::encode(ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes()), "items": requests_json },
		"receipts": { "root": hex::encode(root), "count": batch.len(), "items": receipts_json },
		"wallet": wallet_json,
	})
}

/// Every vector of the committed file holds for this wallet's code.
fn check(vectors: &Value) {
	for item in vectors["stream"].as_array().unwrap() {
		let key = DataKey::from_bytes(Zeroizing::new(key32(&item["key"])));
		let mut plain = Vec::new();
		crypto::open(&key, &mut &unhex(&item["ciphertext"])[..], &mut plain, |_| {}).unwrap();
		assert_eq!(plain, pattern(item["plaintextPattern"].as_u64().unwrap() as usize));
		assert_eq!(hex::encode(phr_primitives::ciphertext_hash(&unhex(&item["ciphertext"]))), item["recordHash"].as_str().unwrap());
	}
	let wrap = &vectors["wrap"];
	let reader = EncryptionKey::from_secret(&key32(&wrap["readerSecret"])).unwrap();
	let key = crypto::unwrap(&unhex(&wrap["wrapped"]), &reader, 7, 3).unwrap();
	assert_eq!(hex::encode(key.bytes()), wrap["dataKey"].as_str().unwrap());

	let e = &vectors["escrow"];
	let shares: Vec<escrow::Share> = e["shares"]
		.as_array()
		.unwrap()
		.iter()
		.map(|s| escrow::Share::decode(&mut &unhex(&s["encoded"])[..]).unwrap())
		.collect();
	assert_eq!(hex::encode(*escrow::combine(&shares[1..]).unwrap()), e["key"].as_str().unwrap());
	let escrow_key = EncryptionKey::from_secret(&key32(&e["escrowSecret"])).unwrap();
	assert!(escrow::open_share(&escrow_key, &unhex(&e["sealedShare"]), 7, 3, 2).unwrap() == shares[1]);
	let opener = EncryptionKey::from_secret(&key32(&e["openerSecret"])).unwrap();
	assert!(escrow::open_released(&opener, &unhex(&e["released"]), 7, 3, 2).unwrap() == shares[1]);

	let expected = requests(key32(&vectors["requests"]["seed"]));
	for (item, signed) in vectors["requests"]["items"].as_array().unwrap().iter().zip(&expected) {
		assert_eq!(item["encoded"].as_str().unwrap(), hex::encode(signed.encode()));
		assert_eq!(item["signingPayload"].as_str().unwrap(), hex::encode(signed.request.signing_payload()));
		signed.verify_signature().unwrap();
	}
	let r = &vectors["receipts"];
	let root = H256(key32(&r["root"]));
	for item in r["items"].as_array().unwrap() {
		let (receipt, proof) =
			<(ReadReceipt<AccountId>, receipts::InclusionProof)>::decode(&mut &unhex(&item["encoded"])[..]).unwrap();
		assert!(receipts::verify_receipt(&root, r["count"].as_u64().unwrap() as u32, &receipt, &proof));
	}

	let f = &vectors["fhir"];
	let split = crate::fhir::split_bundle(f["bundle"].as_str().unwrap().as_bytes()).unwrap().unwrap();
	for (resource, expected) in split.iter().zip(f["records"].as_array().unwrap()) {
		assert_eq!(String::from_utf8(resource.json.clone()).unwrap(), expected["json"].as_str().unwrap());
		assert_eq!(resource.category.as_str(), expected["category"].as_str().unwrap());
	}

	let w = &vectors["wallet"];
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("wallet.json");
	std::fs::write(&path, serde_json::to_vec(&w["file"]).unwrap()).unwrap();
	let wallet = Wallet::open(&path, Zeroizing::new(w["passphrase"].as_str().unwrap().into())).unwrap();
	assert_eq!(wallet.account().to_ss58check(), w["account"].as_str().unwrap());
	assert_eq!(hex::encode(wallet.public_keys().unwrap().encryption), w["encryptionPublic"].as_str().unwrap());
}

#[test]
fn vectors_for_the_portal_hold() {
	if std::env::var_os("PHR_WRITE_VECTORS").is_some() {
		let vectors = generate();
		check(&vectors);
		std::fs::write(PATH, serde_json::to_string_pretty(&vectors).unwrap() + "\n").unwrap();
	}
	let text = std::fs::read_to_string(PATH).expect("web/tests/vectors.json is committed (PHR_WRITE_VECTORS=1 makes it)");
	check(&serde_json::from_str(&text).expect("the vectors are JSON"));
}
