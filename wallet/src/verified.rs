//! Verified reads: the wallet believes no node.
//!
//! Everything the wallet relies on to encrypt, wrap, grant, check or audit is read from chain state
//! with a storage proof (`state_getReadProof`) checked against the state root of a finalized header,
//! and that header's finality is checked here, from GRANDPA justifications, by the authority set
//! the chain spec names at genesis and every hand-off since (`phr_finalityProof`, the warp proof the
//! nodes serve each other). What a node says without proof (`state_call`, `chain_getFinalizedHead`)
//! is not used for any of that.
//!
//! The root of trust is the consortium's raw chain spec, given once (`--chain-spec`, or
//! `PHR_CHAIN_SPEC`): the wallet computes the genesis hash from its storage, as a node does, and
//! reads the genesis GRANDPA authorities from it. What it then verified is kept beside the wallet
//! file (`<wallet>.chain.json`, the "anchor"): the genesis, the authority set in force and the
//! block it began at, and the highest finalized block seen. Later runs start from there: one warp
//! proof (the latest justification, plus one fragment per authority-set change since) and one
//! read proof per round of keys.
//!
//! A lie is an error that names it: a proof that does not match the root, a justification that
//! does not carry two thirds of the set's signatures, a header that is not the justified one, a
//! key list from which the node left keys out (the proof then lacks the trie nodes the local
//! iteration needs), a finalized block older than one this wallet already verified.
//!
//! Queries run the pallets' own code (`pallet_records::Pallet::<Runtime>::record`, ...) natively,
//! over the proven trie: a read the proof does not cover stops the query; it is never answered
//! "absent".

use std::{
	cell::RefCell,
	collections::{BTreeMap, HashMap},
	path::{Path, PathBuf},
	sync::{Mutex, OnceLock},
};

use codec::{Decode, DecodeAll, Encode};
use phr_runtime::Header;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sp_consensus_grandpa::{AuthorityList, ConsensusLog, GrandpaJustification, SetId, GRANDPA_ENGINE_ID};
use sp_core::H256;
use sp_runtime::{
	generic::OpaqueDigestItemId,
	traits::{BlakeTwo256, Hash as _, Header as _},
	StateVersion,
};
use sp_state_machine::{Backend as _, TrieBackend};
use sp_trie::{MemoryDB, StorageProof};

use crate::{
	client::{from_hex, to_hex, Node},
	error::{Result, WalletError},
};

/// How far behind the highest finalized block this wallet verified a node may be (a node that is
/// still importing), in blocks; further behind, it is taken to hide what happened since.
const MAX_LAG: u32 = 64;
/// Keys per `state_getKeysPaged` page and per read proof.
const PAGE: u32 = 1000;

/// Time spent verifying (fetching proofs and checking them), for `PHR_TIMING`.
static VERIFYING_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Milliseconds this process spent fetching and checking proofs so far.
pub fn verifying_ms() -> f64 {
	VERIFYING_NS.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6
}

/// Runs `work`, counting its time as verification.
fn timed<R>(work: impl FnOnce() -> R) -> R {
	let started = std::time::Instant::now();
	let result = work();
	VERIFYING_NS.fetch_add(started.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
	result
}

/// Where trust comes from: set once per process from the command line.
struct TrustConfig {
	chain_spec: Option<PathBuf>,
	anchor_file: PathBuf,
	/// How old (by its proven timestamp, against this machine's clock) the latest finalized block
	/// may be; older, the node is taken to hide what happened since (or finality is stalled).
	max_head_age_ms: u64,
}

static CONFIG: OnceLock<TrustConfig> = OnceLock::new();

/// Sets the chain spec (if given), the wallet file whose anchor this process uses, and the oldest
/// finalized head (in seconds) it accepts.
pub fn configure(chain_spec: Option<PathBuf>, wallet: &Path, max_head_age_secs: u64) {
	let name = wallet.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "phr-wallet".into());
	let stem = name.strip_suffix(".json").unwrap_or(&name);
	let anchor_file = wallet.with_file_name(format!("{stem}.chain.json"));
	let _ = CONFIG.set(TrustConfig { chain_spec, anchor_file, max_head_age_ms: max_head_age_secs.saturating_mul(1000) });
}

fn lie(url: &str, what: impl std::fmt::Display) -> WalletError {
	WalletError::Untrusted(format!(
		"the node at {url} gave an answer that does not verify: {what}. Nothing was sent or written; use another member's node"
	))
}

/// What this wallet trusts: the chain, its authority set in force and where that set began, and
/// the highest finalized block it verified.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Anchor {
	pub genesis: H256,
	pub set_id: SetId,
	/// The SCALE-encoded `AuthorityList`, 0x-hex.
	pub authorities: String,
	pub set_start: H256,
	pub set_start_number: u32,
	pub seen: u32,
}

