//! The `phr` wallet end to end against a real dev node: wallets for the dev preset's admin (Alice),
//! patient (Bob), emergency physician (Charlie) and auditor (Dave), and for Eve, whom Alice registers
//! as a physician; records added, shared, read by others, revoked with re-keying; break-glass; a
//! FHIR Bundle round trip; the audit with verified read receipts.

#[path = "../../node/tests/common/mod.rs"]
mod common;
#[path = "../src/fhir_samples.rs"]
mod fhir_samples;
mod support;

use std::{path::Path, process::Command, time::Duration};

use common::{start_dev_node, temp_dir, wait_until, workspace_binary};
use support::Wallet;
use serde_json::{json, Value};
use sp_core::crypto::Ss58Codec;
use sp_keyring::Sr25519Keyring;

fn fhir_bundle() -> Value {
	json!({
		"resourceType": "Bundle", "type": "collection",
		"entry": [
			{"resource": {"resourceType": "Observation", "id": "bp", "status": "final",
				"code": {"text": "blood pressure"}, "valueQuantity": {"value": 128, "unit": "mmHg"}}},
			{"resource": {"resourceType": "MedicationStatement", "id": "m1", "status": "active",
				"medicationCodeableConcept": {"text": "lisinopril 10 mg"}}},
			{"resource": {"resourceType": "AllergyIntolerance", "id": "a1", "code": {"text": "penicillin"}}},
			{"resource": {"resourceType": "Immunization", "id": "i1", "status": "completed", "vaccineCode": {"text": "MMR"}}}
		]
	})
}

