//! Break-glass by threshold release: this node's part as its hospital's escrow agent.
//!
//! Each record version's data key is split by the patient's wallet into one share per member
//! hospital (t of n recover it, `phr_crypto::escrow`), each sealed to the X25519 key registered on
//! chain for that hospital's validator account: its escrow key, whose secret only the hospital's
//! node holds (`--escrow-key-file`). The sealed shares are stored and replicated like wrapped data
//! keys, with the patient's signed upload, so every node can check them.
//!
//! This node:
//! - keeps its escrow secrets (the current one and every earlier one, so shares sealed before a
//!   rotation still open) under its base path, and registers (or rotates) the current public key
//!   on chain for the validator account whose `phrn` key is in its keystore;
//! - on a signed `ReleaseShare` request, which it serves whether it comes over RPC or relayed by
//!   another member node over `/phr/blob/1`, checks everything a fetch checks (signature, this
//!   chain, THIS node, registered key, nonce), then that the signer's emergency opening of the
//!   patient is FINAL and open (`decide` with the emergency purpose at the finalized block), opens
//!   its hospital's share of the record's CURRENT data key, seals it to the opener's current X25519
//!   key, and keeps the request as a read receipt (basis `Emergency`) anchored on chain like every
//!   read. It never sees the data key: one share of t reveals nothing.

use std::{
	path::{Path, PathBuf},
	sync::Arc,
};

use codec::Encode;
use phr_crypto::EncryptionKey;
use phr_primitives::{AccountKeys, Basis, BlobMethod, Decision, HospitalId, Purpose, ReadReceipt, Right};
use phr_rpc_api::ReleasedShare;
use phr_runtime::{AccountId, RuntimeCall};

use super::{
	chain::ChainView,
	error::BlobError,
	now_ms, replication,
	rpc::{authenticate, final_record, record_subject, BlobRpcError},
	Blobs,
};

const LOG_TARGET: &str = "phr::escrow";
/// A registration not seen on chain after this many finalized blocks is submitted again.
const REGISTER_AGAIN_AFTER_BLOCKS: u32 = 20;

/// This node's escrow secrets, current first.
pub struct EscrowKeys {
	keys: Vec<EncryptionKey>,
}

impl EscrowKeys {
	/// Loads every secret kept in `dir`, after importing `import` (the `--escrow-key-file`, or the
	/// development key) as the current one. `None` when the node holds no escrow key at all.
	pub fn load(dir: &Path, import: Option<[u8; 32]>) -> Result<Option<EscrowKeys>, BlobError> {
		std::fs::create_dir_all(dir).map_err(BlobError::file("create", dir))?;
		let mut keys = Vec::new();
		let mut current = None;
		if let Some(secret) = import {
			let key = EncryptionKey::from_secret(&secret).map_err(BlobError::BadSecret)?;
			let path = dir.join(hex::encode(key.public()));
			if !path.exists() {
				write_secret(&path, &secret)?;
			}
			let marker = dir.join("current");
			std::fs::write(&marker, hex::encode(key.public())).map_err(BlobError::file("write", &marker))?;
			current = Some(key.public());
		}
		let current = match current {
			Some(public) => Some(public),
			None => std::fs::read_to_string(dir.join("current")).ok().and_then(|text| parse_hex32(text.trim())),
		};
		for entry in std::fs::read_dir(dir).map_err(BlobError::file("read", dir))? {
			let path = entry.map_err(BlobError::file("read", dir))?.path();
			let Some(public) = path.file_name().and_then(|n| n.to_str()).and_then(parse_hex32) else { continue };
			let secret = read_secret(&path)?;
			let key = EncryptionKey::from_secret(&secret).map_err(BlobError::BadSecret)?;
			if key.public() != public {
				return Err(BlobError::MisnamedSecret(path));
			}
			keys.push(key);
		}
		let Some(current) = current else { return Ok(None) };
		keys.sort_by_key(|key| key.public() != current);
		if keys.first().map(|key| key.public()) != Some(current) {
			return Err(BlobError::MissingCurrentKey { public: hex::encode(current), dir: dir.into() });
		}
		Ok(Some(EscrowKeys { keys }))
	}