impl Anchor {
	/// The genesis anchor of a raw chain spec: the genesis hash computed from its storage (as a node
	/// builds its genesis block) and the GRANDPA authorities it names.
	pub fn from_chain_spec(path: &Path) -> Result<Anchor> {
		let text = std::fs::read_to_string(path).map_err(crate::error::file_error(path))?;
		let spec: Value = serde_json::from_str(&text)
			.map_err(|e| WalletError::Usage(format!("{}: not a chain spec ({e})", path.display())))?;
		let raw = &spec["genesis"]["raw"];
		let top = raw["top"].as_object().ok_or_else(|| {
			WalletError::Usage(format!(
				"{}: not a RAW chain spec: give the one the nodes run (`phr-node build-spec --chain <chain> --raw`)",
				path.display()
			))
		})?;
		let hex_pairs = |map: &serde_json::Map<String, Value>| -> Result<BTreeMap<Vec<u8>, Vec<u8>>> {
			map.iter()
				.map(|(k, v)| Ok((from_hex(k)?, from_hex(v.as_str().unwrap_or_default())?)))
				.collect()
		};
		let mut storage = hex_pairs(top)?;
		if let Some(children) = raw["childrenDefault"].as_object() {
			for (child, pairs) in children {
				let pairs = hex_pairs(pairs.as_object().ok_or_else(|| WalletError::Usage(format!("{}: a child trie is not a map", path.display())))?)?;
				let root = BlakeTwo256::trie_root(pairs.into_iter().collect(), StateVersion::V1);
				let info = sp_core::storage::ChildInfo::new_default(&from_hex(child)?);
				storage.insert(info.prefixed_storage_key().into_inner(), root.encode());
			}
		}
		let authorities_key = frame_support::storage::storage_prefix(b"Grandpa", b"Authorities").to_vec();
		let authorities = storage
			.get(&authorities_key)
			.and_then(|bytes| AuthorityList::decode_all(&mut &bytes[..]).ok())
			.filter(|list| !list.is_empty())
			.ok_or_else(|| WalletError::Usage(format!("{}: names no GRANDPA authorities at genesis", path.display())))?;
		let state_root = BlakeTwo256::trie_root(storage.into_iter().collect(), StateVersion::V1);
		let extrinsics_root = BlakeTwo256::ordered_trie_root(Vec::new(), StateVersion::V1);
		let genesis = Header::new(0, extrinsics_root, state_root, H256::zero(), Default::default()).hash();
		Ok(Anchor {
			genesis,
			set_id: 0,
			authorities: to_hex(&authorities.encode()),
			set_start: genesis,
			set_start_number: 0,
			seen: 0,
		})
	}

	fn load(path: &Path) -> Result<Option<Anchor>> {
		match std::fs::read(path) {
			Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
				WalletError::BadWallet(format!("{}: the wallet's chain anchor is damaged ({e}): remove it and give --chain-spec", path.display()))
			}),
			Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
			Err(e) => Err(crate::error::file_error(path)(e)),
		}
	}

	fn save(&self, path: &Path) -> Result<()> {
		let json = serde_json::to_vec_pretty(self).expect("an anchor serializes");
		crate::files::write_private(path, &json)
	}
}

/// A finalized header this wallet checked.
#[derive(Clone, Debug)]
pub struct Head {
	pub hash: H256,
	pub number: u32,
	pub state_root: H256,
}

/// `sc-consensus-grandpa`'s `WarpSyncProof`, as it is encoded.
#[derive(Decode, Encode)]
struct WarpProof {
	fragments: Vec<Fragment>,
	is_finished: bool,
}

#[derive(Decode, Encode)]
struct Fragment {
	header: Header,
	justification: GrandpaJustification<Header>,
}

/// The headers a justification carries, as the ancestry its precommits' targets are checked with.
struct Ancestry(HashMap<H256, Header>);

impl finality_grandpa::Chain<H256, u32> for Ancestry {
	fn ancestry(&self, base: H256, block: H256) -> Result<Vec<H256>, finality_grandpa::Error> {
		let mut route = Vec::new();
		let mut current = block;
		while current != base {
			let header = self.0.get(&current).ok_or(finality_grandpa::Error::NotDescendent)?;
			current = *header.parent_hash();
			route.push(current);
		}
		route.pop();
		Ok(route)
	}
}

/// Checks that `justification` finalizes `header` under authority set `set_id`: two thirds of
/// the set's weight signed precommits for it or its descendants, every signature valid.
pub fn check_justification(
	justification: &GrandpaJustification<Header>,
	header: &Header,
	set_id: SetId,
	authorities: &AuthorityList,
) -> std::result::Result<(), String> {
	let commit = &justification.commit;
	if commit.target_hash != header.hash() || commit.target_number != *header.number() {
		return Err(format!("a justification for block #{} is given for another header", commit.target_number));
	}
	let voters = finality_grandpa::voter_set::VoterSet::new(authorities.iter().cloned())
		.ok_or_else(|| "an empty authority set".to_string())?;
	let ancestry = Ancestry(justification.votes_ancestries.iter().map(|h| (h.hash(), h.clone())).collect());
	match finality_grandpa::validate_commit(commit, &voters, &ancestry) {
		Ok(result) if result.is_valid() => {},
		_ => return Err(format!("block #{}'s justification lacks two thirds of authority set {set_id}", commit.target_number)),
	}
	for signed in &commit.precommits {
		let message = finality_grandpa::Message::Precommit(signed.precommit.clone());
		let valid = sp_consensus_grandpa::check_message_signature(&message, &signed.id, &signed.signature, justification.round, set_id);
		if !matches!(valid, sp_consensus_grandpa::SignatureResult::Valid) {
			return Err(format!("block #{}'s justification carries a signature that does not verify", commit.target_number));
		}
	}
	Ok(())
}