#[test]
fn add_share_read_revoke_rekey_fhir_and_audit() {
	let dir = temp_dir("phr-wallet-");
	let node = start_dev_node(dir.path());
	let url = format!("http://127.0.0.1:{}", node.rpc_port);
	let wallet = |name: &str| Wallet { path: dir.path().join(format!("{name}.json")), url: url.clone() };
	let (alice, bob, charlie, dave, eve) = (wallet("alice"), wallet("bob"), wallet("charlie"), wallet("dave"), wallet("eve"));
	let address = |k: Sr25519Keyring| k.to_account_id().to_ss58check();
	alice.ok(&["keys", "import", "//Alice"]);
	alice.ok(&["admin", "staff", &address(Sr25519Keyring::Eve), "--roles", "physician", "--department", "cardiology", "--facility", "H1"]);
	for (w, suri) in [(&bob, "//Bob"), (&charlie, "//Charlie"), (&dave, "//Dave"), (&eve, "//Eve")] {
		w.ok(&["keys", "import", suri]);
		w.ok(&["keys", "register"]);
	}
	let error = bob.phr_with(&["keys", "show"], "wrong passphrase").unwrap_err();
	assert!(error.contains("passphrase"), "{error}");

	// A 3 MiB binary record and a FHIR Bundle of four resources.
	let scan: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i: usize| (i * 31 % 253) as u8).collect();
	let scan_path = dir.path().join("scan.bin");
	std::fs::write(&scan_path, &scan).unwrap();
	let added = bob.ok(&["record", "add", scan_path.to_str().unwrap(), "--category", "imaging"]);
	let scan_id = added["records"][0]["record"].as_u64().unwrap().to_string();
	let bundle_path = dir.path().join("bundle.json");
	std::fs::write(&bundle_path, fhir_bundle().to_string()).unwrap();
	let added = bob.ok(&["record", "add", bundle_path.to_str().unwrap()]);
	let categories: Vec<&str> =
		added["records"].as_array().unwrap().iter().filter(|r| r["manifest"] != true).map(|r| r["category"].as_str().unwrap()).collect();
	assert_eq!(categories, ["observation", "medication", "allergy", "immunization"]);
	assert_eq!(added["records"][4]["manifest"], true, "the Bundle's manifest is a record too: {added}");

	// FHIR: every resource reads back JSON-equal, and the export is the same Bundle.
	let first_resource = added["records"][0]["record"].as_u64().unwrap().to_string();
	let out = dir.path().join("bp.json");
	bob.ok(&["record", "get", &first_resource, "-o", out.to_str().unwrap()]);
	let resource: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
	assert_eq!(resource, fhir_bundle()["entry"][0]["resource"]);
	let exported = dir.path().join("export.json");
	bob.ok(&["record", "export", "-o", exported.to_str().unwrap()]);
	let exported: Value = serde_json::from_slice(&std::fs::read(&exported).unwrap()).unwrap();
	assert_eq!(exported, fhir_bundle(), "the export is the Bundle that went in");

	// Without a grant, Eve is refused; Bob shares everything with Eve and Dave; both read the exact bytes.
	let refused = eve.phr(&["record", "get", &scan_id, "-o", dir.path().join("early").to_str().unwrap()]).unwrap_err();
	assert!(refused.contains("access denied") && refused.contains("NoGrant"), "{refused}");
	let to_eve = bob.ok(&["grant", "--to", &address(Sr25519Keyring::Eve), "--categories", "all", "--expires", "1h"]);
	// Dave's grant travels the other way: signed by Bob for a relayer, in an `Access::grant_batch`.
	let to_dave = bob.ok(&["grant", "--to", &address(Sr25519Keyring::Dave), "--categories", "all", "--expires", "1h", "--relayed"]);
	assert!(to_dave["grant"].as_u64().is_some(), "{to_dave}");
	for (reader, name) in [(&eve, "eve"), (&dave, "dave")] {
		let out = dir.path().join(format!("scan-{name}.bin"));
		let got = reader.ok(&["record", "get", &scan_id, "-o", out.to_str().unwrap()]);
		assert!(std::fs::read(&out).unwrap() == scan, "{name} reads the exact bytes");
		assert_eq!(got["keyEpoch"], 0);
	}

	// Revoke Eve with re-keying: she is refused; Dave reads the new version.
	let grant = to_eve["grant"].as_u64().unwrap().to_string();
	let revoked = bob.ok(&["revoke", &grant]);
	assert!(revoked["rekeyed"].as_array().unwrap().iter().any(|r| r.as_u64().unwrap().to_string() == scan_id));
	let refused = eve.phr(&["record", "get", &scan_id, "-o", dir.path().join("nope").to_str().unwrap()]).unwrap_err();
	assert!(refused.contains("access denied"), "{refused}");
	assert!(!dir.path().join("nope").exists() && !dir.path().join("nope.partial").exists(), "no plaintext left behind");
	let out = dir.path().join("scan-dave-2.bin");
	let got = dave.ok(&["record", "get", &scan_id, "-o", out.to_str().unwrap()]);
	assert_eq!(got["keyEpoch"], 1, "the new data key");
	assert!(std::fs::read(&out).unwrap() == scan, "Dave reads the re-encrypted record");

	// Break-glass: Charlie (emergency role) is refused until he opens emergency access, then reads.
	let out = dir.path().join("scan-charlie.bin");
	let refused = charlie.phr(&["record", "get", &scan_id, "-o", out.to_str().unwrap(), "--purpose", "emergency"]).unwrap_err();
	assert!(refused.contains("NoEmergencyAccess"), "{refused}");
	charlie.ok(&["emergency", "open", &address(Sr25519Keyring::Bob), "--reason", "unconscious in the ER", "--minutes", "30"]);
	let got = charlie.ok(&["record", "get", &scan_id, "-o", out.to_str().unwrap(), "--purpose", "emergency"]);
	assert!(got["basis"].as_str().unwrap().starts_with("Emergency"), "{got}");
	assert!(std::fs::read(&out).unwrap() == scan, "break-glass reads the exact bytes");

	// Key rotation: Bob's keys move to epoch 1 and he still reads his records.
	let rotated = bob.ok(&["keys", "rotate"]);
	assert_eq!(rotated["epoch"], 1);
	let out = dir.path().join("scan-bob.bin");
	bob.ok(&["record", "get", &scan_id, "-o", out.to_str().unwrap()]);
	assert!(std::fs::read(&out).unwrap() == scan);

	// A grant that simply expires re-keys nothing by itself: once the chain dropped it,
	// `phr rekey --expired` re-keys every version keyed while it lived; Dave (still granted) reads on.
	bob.ok(&["grant", "--to", &address(Sr25519Keyring::Eve), "--categories", "imaging", "--expires", "8s"]);
	let mut swept = Value::Null;
	let dropped = wait_until(Duration::from_secs(90), || {
		swept = bob.ok(&["rekey", "--expired"]);
		swept["expiredAt"].is_number()
	});
	assert!(dropped, "the chain drops the expired grant and the wallet re-keys: {swept}");
	assert!(swept["rekeyed"].as_array().unwrap().iter().any(|r| r.as_u64().unwrap().to_string() == scan_id), "{swept}");
	let out = dir.path().join("scan-dave-3.bin");
	let got = dave.ok(&["record", "get", &scan_id, "-o", out.to_str().unwrap()]);
	assert!(std::fs::read(&out).unwrap() == scan, "Dave reads the record re-keyed after the expiry");
	assert!(got["keyEpoch"].as_u64().unwrap() >= 2, "a data key newer than the revocation's: {got}");
	// Who wrote the version read, as the chain registered it (proven).
	assert_eq!((got["author"].as_str(), got["version"].as_u64()), (Some(address(Sr25519Keyring::Bob).as_str()), Some(1)), "{got}");

	// FHIR Bundles of every type, with internal urn:uuid references: each added in one action,
	// read by a grantee (Dave holds an "all" grant), and rebuilt by that grantee from its manifest:
	// the same Bundle, every reference resolving.
	for (kind, n) in [("transaction", 50), ("batch", 20), ("collection", 20), ("document", 20)] {
		let original = fhir_samples::synthetic_bundle(kind, n);
		let path = dir.path().join(format!("{kind}.json"));
		std::fs::write(&path, original.to_string()).unwrap();
		let added = bob.ok(&["record", "add", path.to_str().unwrap()]);
		let records = added["records"].as_array().unwrap();
		assert_eq!(records.len(), n + 1, "{kind}: one record per resource and the manifest");
		let manifest = records.last().unwrap();
		assert_eq!(manifest["manifest"], true);
		let first = records[0]["record"].as_u64().unwrap().to_string();
		let out = dir.path().join(format!("{kind}-first.json"));
		dave.ok(&["record", "get", &first, "-o", out.to_str().unwrap()]);
		assert_eq!(serde_json::from_slice::<Value>(&std::fs::read(&out).unwrap()).unwrap(), original["entry"][0]["resource"]);
		let exported = dir.path().join(format!("{kind}-export.json"));
		let manifest_id = manifest["record"].as_u64().unwrap().to_string();
		let report = dave.ok(&["record", "export", "--patient", &address(Sr25519Keyring::Bob), "--bundle", &manifest_id, "-o", exported.to_str().unwrap()]);
		assert_eq!(report["unresolved"], json!([]), "{kind}: {report}");
		let exported: Value = serde_json::from_slice(&std::fs::read(&exported).unwrap()).unwrap();
		assert_eq!(exported, original, "{kind}: the grantee's export is the Bundle that went in");
	}

	// The auditor sees the trail and the reads, every receipt verified against the chain.
	let mut audit = Value::Null;
	let anchored = wait_until(Duration::from_secs(60), || {
		audit = dave.ok(&["audit", &address(Sr25519Keyring::Bob)]);
		audit["reads"].as_array().is_some_and(|reads| {
			reads.iter().any(|r| r["reader"] == address(Sr25519Keyring::Eve)) &&
				reads.iter().any(|r| r["reader"] == address(Sr25519Keyring::Charlie)) &&
				reads.iter().any(|r| r["reader"] == address(Sr25519Keyring::Dave) && r["record"].to_string() == scan_id)
		})
	});
	assert!(anchored, "reads by Eve, Charlie and Dave are anchored and listed: {audit}");
	assert_eq!(audit["receiptsFailed"], 0, "{audit}");

	// The same facts as FHIR R4 for a hospital system: grants as Consents, the trail and the
	// verified reads as AuditEvents (the wallet checks each against the R4 rules before printing).
	let consents = bob.ok(&["grants", "--fhir"]);
	std::fs::write(dir.path().join("consents.json"), consents.to_string()).unwrap();
	assert_eq!(consents["type"], "collection");
	let consents = consents["entry"].as_array().unwrap();
	assert!(!consents.is_empty() && consents.iter().all(|e| e["resource"]["resourceType"] == "Consent" && e["resource"]["status"] == "active"));
	let events = dave.ok(&["audit", &address(Sr25519Keyring::Bob), "--fhir"]);
	std::fs::write(dir.path().join("audit-events.json"), events.to_string()).unwrap();
	let events = events["entry"].as_array().unwrap();
	let count = |action: &str| events.iter().filter(|e| e["resource"]["resourceType"] == "AuditEvent" && e["resource"]["action"] == action).count();
	assert_eq!(count("R"), audit["reads"].as_array().unwrap().len(), "one read AuditEvent per verified read");
	assert_eq!(events.len() - count("R"), audit["trail"].as_array().unwrap().len(), "one AuditEvent per trail entry");
	let actions: Vec<String> = audit["trail"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect();
	for expected in ["RecordRegistered", "GrantAdded", "GrantRevoked", "DataKeyRotated", "EmergencyOpened"] {
		assert!(actions.iter().any(|a| a.starts_with(expected)), "{expected} in {actions:?}");
	}

	// Valid R4 by an independent FHIR library (FHIR.js against the R4 StructureDefinitions), not
	// only by the wallet's own checks: the Consents, the AuditEvents, every synthetic Bundle and
	// every Bundle the grantee exported.
	let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
	assert!(web.join("node_modules/fhir").is_dir(), "web/node_modules is not installed: run scripts/test.sh (it runs `npm ci` in web/)");
	let mut files = vec![dir.path().join("consents.json"), dir.path().join("audit-events.json")];
	for kind in ["transaction", "batch", "collection", "document"] {
		files.push(dir.path().join(format!("{kind}.json")));
		files.push(dir.path().join(format!("{kind}-export.json")));
	}
	let out = Command::new("node").arg(web.join("tests/fhir-validate.mjs")).args(&files).output().expect("node runs the FHIR validator");
	let report = String::from_utf8_lossy(&out.stdout);
	println!("{report}");
	assert!(out.status.success(), "not valid R4:\n{report}{}", String::from_utf8_lossy(&out.stderr));
	assert_eq!(report.lines().filter(|l| l.starts_with("valid R4: ")).count(), files.len(), "{report}");
}