	pub fn current(&self) -> &EncryptionKey {
		&self.keys[0]
	}

	/// The secret of `public`, current or earlier.
	pub fn secret_of(&self, public: &[u8; 32]) -> Option<&EncryptionKey> {
		self.keys.iter().find(|key| key.public() == *public)
	}
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
	hex::decode(text).ok()?.try_into().ok()
}

/// Reads an X25519 secret: 64 hex characters (surrounding whitespace ignored).
pub fn read_secret(path: &Path) -> Result<[u8; 32], BlobError> {
	let text = std::fs::read_to_string(path).map_err(BlobError::file("read the escrow key", path))?;
	parse_hex32(text.trim()).ok_or_else(|| BlobError::BadSecretFile(path.into()))
}

fn write_secret(path: &PathBuf, secret: &[u8; 32]) -> Result<(), BlobError> {
	use std::io::Write;
	#[cfg(unix)]
	use std::os::unix::fs::OpenOptionsExt;
	let mut options = std::fs::OpenOptions::new();
	options.write(true).create_new(true);
	#[cfg(unix)]
	options.mode(0o600);
	let mut file = options.open(path).map_err(BlobError::file("create", path))?;
	file.write_all(hex::encode(secret).as_bytes()).map_err(BlobError::file("write", path))
}

/// The development escrow key of `--dev` / `--alice`: derived from the development seed, so that a
/// dev chain's single hospital can release break-glass shares. Never for a real hospital.
pub fn development_secret(seed: &str) -> [u8; 32] {
	sp_crypto_hashing::blake2_256(format!("phr-development-escrow-key{seed}").as_bytes())
}

/// The ed25519 request key registered with the escrow key (the account needs one; this node signs
/// nothing with it): derived from the escrow secret.
fn request_key_of(escrow: &EncryptionKey) -> [u8; 32] {
	let seed = sp_crypto_hashing::blake2_256(&[b"phr-escrow-request-key".as_slice(), escrow.secret_bytes().as_slice()].concat());
	ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes()
}

/// This node's escrow role: its secrets and the validator account they are registered for.
pub struct EscrowAgent {
	pub keys: EscrowKeys,
	pub account: AccountId,
	/// Finalized block at which the registration was last submitted.
	submitted_at: std::sync::Mutex<Option<u32>>,
}

impl EscrowAgent {
	pub fn new(keys: EscrowKeys, account: AccountId) -> EscrowAgent {
		EscrowAgent { keys, account, submitted_at: Default::default() }
	}

	/// The hospital whose validator account this node's `phrn` key is, at `at`.
	fn hospital(&self, chain: &ChainView<'_>, at: phr_runtime::Hash) -> Result<Option<HospitalId>, BlobRpcError> {
		Ok(chain.members(at)?.into_iter().find(|(_, validator, _)| *validator == self.account).map(|(id, ..)| id))
	}

	/// The registration (or rotation) the chain still needs for this node's current escrow key.
	pub fn registration_needed(&self, blobs: &Blobs, finalized: u32) -> Option<RuntimeCall> {
		let chain = ChainView { client: &blobs.client };
		// Only a member's validator account is a hospital's escrow agent: the `phrn` key of an
		// admin must never have its own keys replaced by the escrow key.
		match self.hospital(&chain, chain.finalized()) {
			Ok(Some(_)) => {},
			Ok(None) => return None,
			Err(error) => {
				log::warn!(target: LOG_TARGET, "cannot read the members: {error:?}");
				return None;
			},
		}
		let public = self.keys.current().public();
		let keys = AccountKeys { encryption: public, request_signing: request_key_of(self.keys.current()) };
		let call = match chain.current_key(chain.best(), &self.account) {
			Ok(Some(record)) if record.keys.encryption == public => return None,
			Ok(Some(_)) => RuntimeCall::Keys(pallet_keys::Call::rotate_keys { keys }),
			Ok(None) => RuntimeCall::Keys(pallet_keys::Call::register_keys { keys }),
			Err(error) => {
				log::warn!(target: LOG_TARGET, "cannot read this hospital's escrow key on chain: {error}");
				return None;
			},
		};
		let submitted = *self.submitted_at.lock().expect("escrow registration lock");
		if submitted.is_some_and(|at| finalized < at.saturating_add(REGISTER_AGAIN_AFTER_BLOCKS)) {
			return None;
		}
		Some(call)
	}

