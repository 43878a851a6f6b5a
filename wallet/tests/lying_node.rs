//! A node that lies to the wallet (issue 17): a proxy in front of a real dev node rewrites its
//! answers: a recipient's X25519 key, a record's ciphertext hash, the staff list, the finalized
//! head. Each lie is caught alone, with an error that says so, before anything is sent: no grant
//! lands and no data key is wrapped to the attacker's key. The same commands through the same proxy
//! succeed once it stops lying, and answers the wallet does not rely on (`state_call`) are ignored.
//! A genuine but old finalized head, replayed, is caught by its proven timestamp.

#[path = "../../node/tests/common/mod.rs"]
mod common;
mod support;

use std::{
	io::{BufRead, BufReader, Read, Write},
	net::{TcpListener, TcpStream},
	sync::{Arc, Mutex},
	time::{Duration, Instant},
};

use codec::{Decode, Encode};
use common::{start_dev_node, state_call, temp_dir};
use phr_runtime::{AccountId, BlockNumber, Header};
use serde_json::Value;
use sp_consensus_grandpa::GrandpaJustification;
use sp_core::crypto::Ss58Codec;
use sp_keyring::Sr25519Keyring;
use support::Wallet;

#[derive(Clone, Debug, PartialEq)]
enum Lie {
	Honest,
	/// Bytes (hex) swapped in every proof node and `state_call` answer.
	Swap { from: String, to: String },
	/// Storage keys ending with this (hex) left out of `state_getKeysPaged`.
	OmitKey(String),
	/// The latest finalized header's state root replaced (by an older block's).
	Head { state_root: sp_core::H256 },
	/// An earlier, genuine finality proof answered again.
	Replay(Value),
}

struct Proxy {
	port: u16,
	lie: Arc<Mutex<Lie>>,
	/// The recipient of each `phr_putWrappedKey` call that went through.
	wrapped: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
	fn start(upstream: u16) -> Proxy {
		let listener = TcpListener::bind("127.0.0.1:0").unwrap();
		let port = listener.local_addr().unwrap().port();
		let lie = Arc::new(Mutex::new(Lie::Honest));
		let wrapped = Arc::new(Mutex::new(Vec::new()));
		let (l, w) = (lie.clone(), wrapped.clone());
		std::thread::spawn(move || {
			for client in listener.incoming().flatten() {
				let (l, w) = (l.clone(), w.clone());
				std::thread::spawn(move || serve(client, upstream, l, w));
			}
		});
		Proxy { port, lie, wrapped }
	}

	fn url(&self) -> String {
		format!("http://127.0.0.1:{}", self.port)
	}

	fn lie(&self, lie: Lie) {
		*self.lie.lock().unwrap() = lie;
	}
}

/// One keep-alive HTTP/1.1 connection of JSON-RPC calls: each forwarded, its answer rewritten.
fn serve(client: TcpStream, upstream: u16, lie: Arc<Mutex<Lie>>, wrapped: Arc<Mutex<Vec<String>>>) {
	let mut reader = BufReader::new(client.try_clone().unwrap());
	let mut writer = client;
	loop {
		let mut line = String::new();
		if reader.read_line(&mut line).unwrap_or(0) == 0 {
			return;
		}
		// HTTP/1.0 (the test helpers' own calls) closes after one answer, as does `Connection: close`.
		let (mut length, mut close) = (0usize, line.trim_end().ends_with("HTTP/1.0"));
		loop {
			let mut header = String::new();
			if reader.read_line(&mut header).unwrap_or(0) == 0 {
				return;
			}
			if header == "\r\n" {
				break;
			}
			let header = header.to_ascii_lowercase();
			if let Some(value) = header.strip_prefix("content-length:") {
				length = value.trim().parse().unwrap_or(0);
			}
			close |= header.starts_with("connection:") && header.contains("close");
		}
		let mut body = vec![0u8; length];
		if reader.read_exact(&mut body).is_err() {
			return;
		}
		let request: Value = serde_json::from_slice(&body).unwrap_or_default();
		let method = request["method"].as_str().unwrap_or_default().to_string();
		if method == "phr_putWrappedKey" {
			wrapped.lock().unwrap().push(request["params"][1].as_str().unwrap_or_default().to_string());
		}
		let Ok(answer) = common::http(upstream, "POST", "/", &[("Content-Type", "application/json")], &body) else { return };
		let mut response: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
		rewrite(&lie.lock().unwrap(), &method, &mut response["result"]);
		let out = response.to_string();
		let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", out.len());
		if writer.write_all(head.as_bytes()).and_then(|_| writer.write_all(out.as_bytes())).is_err() || close {
			return;
		}
	}
}