#[test]
fn help_shows_an_example_for_every_command() {
	let phr = workspace_binary(option_env!("CARGO_BIN_EXE_phr"), "phr");
	let help = |args: &[&str]| {
		let out = Command::new(&phr).args(args).arg("--help").output().unwrap();
		String::from_utf8_lossy(&out.stdout).to_string()
	};
	assert!(help(&[]).contains("Examples:"));
	for command in [
		&["keys", "new"][..], &["keys", "import"], &["keys", "show"], &["keys", "register"], &["keys", "rotate"],
		&["record", "add"], &["record", "get"], &["record", "list"], &["record", "erase"], &["record", "export"],
		&["grant"], &["revoke"], &["grants"], &["guardian", "add"], &["guardian", "remove"], &["consent", "add"],
		&["consent", "remove"], &["emergency", "open"], &["emergency", "review"], &["audit"], &["admin", "onboard"],
		&["admin", "staff"], &["admin", "approve"], &["admin", "propose-member"], &["admin", "propose-removal"],
	] {
		assert!(help(command).contains("Example"), "phr {} --help shows an example", command.join(" "));
	}
	let out = Command::new(&phr).args(["record", "get", "1", "-o", "/nonexistent-dir/x", "--wallet", "/nonexistent/w.json"]).output().unwrap();
	assert_eq!(out.status.code(), Some(1));
	let stderr = String::from_utf8_lossy(&out.stderr);
	assert!(stderr.contains("phr keys new"), "a missing wallet says what to do: {stderr}");
}