	/// The registration was submitted at finalized block `finalized`: wait before submitting again.
	pub fn registration_submitted(&self, finalized: u32) {
		*self.submitted_at.lock().expect("escrow registration lock") = Some(finalized);
		log::info!(
			target: LOG_TARGET,
			"submitted escrow key {} for {}",
			hex::encode(self.keys.current().public()),
			self.account
		);
	}
}

/// Serves one signed `ReleaseShare` request addressed to this node (from RPC or relayed by a peer).
pub async fn release(blobs: &Blobs, request: &[u8]) -> Result<ReleasedShare, BlobRpcError> {
	let agent = blobs
		.escrow
		.get()
		.ok_or_else(|| BlobRpcError::Unavailable("this node holds no escrow key of a member hospital".into()))?;
	let claimed = super::decode_signed(&request)
		.map_err(|e| BlobRpcError::Malformed(format!("the request is not a SCALE-encoded SignedBlobRequest: {e}")))?;
	let BlobMethod::ReleaseShare { emergency } = claimed.request.method else {
		return Err(BlobRpcError::Malformed(format!("the request was signed for {}, not ReleaseShare", claimed.request.method.name())));
	};
	let (signed, at) = authenticate(blobs, request, &BlobMethod::ReleaseShare { emergency })?;
	let chain = ChainView { client: &blobs.client };
	let id = record_subject(&signed)?;
	let record = final_record(&chain, at, id)?;
	let opener = &signed.request.account;
	match chain.decide(at, opener, id, Right::Read, Purpose::Emergency)? {
		Decision::Allowed(Basis::Emergency(open)) if open == emergency => {},
		Decision::Allowed(other) => {
			return Err(BlobRpcError::Forbidden(format!(
				"shares are released under a final emergency opening ({emergency}), not {other:?}"
			)))
		},
		Decision::Denied(denial) => return Err(BlobRpcError::Denied(denial)),
	}
	let hospital = agent
		.hospital(&chain, at)?
		.ok_or_else(|| BlobRpcError::Unavailable("this node's account is not a member's validator".into()))?;
	let agent_bytes: [u8; 32] = *AsRef::<[u8; 32]>::as_ref(&agent.account);
	let local = match blobs.store.wrapped_key(id, &agent_bytes) {
		Ok(share) if share.data_epoch == record.key_epoch => Some(share),
		Ok(_) | Err(phr_blob_store::StoreError::NoWrappedKey) => None,
		Err(error) => return Err(error.into()),
	};
	let share = match local {
		Some(share) => share,
		None => replication::fetch_wrapped_key(blobs, at, id, &agent.account, record.key_epoch)
			.await
			.filter(|share| share.data_epoch == record.key_epoch)
			.ok_or_else(|| {
				BlobRpcError::Unavailable(format!(
					"no escrow share of record {id}'s current data key (epoch {}) reached hospital {hospital}",
					record.key_epoch
				))
			})?,
	};
	let sealed_to = chain
		.key_at(at, &agent.account, share.recipient_epoch)?
		.ok_or_else(|| BlobRpcError::Internal(format!("escrow key epoch {} is not on chain", share.recipient_epoch)))?;
	let secret = agent.keys.secret_of(&sealed_to.keys.encryption).ok_or_else(|| {
		BlobRpcError::Unavailable(format!(
			"the share is sealed to escrow key {}, which this node no longer holds",
			hex::encode(sealed_to.keys.encryption)
		))
	})?;
	let opener_key = chain
		.current_key(at, opener)?
		.ok_or_else(|| BlobRpcError::Unknown("keys of the opener: none registered".into()))?;
	let sealed = phr_crypto::escrow::reseal_for_opener(
		secret,
		&share.wrapped,
		id,
		record.key_epoch,
		hospital,
		&opener_key.keys.encryption,
	)
	.map_err(|e| BlobRpcError::Unavailable(format!("hospital {hospital}'s share of record {id} does not open: {e}")))?;
	// The release is a read: receipted before it leaves the node, anchored with the next batch.
	blobs.store.append_receipt(&ReadReceipt { request: signed, basis: Basis::Emergency(emergency), decided_at: at }.encode())?;
	log::info!(target: LOG_TARGET, "released hospital {hospital}'s share of record {id} under emergency opening {emergency}");
	Ok(ReleasedShare { hospital, data_epoch: record.key_epoch, recipient_epoch: opener_key.epoch, sealed })
}

