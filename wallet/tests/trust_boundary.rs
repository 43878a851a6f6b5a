//! The trust boundary on the four-hospital local consortium (real `phr-node` processes, the real
//! `phr` wallet): one member hospital, H4, turns dishonest.
//!
//! - Its admin registers an emergency-role account (Mallory). Nothing is wrapped for her in advance:
//!   with every wrapped key and escrow share that exists anywhere (H1's store, where the patient
//!   uploaded them, is read directly, as if H4's node had pulled them all from its peers) and with
//!   every secret H4 has, no data key of the record can be recovered.
//! - After her emergency opening is final, the member nodes release their escrow shares: with one
//!   node of four down she still reads the record (3 of 4 shares); with two down she cannot, and the
//!   error says why. Every release is a verified read receipt on the patient's audit trail.
//! - H4's own auditor may not review the opening; another hospital's auditor may.
//! - A policy grant to "cardiology physicians at H2" is not matched by a cardiologist that H3's
//!   admin registered with H2's very department and facility codes.

#[path = "../../node/tests/common/mod.rs"]
mod common;
mod support;

use std::{collections::BTreeSet, time::Duration};

use common::{local_escrow_key, logs, min_finalized, start_local_consortium, state_call, temp_dir, wait_until};
use phr_crypto::{escrow, EncryptionKey};
use phr_primitives::KeyRecord;
use phr_runtime::{AccountId, BlockNumber};
use serde_json::Value;
use sp_core::crypto::Ss58Codec;
use sp_keyring::Sr25519Keyring;
use support::Wallet;