fn rewrite(lie: &Lie, method: &str, result: &mut Value) {
	match (lie, method) {
		(Lie::Swap { from, to }, "state_getReadProof") =>
			for node in result["proof"].as_array_mut().into_iter().flatten() {
				*node = Value::from(node.as_str().unwrap_or_default().replace(from.as_str(), to));
			},
		(Lie::Swap { from, to }, "state_call") => *result = Value::from(result.as_str().unwrap_or_default().replace(from.as_str(), to)),
		(Lie::OmitKey(suffix), "state_getKeysPaged") =>
			if let Some(keys) = result.as_array_mut() {
				keys.retain(|key| !key.as_str().unwrap_or_default().ends_with(suffix.as_str()));
			},
		(Lie::Replay(old), "phr_finalityProof") => *result = old.clone(),
		(Lie::Head { state_root }, "phr_finalityProof") => {
			let bytes = hex::decode(result.as_str().unwrap_or_default().trim_start_matches("0x")).unwrap();
			let (mut fragments, finished) = <(Vec<(Header, GrandpaJustification<Header>)>, bool)>::decode(&mut &bytes[..]).unwrap();
			fragments.last_mut().unwrap().0.state_root = *state_root;
			*result = Value::from(format!("0x{}", hex::encode((fragments, finished).encode())));
		},
		_ => {},
	}
}

fn lied(error: Result<Value, String>, what: &str) -> String {
	let error = error.expect_err(what);
	assert!(error.contains("does not verify") && error.contains("use another member's node"), "{what}: {error}");
	error
}