/// The authority set a header hands over to, if it schedules a change.
fn scheduled_change(header: &Header) -> Option<AuthorityList> {
	let id = OpaqueDigestItemId::Consensus(&GRANDPA_ENGINE_ID);
	header.digest().convert_first(|item| match item.try_to::<ConsensusLog<u32>>(id) {
		Some(ConsensusLog::ScheduledChange(change)) => Some(change.next_authorities),
		_ => None,
	})
}

/// Follows `anchor` along a warp proof: each fragment's justification must verify under the set
/// in force, each but the last must hand over to a next set. Returns the last justified header.
fn follow(anchor: &mut Anchor, proof: &WarpProof) -> std::result::Result<Option<Header>, String> {
	let mut authorities = AuthorityList::decode_all(&mut &from_hex(&anchor.authorities).map_err(|e| e.to_string())?[..])
		.map_err(|e| e.to_string())?;
	let mut last = None;
	for (i, fragment) in proof.fragments.iter().enumerate() {
		// Right after a hand-off, the latest justification can be the very block this wallet
		// already took the new set from: it was checked then (by the set before), and its digest
		// must not hand over twice.
		if fragment.header.hash() == anchor.set_start && i + 1 == proof.fragments.len() && proof.is_finished {
			last = Some(fragment.header.clone());
			continue;
		}
		check_justification(&fragment.justification, &fragment.header, anchor.set_id, &authorities)?;
		let number = *fragment.header.number();
		if number < anchor.set_start_number {
			return Err(format!("block #{number} is older than authority set {}", anchor.set_id));
		}
		match scheduled_change(&fragment.header) {
			Some(next) => {
				authorities = next;
				anchor.set_id += 1;
				anchor.authorities = to_hex(&authorities.encode());
				anchor.set_start = fragment.header.hash();
				anchor.set_start_number = number;
			},
			None if i + 1 == proof.fragments.len() && proof.is_finished => {},
			None => return Err(format!("block #{number} ends authority set {} without naming the next", anchor.set_id)),
		}
		last = Some(fragment.header.clone());
	}
	Ok(last)
}

/// The anchor this process starts from: the one kept beside the wallet file, or the genesis of
/// the chain spec given (a spec of another chain than the stored anchor's replaces it: the user
/// chose a new root of trust). The portal server hands it to the browser, which verifies from it.
pub fn trusted_anchor() -> Result<Anchor> {
	let config = CONFIG.get().ok_or_else(|| WalletError::Usage("verified reads are not configured".into()))?;
	let stored = Anchor::load(&config.anchor_file)?;
	let given = config.chain_spec.as_deref().map(Anchor::from_chain_spec).transpose()?;
	match (stored, given) {
		(Some(stored), Some(given)) if stored.genesis == given.genesis => Ok(stored),
		(_, Some(given)) => Ok(given),
		(Some(stored), None) => Ok(stored),
		(None, None) => Err(WalletError::Usage(
			"this wallet trusts no chain yet: give the consortium's raw chain spec once with --chain-spec <file> (or PHR_CHAIN_SPEC)".into(),
		)),
	}
}

/// The verified head of each node this process asked, reused until a transaction of this
/// process is final in a later block.
static HEADS: Mutex<BTreeMap<String, Head>> = Mutex::new(BTreeMap::new());
/// The lowest block a head of each node must be at: where this process's latest transaction
/// through it became final. Reads after a transaction must see it (a revocation, above all: the
/// re-keying after it must not wrap the new keys for the reader it revoked).
static AT_LEAST: Mutex<BTreeMap<String, u32>> = Mutex::new(BTreeMap::new());
/// How long a head may take to reach that block (the node's latest GRANDPA justification can
/// trail its finalized head by a round).
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads through `url` from now on are at block `number` or later.
pub fn require_head_at_least(url: &str, number: u32) {
	let mut at_least = AT_LEAST.lock().expect("not poisoned");
	let entry = at_least.entry(url.to_string()).or_insert(0);
	*entry = (*entry).max(number);
}

impl Node {
	/// The latest finalized header, its finality checked from the wallet's anchor (made from the
	/// chain spec on first use); the anchor moves forward with it. Asked once per process, and
	/// again after a transaction of this process is final (the head must then include it).
	pub fn verified_head(&self) -> Result<Head> {
		timed(|| self.verify_head())
	}