/// Serves each request: here when it names this node, relayed to the member node it names
/// otherwise. The answers, in order, each a share or the reason it was refused.
pub async fn release_all(blobs: Arc<Blobs>, requests: Vec<Vec<u8>>) -> Vec<Result<ReleasedShare, BlobRpcError>> {
	let work = requests.into_iter().map(|request| {
		let blobs = blobs.clone();
		async move {
			let claimed = super::decode_signed(&request)
				.map_err(|e| BlobRpcError::Malformed(format!("a request is not a SCALE-encoded SignedBlobRequest: {e}")))?;
			// Relay only what its signer really signed, for this chain, unexpired: a stranger
			// cannot make this node talk to its peers for nothing.
			claimed.verify(now_ms()).map_err(|e| BlobRpcError::BadSignature(format!("{e:?}")))?;
			if claimed.request.genesis != (ChainView { client: &blobs.client }).genesis() {
				return Err(BlobRpcError::WrongChain);
			}
			let named = claimed.request.node;
			if named[..] == blobs.local_peer[..] {
				return release(&blobs, &request).await;
			}
			let peer = sc_network_types::PeerId::from_bytes(&named)
				.map_err(|_| BlobRpcError::Malformed("a request names no valid peer id".into()))?;
			if !blobs.member_nodes().contains(&peer) {
				return Err(BlobRpcError::WrongNode);
			}
			replication::relay_release(&blobs, peer, request).await
		}
	});
	futures::future::join_all(work).await
}

#[cfg(test)]
mod tests {
	use super::*;
	use phr_runtime::genesis_config_presets::{DEV_ESCROW_PUBLIC_KEY, LOCAL_ESCROW_PUBLIC_KEYS};

	#[test]
	fn development_escrow_secrets_match_the_presets_public_keys() {
		let file = include_str!("../../../scripts/local-escrow-keys");
		for (i, public) in LOCAL_ESCROW_PUBLIC_KEYS.iter().enumerate() {
			let hex_secret = file.lines().find_map(|l| l.strip_prefix(&format!("H{} ", i + 1))).expect("every hospital");
			let secret = parse_hex32(hex_secret.trim()).expect("32 hex bytes");
			assert_eq!(secret, sp_crypto_hashing::blake2_256(format!("phr-local-consortium-escrow-H{}", i + 1).as_bytes()));
			assert_eq!(EncryptionKey::from_secret(&secret).unwrap().public(), *public, "escrow key of H{}", i + 1);
		}
		let dev = EncryptionKey::from_secret(&development_secret("//Alice")).unwrap();
		assert_eq!(dev.public(), DEV_ESCROW_PUBLIC_KEY, "the key `--dev` derives");
	}

	#[test]
	fn escrow_keys_are_kept_with_every_earlier_one_and_the_current_first() {
		let dir = tempfile::tempdir().unwrap();
		assert!(EscrowKeys::load(dir.path(), None).unwrap().is_none(), "no key given, none kept");
		let first = EscrowKeys::load(dir.path(), Some([1; 32])).unwrap().unwrap();
		let first_public = first.current().public();
		let second = EscrowKeys::load(dir.path(), Some([2; 32])).unwrap().unwrap();
		assert_ne!(second.current().public(), first_public);
		assert!(second.secret_of(&first_public).is_some(), "the earlier key still opens its shares");
		let restarted = EscrowKeys::load(dir.path(), None).unwrap().unwrap();
		assert_eq!(restarted.current().public(), second.current().public(), "without a new file, the last one is current");
		std::fs::write(dir.path().join(hex::encode(first_public)), hex::encode([3u8; 32])).unwrap();
		assert!(EscrowKeys::load(dir.path(), None).is_err(), "a file holding another key than its name is refused");
	}
}