#[test]
fn every_lie_of_a_node_is_caught_alone_and_nothing_goes_to_the_wrong_key() {
	let dir = temp_dir("phr-lying-node-");
	let node = start_dev_node(dir.path());
	let url = format!("http://127.0.0.1:{}", node.rpc_port);
	// A genuine finality proof of now, to be replayed once it is old.
	let genesis = node.rpc("chain_getBlockHash", serde_json::json!([0])).unwrap();
	let (early_proof, captured) = (node.rpc("phr_finalityProof", serde_json::json!([genesis])).unwrap(), Instant::now());
	let wallet = |name: &str| Wallet { path: dir.path().join(format!("{name}.json")), url: url.clone() };
	let (alice, bob, eve) = (wallet("alice"), wallet("bob"), wallet("eve"));
	let eve_account = Sr25519Keyring::Eve.to_account_id();
	alice.ok(&["keys", "import", "//Alice"]);
	alice.ok(&["admin", "staff", &eve_account.to_ss58check(), "--roles", "physician", "--department", "cardiology", "--facility", "H1"]);
	for (w, suri) in [(&bob, "//Bob"), (&eve, "//Eve")] {
		w.ok(&["keys", "import", suri]);
		w.ok(&["keys", "register"]);
	}
	let note = dir.path().join("note.txt");
	std::fs::write(&note, b"blood pressure 128/82, 2026-12-05").unwrap();
	let record = bob.ok(&["record", "add", note.to_str().unwrap(), "--category", "observation"])["records"][0]["record"].as_u64().unwrap();
	// Both wallets now trust this chain (the anchor beside each wallet file, from the chain spec);
	// from here they talk to a node that lies.
	eve.ok(&["grants"]);
	let proxy = Proxy::start(node.rpc_port);
	let (bob_via, eve_via) = (bob.at(&proxy.url()), eve.at(&proxy.url()));
	let grants_of_bob = || bob.ok(&["grants"])["grants"].as_array().unwrap().len();

	// 1. Eve's X25519 key, replaced with the attacker's: the grant is not sent, no key is wrapped.
	let keys: Option<phr_primitives::KeyRecord<BlockNumber>> = state_call(&node, "KeysApi_current_key", &eve_account);
	let eve_key = hex::encode(keys.expect("Eve registered keys").keys.encryption);
	proxy.lie(Lie::Swap { from: eve_key.clone(), to: hex::encode([0x66u8; 32]) });
	// The lie is real: a client that believes `state_call` (as this wallet did before verified
	// reads) is told the attacker's key.
	let told = common::rpc(proxy.port, "state_call", serde_json::json!(["KeysApi_current_key", format!("0x{}", hex::encode(eve_account.encode()))])).unwrap();
	let told: Option<phr_primitives::KeyRecord<BlockNumber>> =
		Decode::decode(&mut &hex::decode(told.as_str().unwrap().trim_start_matches("0x")).unwrap()[..]).unwrap();
	assert_eq!(told.unwrap().keys.encryption, [0x66u8; 32], "the proxy lies to whoever believes it");
	lied(bob_via.phr(&["grant", "--to", &eve_account.to_ss58check(), "--categories", "all", "--expires", "1h"]), "a forged recipient key");
	assert_eq!(grants_of_bob(), 0, "no grant was sent on a lie");
	assert_eq!(proxy.wrapped.lock().unwrap().len(), 0, "no data key was wrapped on a lie");

	// 2. The staff list with Eve left out (so that a role grant would not reach her).
	let account_hex = hex::encode(AccountId::from(eve_account.clone()).encode());
	proxy.lie(Lie::OmitKey(account_hex));
	lied(bob_via.phr(&["grant", "--hospital", "1", "--role", "physician", "--categories", "all", "--expires", "1h"]), "a staff list with a member left out");
	assert_eq!(grants_of_bob(), 0);

	// 3. A finalized head whose state root is an older block's: the justification is not for it.
	let first: Value = node.rpc("chain_getHeader", serde_json::json!([node.rpc("chain_getBlockHash", serde_json::json!([1])).unwrap()])).unwrap();
	let old_root: sp_core::H256 = serde_json::from_value(first["stateRoot"].clone()).unwrap();
	proxy.lie(Lie::Head { state_root: old_root });
	lied(bob_via.phr(&["grants"]), "a forged finalized head");

	// Honest again, through the same proxy: the grant goes through and Eve reads the record.
	proxy.lie(Lie::Honest);
	bob_via.ok(&["grant", "--to", &eve_account.to_ss58check(), "--categories", "all", "--expires", "1h"]);
	assert_eq!(grants_of_bob(), 1);
	assert!(proxy.wrapped.lock().unwrap().len() > 0, "the honest grant wrapped Eve's key through the proxy");
	let out = dir.path().join("read.txt");
	eve_via.ok(&["record", "get", &record.to_string(), "-o", out.to_str().unwrap()]);
	assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&note).unwrap());

	// 4. The record's ciphertext hash, replaced: the reader refuses before it decrypts.
	let info: Option<phr_primitives::RecordInfo<AccountId, BlockNumber>> = state_call(&node, "RecordsApi_record", record);
	let hash = hex::encode(info.unwrap().ciphertext_hash);
	proxy.lie(Lie::Swap { from: hash, to: hex::encode([0x77u8; 32]) });
	let _ = std::fs::remove_file(&out);
	lied(eve_via.phr(&["record", "get", &record.to_string(), "-o", out.to_str().unwrap()]), "a forged record hash");
	assert!(!out.exists(), "nothing was written on a lie");

	// 5. A genuine finalized head, but an old one: its justification verifies, its proven
	// timestamp gives it away (here the wallet accepts heads up to 10 s old).
	std::thread::sleep(Duration::from_secs(15).saturating_sub(captured.elapsed()));
	proxy.lie(Lie::Replay(early_proof));
	let stale = bob_via.phr(&["grants", "--max-head-age", "10"]).unwrap_err();
	assert!(stale.contains("hides what happened since"), "{stale}");
	proxy.lie(Lie::Honest);
	bob_via.ok(&["grants", "--max-head-age", "10"]);

	// Answers the wallet does not rely on may lie freely: `state_call` rewritten, nothing changes.
	proxy.lie(Lie::Swap { from: eve_key, to: hex::encode([0x66u8; 32]) });
	assert_eq!(bob_via.ok(&["grants"])["grants"].as_array().unwrap().len(), 1);

	// A revocation re-keys for the readers that remain, never for the one it revoked: the
	// re-keying reads the chain as it is once the revocation is final, not as the command found it.
	proxy.lie(Lie::Honest);
	let grant = bob_via.ok(&["grants"])["grants"][0]["grant"].as_u64().unwrap();
	proxy.wrapped.lock().unwrap().clear();
	let revoked = bob_via.ok(&["revoke", &grant.to_string()]);
	assert!(!revoked["rekeyed"].as_array().unwrap().is_empty(), "{revoked}");
	let rekeyed_for = proxy.wrapped.lock().unwrap().clone();
	assert!(rekeyed_for.contains(&Sr25519Keyring::Bob.to_account_id().to_ss58check()), "the patient holds the new key: {rekeyed_for:?}");
	assert!(!rekeyed_for.contains(&eve_account.to_ss58check()), "the revoked reader got a new key: {rekeyed_for:?}");

	// A wallet that was never given the chain spec trusts nothing it is told.
	let stranger = Wallet { path: dir.path().join("stranger.json"), url: proxy.url() };
	stranger.ok(&["keys", "import", "//Ferdie"]);
	let refused = stranger.phr(&["grants"]).unwrap_err();
	assert!(refused.contains("--chain-spec"), "{refused}");
}