	fn verify_head(&self) -> Result<Head> {
		let at_least = AT_LEAST.lock().expect("not poisoned").get(self.url()).copied().unwrap_or(0);
		if let Some(head) = HEADS.lock().expect("not poisoned").get(self.url()) {
			if head.number >= at_least {
				return Ok(head.clone());
			}
		}
		let started = std::time::Instant::now();
		loop {
			let head = self.verify_fresh_head()?;
			if head.number >= at_least {
				HEADS.lock().expect("not poisoned").insert(self.url().to_string(), head.clone());
				return Ok(head);
			}
			if started.elapsed() > CATCH_UP {
				return Err(WalletError::Untrusted(format!(
					"the node at {} proves finality only up to block #{}, and this wallet's transaction is final at #{at_least}: try again, or use another member's node",
					self.url(),
					head.number
				)));
			}
			std::thread::sleep(std::time::Duration::from_millis(500));
		}
	}

	fn verify_fresh_head(&self) -> Result<Head> {
		let config = CONFIG.get().ok_or_else(|| WalletError::Usage("verified reads are not configured".into()))?;
		let mut anchor = trusted_anchor()?;
		let genesis: H256 = self.call("chain_getBlockHash", vec![Value::from(0)])?;
		if genesis != anchor.genesis {
			return Err(WalletError::Untrusted(format!(
				"the node at {} serves chain {genesis:?}, not the chain this wallet trusts ({:?}): use a node of your consortium",
				self.url(),
				anchor.genesis
			)));
		}
		let mut head = None;
		loop {
			let bytes: phr_rpc_api::Bytes = self.call("phr_finalityProof", vec![serde_json::to_value(anchor.set_start).expect("hash")])?;
			let proof = WarpProof::decode_all(&mut &bytes.0[..]).map_err(|e| lie(self.url(), format!("a finality proof that does not decode ({e})")))?;
			if proof.fragments.is_empty() {
				return Err(lie(self.url(), "an empty finality proof"));
			}
			let start = anchor.set_start;
			head = follow(&mut anchor, &proof).map_err(|e| lie(self.url(), e))?.or(head);
			if proof.is_finished || anchor.set_start == start {
				break;
			}
		}
		let header = head.expect("a non-empty proof that verified yields a header");
		let number = *header.number();
		if number.saturating_add(MAX_LAG) < anchor.seen {
			return Err(WalletError::Untrusted(format!(
				"the node at {} says block #{number} is its latest final one, but this wallet verified #{} already: it is far behind or hides what happened since; use another member's node",
				self.url(),
				anchor.seen
			)));
		}
		// A genuine but old head (a node replaying an earlier justification) is caught by its own
		// proven timestamp: the wallet's clock is honest.
		let key = frame_support::storage::storage_prefix(b"Timestamp", b"Now").to_vec();
		let answer: ReadProof =
			self.call("state_getReadProof", vec![serde_json::to_value(vec![to_hex(&key)]).expect("keys"), serde_json::to_value(header.hash()).expect("hash")])?;
		let proof = StorageProof::new(answer.proof.into_iter().map(|b| b.0));
		let moment = sp_state_machine::read_proof_check::<BlakeTwo256, _>(*header.state_root(), proof, [&key])
			.ok()
			.and_then(|mut values| values.remove(&key).flatten())
			.and_then(|bytes| u64::decode_all(&mut &bytes[..]).ok())
			.ok_or_else(|| lie(self.url(), format!("no proven timestamp at block #{number}")))?;
		let age = crate::client::now_ms().saturating_sub(moment);
		if age > config.max_head_age_ms {
			return Err(WalletError::Untrusted(format!(
				"the node at {} says block #{number}, {} s old, is its latest final one: it hides what happened since, or finality is stalled; use another member's node (or allow older heads with --max-head-age)",
				self.url(),
				age / 1000
			)));
		}
		anchor.seen = anchor.seen.max(number);
		anchor.save(&config.anchor_file)?;
		Ok(Head { hash: header.hash(), number, state_root: *header.state_root() })
	}

	/// Chain state at the verified finalized head, read only with proofs.
	pub fn proven(&self) -> Result<Proven<'_>> {
		Ok(Proven { node: self, head: self.verified_head()?, nodes: RefCell::new(Vec::new()), backend: RefCell::new(None) })
	}
}

/// Chain state at a verified head: every value comes with its proof; queries run the pallets' own
/// code natively over the proven trie.
pub struct Proven<'a> {
	node: &'a Node,
	pub head: Head,
	/// The trie nodes of every proof fetched so far.
	nodes: RefCell<Vec<Vec<u8>>>,
	/// The trie over them, built when first read after a proof was added.
	backend: RefCell<Option<TrieBackend<MemoryDB<BlakeTwo256>, BlakeTwo256>>>,
}

#[derive(Deserialize)]
struct ReadProof {
	proof: Vec<phr_rpc_api::Bytes>,
}

