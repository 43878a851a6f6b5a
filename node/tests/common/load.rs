//! Load on a consortium, for the fault tests and the throughput benchmark: many patients (each
//! with its own sr25519 key, onboarded in genesis), pre-signed grants and remarks, submission in
//! JSON-RPC batches, and a watcher that sees which extrinsics the chain finalized, and when.

use std::{
	collections::HashMap,
	path::{Path, PathBuf},
	time::Instant,
};

use phr_primitives::{CategorySet, Conditions, GrantTerms, Grantee, Rights, Scope};
use phr_runtime::{AccountId, RuntimeCall};
use serde_json::{json, Value};
use sp_core::{sr25519, Pair, H256};

use super::{now_ms, rpc_batch, run_node_command, to_hex, Node};

/// The `i`-th load patient's key (`//phr-load/<i>`).
pub fn patient(i: u32) -> sr25519::Pair {
	sr25519::Pair::from_string(&format!("//phr-load/{i}"), None).expect("a valid derivation path")
}

pub fn account(pair: &sr25519::Pair) -> AccountId {
	pair.public().into()
}

/// Writes `<dir>/load-spec.json`: the `local-consortium` preset (same validators, member nodes and
/// node keys) with `patients` onboarded in genesis, spread over the four hospitals.
pub fn spec_with_patients(dir: &Path, patients: &[sr25519::Pair]) -> PathBuf {
	let (ok, out, err) = run_node_command(&["build-spec", "--chain", "local-consortium"]);
	assert!(ok, "build-spec failed: {err}");
	spec_from_with_patients(dir, &out, patients)
}

/// As [`spec_with_patients`], from the plain chain spec `base` (the preset as an earlier release
/// built it, say).
pub fn spec_from_with_patients(dir: &Path, base: &str, patients: &[sr25519::Pair]) -> PathBuf {
	let mut spec: Value = serde_json::from_str(base).expect("a chain spec is JSON");
	let listed: Vec<Value> =
		patients.iter().enumerate().map(|(i, p)| json!([account(p).to_string(), 1 + i % 4])).collect();
	let patch = &mut spec["genesis"]["runtimeGenesis"]["patch"];
	assert!(patch["consortium"]["patients"].is_array(), "the preset lists patients: {}", patch["consortium"]);
	patch["consortium"]["patients"] = Value::Array(listed);
	spec["id"] = json!("phr_load");
	let path = dir.join("load-spec.json");
	std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();
	path
}

/// `patient` grants `grantee` read access to all categories for one hour.
pub fn grant_call(patient: AccountId, grantee: AccountId) -> RuntimeCall {
	let terms = GrantTerms {
		grantee: Grantee::Account(grantee),
		scope: Scope { categories: CategorySet::all(), records: Default::default() },
		rights: Rights::READ,
		expires_at: now_ms() + 3_600_000,
		conditions: Conditions::default(),
	};
	RuntimeCall::Access(pallet_access::Call::grant { patient, terms })
}

/// A grant like [`grant_call`]'s, signed by its patient for a relayer (`Access::grant_batch`):
/// the patient's relay nonce `nonce`, valid until block `valid_until` of the chain `genesis`.
pub fn signed_grant(patient: &sr25519::Pair, grantee: AccountId, nonce: u32, valid_until: u32, genesis: H256) -> pallet_access::SignedGrantOf<phr_runtime::Runtime> {
	let RuntimeCall::Access(pallet_access::Call::grant { terms, .. }) = grant_call(account(patient), grantee) else {
		unreachable!("grant_call makes a grant")
	};
	let who = account(patient);
	let payload = pallet_access::relayed_grant_payload(&genesis, &who, &terms, nonce, &valid_until);
	let signature = patient.sign(&payload).into();
	pallet_access::SignedGrant { patient: who, terms, nonce, valid_until, signature }
}

/// `System::remark` with 32 bytes: the chain's cheapest signed extrinsic.
pub fn remark_call(tag: u64) -> RuntimeCall {
	let mut remark = tag.to_le_bytes().to_vec();
	remark.resize(32, 0x5a);
	RuntimeCall::System(frame_system::Call::remark { remark })
}

/// The hash the pool and the block body know an extrinsic by.
pub fn extrinsic_hash(extrinsic: &[u8]) -> H256 {
	H256(sp_crypto_hashing::blake2_256(extrinsic))
}

/// The pool's JSON-RPC error code for an extrinsic it already holds.
const ALREADY_IMPORTED: i64 = 1013;
/// ... and the reason it gives for an extrinsic whose nonce is already used on chain.
const OUTDATED: &str = "Transaction is outdated";