#[test]
fn one_dishonest_hospital_learns_nothing_it_was_not_granted() {
	let dir = temp_dir("phr-trust-");
	let mut nodes = start_local_consortium(dir.path());
	assert!(wait_until(Duration::from_secs(150), || min_finalized(&nodes) >= 2), "finality; logs:\n{}", logs(&nodes));

	// Every hospital's node registers its escrow key for its validator account (Alice..Dave).
	let validators = [Sr25519Keyring::Alice, Sr25519Keyring::Bob, Sr25519Keyring::Charlie, Sr25519Keyring::Dave];
	let escrow_public = |hospital: usize| EncryptionKey::from_secret(&local_escrow_key(hospital)).unwrap().public();
	let registered = wait_until(Duration::from_secs(90), || {
		validators.iter().enumerate().all(|(i, v)| {
			let key: Option<KeyRecord<BlockNumber>> = state_call(&nodes[0], "KeysApi_current_key", v.to_account_id());
			key.is_some_and(|k| k.keys.encryption == escrow_public(i + 1))
		})
	});
	assert!(registered, "the four escrow keys are registered; logs:\n{}", logs(&nodes));

	let urls: Vec<String> = nodes.iter().map(|n| format!("http://127.0.0.1:{}", n.rpc_port)).collect();
	let wallet = |name: &str, hospital: usize| Wallet { path: dir.path().join(format!("{name}.json")), url: urls[hospital - 1].clone() };
	let (alice, bob, charlie, dave) = (wallet("alice", 1), wallet("bob", 2), wallet("charlie", 3), wallet("dave", 4));
	let (eve, ferdie, hugo, mallory) = (wallet("eve", 1), wallet("ferdie", 2), wallet("hugo", 3), wallet("mallory", 4));
	let (audrey, oscar) = (wallet("audrey", 1), wallet("oscar", 4));
	for (w, suri) in [(&alice, "//Alice"), (&bob, "//Bob"), (&charlie, "//Charlie"), (&dave, "//Dave")] {
		w.ok(&["keys", "import", suri]);
	}
	let mut address = std::collections::BTreeMap::new();
	for (w, name) in [(&eve, "Eve"), (&ferdie, "Ferdie"), (&hugo, "Hugo"), (&mallory, "Mallory"), (&audrey, "Audrey"), (&oscar, "Oscar")] {
		let created = w.ok(&["keys", "import", &format!("//{name}")]);
		address.insert(name, created["account"].as_str().unwrap().to_string());
	}
	alice.ok(&["admin", "onboard", &address["Eve"]]);
	alice.ok(&["admin", "staff", &address["Audrey"], "--roles", "auditor", "--department", "compliance", "--facility", "H1"]);
	bob.ok(&["admin", "staff", &address["Ferdie"], "--roles", "physician", "--department", "cardiology", "--facility", "H2"]);
	// H3 registers a cardiologist with exactly H2's department and facility codes.
	charlie.ok(&["admin", "staff", &address["Hugo"], "--roles", "physician", "--department", "cardiology", "--facility", "H2"]);
	// H4, dishonest: an emergency-role account, and its own auditor.
	dave.ok(&["admin", "staff", &address["Mallory"], "--roles", "physician,emergency", "--department", "emergency", "--facility", "H4"]);
	dave.ok(&["admin", "staff", &address["Oscar"], "--roles", "auditor", "--department", "compliance", "--facility", "H4"]);
	for w in [&eve, &ferdie, &hugo, &mallory, &audrey, &oscar] {
		w.ok(&["keys", "register"]);
	}

	// Eve adds a record through H1 and grants it to cardiology physicians at H2 only.
	let secret_note: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
	let note_path = dir.path().join("note.bin");
	std::fs::write(&note_path, &secret_note).unwrap();
	let added = eve.ok(&["record", "add", note_path.to_str().unwrap(), "--category", "condition"]);
	let record = added["records"][0]["record"].as_u64().unwrap();
	let record_id = record.to_string();
	eve.ok(&[
		"grant", "--policy-roles", "physician", "--policy-departments", "cardiology", "--policy-hospitals", "2",
		"--categories", "all", "--expires", "1h",
	]);
	let read = |w: &Wallet, name: &str, purpose: &str| {
		let out = dir.path().join(format!("{name}-{}.bin", rand_suffix()));
		w.phr(&["record", "get", &record_id, "-o", out.to_str().unwrap(), "--purpose", purpose]).map(|answer| {
			assert!(std::fs::read(&out).unwrap() == secret_note, "{name} reads the exact bytes");
			answer
		})
	};
	read(&ferdie, "ferdie", "treatment").expect("the cardiologist at H2 reads through H2");
	let refused = read(&hugo, "hugo", "treatment").unwrap_err();
	assert!(refused.contains("access denied") && refused.contains("NoGrant"), "H3's cardiologist: {refused}");

	// Before an opening, Mallory is refused, and no key of the record is wrapped for her.
	let refused = read(&mallory, "mallory", "emergency").unwrap_err();
	assert!(refused.contains("NoEmergencyAccess"), "{refused}");
	let opened = mallory.ok(&["emergency", "open", &address["Eve"], "--reason", "unconscious, ER H4", "--minutes", "30"]);
	let emergency = opened["emergency"].as_u64().unwrap().to_string();

	// H1 down. Everything anyone uploaded for the record is in H1's store: read it directly, as if
	// H4's node had pulled every wrapped key and share from its peers, and try every secret H4 has.
	nodes[0].kill();
	{
		let store_dir = std::fs::read_dir(dir.path().join("h1/chains"))
			.unwrap()
			.map(|entry| entry.unwrap().path().join("phr-blobs"))
			.find(|path| path.exists())
			.expect("H1's blob store");
		let config = phr_blob_store::StoreConfig { max_blob_size: 1 << 30, ..Default::default() };
		let store = phr_blob_store::BlobStore::open(&store_dir, config).expect("H1's store opens once H1 is down");
		let items = store.wrapped_keys_of(record).unwrap();
		let recipients: BTreeSet<AccountId> = items.iter().map(|(r, _)| AccountId::new(*r)).collect();
		let account = |name: &str| AccountId::from_ss58check(&address[name]).unwrap();
		assert!(!recipients.contains(&account("Mallory")) && !recipients.contains(&account("Oscar")), "nothing for H4's staff");
		for validator in validators {
			assert!(recipients.contains(&validator.to_account_id()), "a share for every hospital's escrow account");
		}
		let h4_escrow = EncryptionKey::from_secret(&local_escrow_key(4)).unwrap();
		let mut shares = Vec::new();
		for (_, item) in &items {
			let as_data_key = phr_crypto::open_with(&h4_escrow, &phr_crypto::data_key_info(record, 0), &item.wrapped);
			assert!(as_data_key.is_err(), "H4's escrow key opens no wrapped data key");
			for hospital in 1..=4 {
				if let Ok(share) = escrow::open_share(&h4_escrow, &item.wrapped, record, 0, hospital) {
					assert_eq!(hospital, 4, "H4's key opens only H4's own share");
					shares.push(share);
				}
			}
		}
		assert_eq!(shares.len(), 1, "H4 holds exactly its own share");
		assert_eq!(shares[0].threshold, 3, "3 of 4 shares recover the key");
		assert!(escrow::combine(&shares).is_err(), "one share recovers nothing");
	}

	// One node of four down: the opening is final, three hospitals release their shares.
	let first = read(&mallory.at(&urls[3]), "mallory", "emergency").unwrap_or_else(|e| panic!("break-glass with H1 down: {e}"));
	assert_eq!(first["basis"], format!("Emergency({emergency})"), "{first}");

	// Two down: only two shares are released; the record stays closed and the error says why.
	nodes[1].kill();
	let refused = read(&mallory, "mallory", "emergency").unwrap_err();
	assert!(refused.contains("needs the escrow shares of 3 hospitals and 2 released theirs"), "{refused}");

	nodes[0].restart();
	nodes[1].restart();
	let best = nodes[3].best_height().unwrap();
	assert!(wait_until(Duration::from_secs(120), || min_finalized(&nodes) > best), "finality resumes; logs:\n{}", logs(&nodes));

	// The review is independent: H4's own auditor is refused, H1's auditor reviews.
	let refused = oscar.phr(&["emergency", "review", &emergency]).unwrap_err();
	assert!(refused.contains("ReviewerNotIndependent"), "{refused}");
	audrey.ok(&["emergency", "review", &emergency]);

	// Every release is a read on Eve's trail: verified receipts of Mallory's emergency reads at
	// H2, H3 and H4 (the hospitals that released shares), and the opening and its review.
	let all_nodes = urls.join(",");
	let mut audit = Value::Null;
	let mallory_account = address["Mallory"].clone();
	let released_everywhere = wait_until(Duration::from_secs(120), || {
		audit = eve.ok(&["audit", &address["Eve"], "--nodes", &all_nodes]);
		let hospitals: BTreeSet<u64> = audit["reads"]
			.as_array()
			.unwrap()
			.iter()
			.filter(|r| r["reader"] == mallory_account.as_str() && r["basis"].as_str().unwrap_or("").starts_with("Emergency") && r["verified"] == true)
			.map(|r| r["hospital"].as_u64().unwrap())
			.collect();
		[2, 3, 4].iter().all(|h| hospitals.contains(h))
	});
	assert!(released_everywhere, "releases by H2, H3 and H4 are verified reads on the trail: {audit}");
	assert_eq!(audit["receiptsFailed"], 0, "{audit}");
	let actions: Vec<&str> = audit["trail"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
	assert!(actions.iter().any(|a| a.starts_with("EmergencyOpened")) && actions.iter().any(|a| a.starts_with("EmergencyReviewed")), "{actions:?}");
}

fn rand_suffix() -> u64 {
	std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}