impl Proven<'_> {
	/// Fetches the proof of `keys` (present or absent) and keeps its trie nodes.
	pub fn prove(&self, keys: &[Vec<u8>]) -> Result<()> {
		timed(|| self.prove_untimed(keys))
	}

	fn prove_untimed(&self, keys: &[Vec<u8>]) -> Result<()> {
		for page in keys.chunks(PAGE as usize) {
			let keys: Vec<String> = page.iter().map(|k| to_hex(k)).collect();
			let answer: ReadProof =
				self.node.call("state_getReadProof", vec![serde_json::to_value(keys).expect("keys"), serde_json::to_value(self.head.hash).expect("hash")])?;
			self.nodes.borrow_mut().extend(answer.proof.into_iter().map(|b| b.0));
			self.backend.replace(None);
		}
		Ok(())
	}

	/// Proves every key under `prefix`: the node lists them, the proof must then let the local
	/// iteration reach each one (a key left out of the list leaves a trie node missing).
	pub fn prove_prefix(&self, prefix: &[u8]) -> Result<()> {
		timed(|| self.prove_prefix_untimed(prefix))
	}

	fn prove_prefix_untimed(&self, prefix: &[u8]) -> Result<()> {
		let mut keys = vec![prefix.to_vec()];
		let mut start: Option<String> = None;
		loop {
			let page: Vec<String> = self.node.call(
				"state_getKeysPaged",
				vec![Value::from(to_hex(prefix)), Value::from(PAGE), serde_json::to_value(&start).expect("key"), serde_json::to_value(self.head.hash).expect("hash")],
			)?;
			let done = page.len() < PAGE as usize;
			start = page.last().cloned();
			for key in page {
				keys.push(from_hex(&key)?);
			}
			if done {
				break;
			}
		}
		// Iterating stops at the first key past the range: its path must be in the proof too (a
		// node that names a later key than the real next one leaves that one's trie node out).
		let last = to_hex(keys.last().expect("the prefix at least"));
		let next: Vec<String> = self.node.call(
			"state_getKeysPaged",
			vec![Value::from("0x"), Value::from(1), Value::from(last), serde_json::to_value(self.head.hash).expect("hash")],
		)?;
		for key in next {
			keys.push(from_hex(&key)?);
		}
		self.prove_untimed(&keys)
	}

	/// Runs `read` over the trie of the proofs fetched so far, checked against the head's root.
	fn with_backend<R>(&self, read: impl FnOnce(&TrieBackend<MemoryDB<BlakeTwo256>, BlakeTwo256>) -> R) -> Result<R> {
		timed(|| self.with_backend_untimed(read))
	}

	fn with_backend_untimed<R>(&self, read: impl FnOnce(&TrieBackend<MemoryDB<BlakeTwo256>, BlakeTwo256>) -> R) -> Result<R> {
		let mut backend = self.backend.borrow_mut();
		if backend.is_none() {
			let proof = StorageProof::new(self.nodes.borrow().iter().cloned());
			let checked = sp_state_machine::create_proof_check_backend::<BlakeTwo256>(self.head.state_root, proof)
				.map_err(|_| lie(self.node.url(), format!("a state proof that does not match block #{}'s state root", self.head.number)))?;
			*backend = Some(checked);
		}
		Ok(read(backend.as_ref().expect("just built")))
	}

	/// Runs `query` (pallet code reading storage) over the proven state. A read outside what was
	/// proven, or a proof node that is not what its parent names, stops it with an error.
	pub fn run<R>(&self, query: impl FnOnce() -> R) -> Result<R> {
		let url = self.node.url();
		let number = self.head.number;
		self.with_backend(|backend| {
			let mut overlay = sp_state_machine::OverlayedChanges::<BlakeTwo256>::default();
			let mut ext = sp_state_machine::Ext::new(&mut overlay, backend, None);
			let hook = std::panic::take_hook();
			std::panic::set_hook(Box::new(|_| {}));
			let outcome =
				std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sp_externalities::set_and_run_with_externalities(&mut ext, query)));
			std::panic::set_hook(hook);
			outcome.map_err(|panic| {
				let detail = panic.downcast_ref::<String>().map(String::as_str).or_else(|| panic.downcast_ref::<&str>().copied()).unwrap_or("");
				let detail: String = detail.chars().take(160).collect();
				lie(url, format!("a state proof that does not cover what it should at block #{number} (keys or trie nodes left out: {detail})"))
			})
		})?
	}

	/// One value, proven.
	pub fn value<T: Decode>(&self, key: Vec<u8>) -> Result<Option<T>> {
		self.prove(&[key.clone()])?;
		let raw = self
			.with_backend(|backend| backend.storage(&key))?
			.map_err(|_| lie(self.node.url(), "a state proof without the value it was asked for"))?;
		raw.map(|bytes| {
			T::decode_all(&mut &bytes[..]).map_err(|e| WalletError::Corrupt(format!("a proven value does not decode ({e}): update the wallet")))
		})
		.transpose()
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use serde_json::json;
	use sp_consensus_grandpa::{AuthorityId, AuthorityPair};
	use sp_core::Pair;

	fn header(number: u32, parent: H256) -> Header {
		Header::new(number, H256::repeat_byte(1), H256::repeat_byte(number as u8), parent, Default::default())
	}

	fn justification(target: &Header, signers: &[&AuthorityPair], round: u64, set_id: SetId) -> GrandpaJustification<Header> {
		let precommit = finality_grandpa::Precommit { target_hash: target.hash(), target_number: *target.number() };
		let precommits = signers
			.iter()
			.map(|pair| {
				let message = finality_grandpa::Message::Precommit(precommit.clone());
				let payload = sp_consensus_grandpa::localized_payload(round, set_id, &message);
				finality_grandpa::SignedPrecommit { precommit: precommit.clone(), signature: pair.sign(&payload), id: pair.public() }
			})
			.collect();
		GrandpaJustification {
			round,
			commit: finality_grandpa::Commit { target_hash: target.hash(), target_number: *target.number(), precommits },
			votes_ancestries: Vec::new(),
		}
	}

	fn set(pairs: &[AuthorityPair]) -> AuthorityList {
		pairs.iter().map(|p| (AuthorityId::from(p.public()), 1)).collect()
	}

	fn pairs(n: u8) -> Vec<AuthorityPair> {
		(0..n).map(|i| AuthorityPair::from_seed(&[i + 1; 32])).collect()
	}

	#[test]
	fn a_justification_needs_two_thirds_of_the_set_and_valid_signatures() {
		let voters = pairs(4);
		let authorities = set(&voters);
		let block = header(5, H256::repeat_byte(9));
		let three: Vec<&AuthorityPair> = voters.iter().take(3).collect();
		assert_eq!(check_justification(&justification(&block, &three, 1, 0), &block, 0, &authorities), Ok(()));
		// Two of four is not enough.
		assert!(check_justification(&justification(&block, &three[..2], 1, 0), &block, 0, &authorities).is_err());
		// Signed for another set, or by keys outside the set.
		assert!(check_justification(&justification(&block, &three, 1, 1), &block, 0, &authorities).is_err());
		let strangers = pairs(7);
		let outsiders: Vec<&AuthorityPair> = strangers.iter().skip(4).collect();
		assert!(check_justification(&justification(&block, &outsiders, 1, 0), &block, 0, &authorities).is_err());
		// A valid justification shown for another header.
		let other = header(5, H256::repeat_byte(8));
		assert!(check_justification(&justification(&block, &three, 1, 0), &other, 0, &authorities).is_err());
		// A signature that does not match its precommit.
		let mut forged = justification(&block, &three, 1, 0);
		forged.commit.precommits[0].signature = forged.commit.precommits[1].signature.clone();
		assert!(check_justification(&forged, &block, 0, &authorities).is_err());
	}

	#[test]
	fn a_warp_proof_is_followed_across_a_hand_off_and_refused_without_one() {
		let old = pairs(4);
		let new: Vec<AuthorityPair> = (10..13).map(|i| AuthorityPair::from_seed(&[i; 32])).collect();
		let mut change = header(10, H256::repeat_byte(3));
		let log = ConsensusLog::ScheduledChange(sp_consensus_grandpa::ScheduledChange { next_authorities: set(&new), delay: 0u32 });
		change.digest_mut().push(sp_runtime::DigestItem::Consensus(GRANDPA_ENGINE_ID, log.encode()));
		let latest = header(20, H256::repeat_byte(4));
		let old_signers: Vec<&AuthorityPair> = old.iter().collect();
		let new_signers: Vec<&AuthorityPair> = new.iter().collect();
		let genesis = H256::repeat_byte(7);
		let anchor = Anchor { genesis, set_id: 0, authorities: to_hex(&set(&old).encode()), set_start: genesis, set_start_number: 0, seen: 0 };
		let proof = WarpProof {
			fragments: vec![
				Fragment { header: change.clone(), justification: justification(&change, &old_signers, 2, 0) },
				Fragment { header: latest.clone(), justification: justification(&latest, &new_signers, 3, 1) },
			],
			is_finished: true,
		};
		let mut followed = anchor.clone();
		assert_eq!(follow(&mut followed, &proof).unwrap().unwrap().hash(), latest.hash());
		assert_eq!((followed.set_id, followed.set_start, followed.set_start_number), (1, change.hash(), 10));
		// The new set's justification, shown as if the old set were still in force.
		let skipped = WarpProof { fragments: vec![Fragment { header: latest.clone(), justification: justification(&latest, &new_signers, 3, 1) }], is_finished: true };
		assert!(follow(&mut anchor.clone(), &skipped).is_err());
		// A set's last block without the hand-off.
		let plain = header(10, H256::repeat_byte(3));
		let broken = WarpProof {
			fragments: vec![
				Fragment { header: plain.clone(), justification: justification(&plain, &old_signers, 2, 0) },
				Fragment { header: latest.clone(), justification: justification(&latest, &old_signers, 3, 0) },
			],
			is_finished: true,
		};
		assert!(follow(&mut anchor.clone(), &broken).is_err());

		// Just after the hand-off, the node's latest justification is the hand-off block itself:
		// the anchor that moved there stays put (set 1 from block 10), and the header is the head.
		let again = WarpProof { fragments: vec![Fragment { header: change.clone(), justification: justification(&change, &old_signers, 2, 0) }], is_finished: true };
		let mut moved = followed.clone();
		moved.set_start = change.hash();
		moved.set_start_number = 10;
		assert_eq!(follow(&mut moved, &again).unwrap().unwrap().hash(), change.hash());
		assert_eq!((moved.set_id, moved.set_start), (1, change.hash()), "no second hand-off");
	}

	/// Vectors for the portal's own verifier (web/src/verified.ts), made by this code: a trie with
	/// hashed and inline values and children, read proofs of keys present and absent and of whole
	/// prefixes (and one with a key left out), and warp proofs across a hand-off, one with
	/// precommits for a descendant of the justified block, one short of two thirds, one without
	/// the hand-off. `web/tests/verified.test.ts` checks the browser reads them as this wallet does.
	/// Regenerate with `PHR_WRITE_VECTORS=1 cargo test --release --workspace --bins proof_vectors`.
	const PROOF_VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/tests/proofs.json");

	fn trie_vectors() -> Value {
		let mut storage = BTreeMap::<Vec<u8>, Vec<u8>>::new();
		let staff = frame_support::storage::storage_prefix(b"Consortium", b"StaffOf").to_vec();
		for i in 0u32..160 {
			let id = i.encode();
			let key = [&staff[..], &sp_crypto_hashing::blake2_128(&id), &id].concat();
			// Values over 32 bytes are kept by hash in a V1 trie, shorter ones inline.
			let len = if i % 3 == 0 { 90 } else { 12 };
			storage.insert(key, (0..len).map(|b| (b as u32 * 31 + i) as u8).collect());
		}
		// Short keys with tiny values: their leaves are inlined in their branches.
		for i in 0u8..40 {
			storage.insert(vec![0xaa, i], vec![i]);
		}
		storage.insert(frame_support::storage::storage_prefix(b"Timestamp", b"Now").to_vec(), 1_700_000_000_000u64.encode());
		let upgrade = frame_support::storage::storage_prefix(b"System", b"LastRuntimeUpgrade").to_vec();
		storage.insert(upgrade.clone(), (codec::Compact(106u32), "phr".to_string()).encode());
		let backend = sp_state_machine::InMemoryBackend::<BlakeTwo256>::from((storage.clone(), StateVersion::V1));
		let root = *backend.root();
		let prove = |keys: &[Vec<u8>]| -> Vec<String> {
			sp_state_machine::prove_read_on_trie_backend(&backend, keys).unwrap().into_iter_nodes().map(|n| to_hex(&n)).collect()
		};
		let now = frame_support::storage::storage_prefix(b"Timestamp", b"Now").to_vec();
		let mut present: Vec<Vec<u8>> = storage.keys().step_by(7).filter(|k| **k != now && **k != upgrade).cloned().collect();
		present.push(now);
		present.push(upgrade);
		let absent: Vec<Vec<u8>> = vec![[&staff[..], &[0u8; 20][..]].concat(), vec![0xaa, 200], vec![0xab], vec![]];
		let all: Vec<Vec<u8>> = present.iter().chain(&absent).cloned().collect();
		let prefix_case = |prefix: &[u8]| {
			let keys: Vec<Vec<u8>> = storage.range(prefix.to_vec()..).take_while(|(k, _)| k.starts_with(prefix)).map(|(k, _)| k.clone()).collect();
			let with_prefix: Vec<Vec<u8>> = std::iter::once(prefix.to_vec()).chain(keys.iter().cloned()).collect();
			// A node that leaves one key out of its list: the proof lacks that key's path.
			let left_out: Vec<Vec<u8>> = with_prefix.iter().filter(|k| **k != keys[keys.len() / 2]).cloned().collect();
			json!({
				"prefix": to_hex(prefix),
				"proof": prove(&with_prefix),
				"entries": keys.iter().map(|k| json!([to_hex(k), to_hex(&storage[k])])).collect::<Vec<_>>(),
				"leftOutProof": prove(&left_out),
			})
		};
		json!({
			"root": to_hex(root.as_ref()),
			"proof": prove(&all),
			"present": present.iter().map(|k| json!([to_hex(k), to_hex(&storage[k])])).collect::<Vec<_>>(),
			"absent": absent.iter().map(|k| to_hex(k)).collect::<Vec<_>>(),
			"prefixes": [prefix_case(&staff), prefix_case(&[0xaa])],
		})
	}

	fn warp_vectors(state_root: H256) -> Value {
		let old = pairs(4);
		let new: Vec<AuthorityPair> = (10..13).map(|i| AuthorityPair::from_seed(&[i; 32])).collect();
		let genesis = H256::repeat_byte(7);
		let mut change = header(10, genesis);
		let log = ConsensusLog::ScheduledChange(sp_consensus_grandpa::ScheduledChange { next_authorities: set(&new), delay: 0u32 });
		change.digest_mut().push(sp_runtime::DigestItem::PreRuntime(*b"aura", vec![1, 2, 3]));
		change.digest_mut().push(sp_runtime::DigestItem::Consensus(GRANDPA_ENGINE_ID, log.encode()));
		change.digest_mut().push(sp_runtime::DigestItem::Seal(*b"aura", vec![9; 64]));
		// The head is justified by two precommits for it and one for its child, shown in the
		// votes' ancestry (the precommit ghost is the head).
		// Its state is the trie of `trie_vectors` (a timestamp in it).
		let latest = Header::new(20, H256::repeat_byte(1), state_root, change.hash(), Default::default());
		let child = header(21, latest.hash());
		let old_signers: Vec<&AuthorityPair> = old.iter().collect();
		let new_signers: Vec<&AuthorityPair> = new.iter().collect();
		let mut by_descendant = justification(&latest, &new_signers[..2], 3, 1);
		let for_child = justification(&child, &new_signers[2..], 3, 1);
		by_descendant.commit.precommits.extend(for_child.commit.precommits);
		by_descendant.votes_ancestries = vec![child.clone()];
		let anchor = Anchor { genesis, set_id: 0, authorities: to_hex(&set(&old).encode()), set_start: genesis, set_start_number: 0, seen: 0 };
		let good = WarpProof {
			fragments: vec![
				Fragment { header: change.clone(), justification: justification(&change, &old_signers, 2, 0) },
				Fragment { header: latest.clone(), justification: by_descendant },
			],
			is_finished: true,
		};
		let mut followed = anchor.clone();
		assert_eq!(follow(&mut followed, &good).unwrap().unwrap().hash(), latest.hash());
		let short = WarpProof {
			fragments: vec![Fragment { header: change.clone(), justification: justification(&change, &old_signers[..2], 2, 0) }],
			is_finished: true,
		};
		assert!(follow(&mut anchor.clone(), &short).is_err());
		let plain = header(10, genesis);
		let no_hand_off = WarpProof {
			fragments: vec![
				Fragment { header: plain.clone(), justification: justification(&plain, &old_signers, 2, 0) },
				Fragment { header: latest.clone(), justification: justification(&latest, &old_signers, 3, 0) },
			],
			is_finished: true,
		};
		assert!(follow(&mut anchor.clone(), &no_hand_off).is_err());
		let mut forged = WarpProof { fragments: vec![Fragment { header: change.clone(), justification: justification(&change, &old_signers, 2, 0) }], is_finished: true };
		forged.fragments[0].justification.commit.precommits[0].signature = forged.fragments[0].justification.commit.precommits[1].signature.clone();
		assert!(follow(&mut anchor.clone(), &forged).is_err());
		json!({
			"anchor": anchor,
			"proof": to_hex(&good.encode()),
			"head": { "hash": to_hex(latest.hash().as_ref()), "number": 20, "stateRoot": to_hex(latest.state_root().as_ref()) },
			"followed": followed,
			"refused": { "short": to_hex(&short.encode()), "noHandOff": to_hex(&no_hand_off.encode()), "forgedSignature": to_hex(&forged.encode()) },
		})
	}

	#[test]
	fn proof_vectors_for_the_portal_hold() {
		if std::env::var_os("PHR_WRITE_VECTORS").is_some() {
			let trie = trie_vectors();
			let root = H256::from_slice(&from_hex(trie["root"].as_str().unwrap()).unwrap());
			let vectors = json!({
				"about": "Made by wallet/src/verified.rs (PHR_WRITE_VECTORS=1 cargo test --release --workspace --bins proof_vectors); checked by it and by web/tests/verified.test.ts.",
				"trie": trie,
				"warp": warp_vectors(root),
			});
			std::fs::write(PROOF_VECTORS, serde_json::to_string_pretty(&vectors).unwrap() + "\n").unwrap();
		}
		let text = std::fs::read_to_string(PROOF_VECTORS).expect("web/tests/proofs.json is committed (PHR_WRITE_VECTORS=1 makes it)");
		let v: Value = serde_json::from_str(&text).unwrap();
		// The committed trie vectors read here as the portal must read them.
		let t = &v["trie"];
		let root = H256::from_slice(&from_hex(t["root"].as_str().unwrap()).unwrap());
		let nodes = |list: &Value| StorageProof::new(list.as_array().unwrap().iter().map(|n| from_hex(n.as_str().unwrap()).unwrap()));
		let checked = sp_state_machine::create_proof_check_backend::<BlakeTwo256>(root, nodes(&t["proof"])).unwrap();
		for pair in t["present"].as_array().unwrap() {
			let key = from_hex(pair[0].as_str().unwrap()).unwrap();
			assert_eq!(checked.storage(&key).unwrap(), Some(from_hex(pair[1].as_str().unwrap()).unwrap()));
		}
		for key in t["absent"].as_array().unwrap() {
			assert_eq!(checked.storage(&from_hex(key.as_str().unwrap()).unwrap()).unwrap(), None);
		}
		// The committed warp proof verifies here to the head the portal must reach.
		let w = &v["warp"];
		let mut anchor: Anchor = serde_json::from_value(w["anchor"].clone()).unwrap();
		let proof = WarpProof::decode_all(&mut &from_hex(w["proof"].as_str().unwrap()).unwrap()[..]).unwrap();
		let head = follow(&mut anchor, &proof).unwrap().unwrap();
		assert_eq!(to_hex(head.hash().as_ref()), w["head"]["hash"].as_str().unwrap());
		assert_eq!(anchor, serde_json::from_value::<Anchor>(w["followed"].clone()).unwrap());
		for (_, refused) in w["refused"].as_object().unwrap() {
			let proof = WarpProof::decode_all(&mut &from_hex(refused.as_str().unwrap()).unwrap()[..]).unwrap();
			assert!(follow(&mut serde_json::from_value(w["anchor"].clone()).unwrap(), &proof).is_err());
		}
	}
}