/// Whether a refusal of `author_submitExtrinsic` means the very same extrinsic is already in the
/// pool or already included (so a resubmission after a lost answer is not an error).
pub fn already_taken(error: &Value) -> bool {
	error["code"] == ALREADY_IMPORTED || error["data"] == OUTDATED
}

/// Submits `extrinsics` to the node at `ports[0]` in JSON-RPC batches of `batch`, as a client
/// would: what is refused (a node under load may answer "state already discarded" for a fork it
/// just pruned, and then bans the hash for a while) is sent again a second later to the next node
/// of `ports`, up to 5 rounds. Returns how many were accepted and the last refusals (at most 5).
pub fn submit_all(ports: &[u16], extrinsics: &[Vec<u8>], batch: usize) -> (usize, Vec<Value>) {
	let mut pending: Vec<&Vec<u8>> = extrinsics.iter().collect();
	let (mut accepted, mut refusals) = (0, Vec::new());
	for round in 0..5 {
		if round > 0 {
			std::thread::sleep(std::time::Duration::from_secs(1));
		}
		refusals.clear();
		let mut refused = Vec::new();
		for part in pending.chunks(batch) {
			let params: Vec<Value> = part.iter().map(|x| json!([to_hex(x)])).collect();
			let answers = rpc_batch(ports[round % ports.len()], "author_submitExtrinsic", &params)
				.unwrap_or_else(|e| vec![Err(e); part.len()]);
			for (extrinsic, answer) in part.iter().zip(answers) {
				match answer {
					Ok(_) => accepted += 1,
					// A retry found it pooled or already included: an earlier round's refusal came
					// from one node while another had it by gossip.
					Err(e) if round > 0 && already_taken(&e) => accepted += 1,
					Err(e) => {
						refused.push(*extrinsic);
						if refusals.len() < 5 {
							refusals.push(e);
						}
					},
				}
			}
		}
		pending = refused;
		if pending.is_empty() {
			break;
		}
	}
	(accepted, refusals)
}

/// One finalized block as the watcher saw it.
#[derive(Clone, Debug)]
pub struct SeenBlock {
	pub number: u32,
	pub hash: H256,
	/// Extrinsics in the block (the timestamp inherent included).
	pub extrinsics: usize,
	/// When the watcher first saw it finalized.
	pub seen: Instant,
}

/// Follows a node's finalized chain block by block and remembers, for every extrinsic, the
/// finalized block that holds it and when that block was first seen final.
#[derive(Default)]
pub struct FinalityWatcher {
	pub next: u32,
	pub blocks: Vec<SeenBlock>,
	pub included: HashMap<H256, (u32, Instant)>,
}

impl FinalityWatcher {
	/// Starts after the node's current finalized block.
	pub fn from_now(node: &Node) -> FinalityWatcher {
		FinalityWatcher { next: node.finalized_height().unwrap_or(0) + 1, ..Default::default() }
	}

	/// Reads every block finalized since the last poll; `false` if the node did not answer.
	pub fn poll(&mut self, node: &Node) -> bool {
		let Some(head) = node.finalized_height() else { return false };
		let seen = Instant::now();
		while self.next <= head {
			let Ok(hash) = node.rpc("chain_getBlockHash", json!([self.next])) else { return false };
			let Ok(block) = node.rpc("chain_getBlock", json!([hash])) else { return false };
			let hash: H256 = serde_json::from_value(hash).expect("a block hash");
			let extrinsics = block["block"]["extrinsics"].as_array().cloned().unwrap_or_default();
			for hex_extrinsic in &extrinsics {
				let bytes = hex::decode(hex_extrinsic.as_str().unwrap_or_default().trim_start_matches("0x")).expect("hex");
				self.included.insert(extrinsic_hash(&bytes), (self.next, seen));
			}
			self.blocks.push(SeenBlock { number: self.next, hash, extrinsics: extrinsics.len(), seen });
			self.next += 1;
		}
		true
	}

	pub fn contains_all<'a>(&self, hashes: impl IntoIterator<Item = &'a H256>) -> bool {
		hashes.into_iter().all(|h| self.included.contains_key(h))
	}
}

/// How many of `hashes` each node's pool still holds (ready or future).
pub fn pooled(nodes: &[Node], hashes: &[H256]) -> Vec<usize> {
	nodes
		.iter()
		.map(|node| {
			let pending = node.rpc("author_pendingExtrinsics", json!([])).unwrap_or_default();
			let pooled: std::collections::HashSet<H256> = pending
				.as_array()
				.into_iter()
				.flatten()
				.filter_map(|x| hex::decode(x.as_str()?.trim_start_matches("0x")).ok())
				.map(|bytes| extrinsic_hash(&bytes))
				.collect();
			hashes.iter().filter(|h| pooled.contains(h)).count()
		})
		.collect()
}
