//! Replication between member nodes over the node's own peer-to-peer network.
//!
//! Protocol `/phr/blob/1` (request-response, registered with the node's network backend: litep2p by
//! default, libp2p with `--network-backend libp2p`): a request asks for one chunk of a ciphertext by
//! hash, or for a record's wrapped data key for one recipient. A node answers only the nodes of
//! consortium members at its latest finalized block (whatever the network layer let through): any
//! other peer is refused, loses all reputation and is disconnected. A node serves only PINNED
//! ciphertexts (registered and final), and never a chunk that fails its hash.
//!
//! The receiving side streams chunks into an upload of its own store, which checks the whole hash
//! before it acknowledges, so a peer can never plant bytes other than the registered ones. A
//! wrapped key travels with the uploader's signed request, which the receiving node checks again
//! (signature, the account's key, the wrapped bytes' hash, the record's key epoch, the uploader's
//! right), so a peer cannot plant a key either.

use std::{sync::Arc, time::Duration};

use codec::{Decode, DecodeAll, Encode};
use phr_blob_store::{BlobState, BlobStore, StoreError, CHUNK_SIZE};
use phr_primitives::CiphertextHash;
use phr_primitives::BlobMethod;
use phr_runtime::{AccountId, Hash};
use sc_network::{
	config::{IncomingRequest, OutgoingResponse},
	IfDisconnected, NetworkBackend, NetworkPeers, NetworkRequest, ReputationChange,
};
use sc_network_types::PeerId;

use super::{
	chain::ChainView,
	error::{BlobError, PeerError},
	now_ms, Blobs,
};
use phr_rpc_api::ErrorCode;
use crate::permissioning::NOT_A_MEMBER;
use phr_runtime::opaque::Block;

const LOG_TARGET: &str = "phr::replication";
pub const PROTOCOL: &str = "/phr/blob/1";
/// A request is a hash and an index; the bound leaves room for a future variant.
const MAX_REQUEST_SIZE: u64 = 1024;
/// One chunk and its framing.
const MAX_RESPONSE_SIZE: u64 = CHUNK_SIZE as u64 + 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the background task retries what it still lacks.
const RETRY_EVERY: Duration = Duration::from_secs(10);
/// Most fetches of wanted ciphertexts one round of [`run`] starts.
const FETCHES_PER_ROUND: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum WireRequest {
	Chunk { hash: CiphertextHash, index: u32 },
	/// The newest data key of `record` wrapped for `recipient`.
	WrappedKey { record: phr_primitives::RecordId, recipient: [u8; 32] },
	/// A break-glass opener's signed `ReleaseShare` request for the receiving node, relayed by the
	/// node the opener's wallet talks to.
	ReleaseShare { request: Vec<u8> },
	/// A wrapped key (or escrow share) just uploaded here, pushed to every member with the
	/// uploader's signed request: the receiving node checks it as an upload and keeps it, so a
	/// reader or an escrow agent has it even when the node it was uploaded to is down.
	StoreWrappedKey { upload: Vec<u8>, wrapped: Vec<u8> },
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum WireResponse {
	Chunk { size: u64, chunks: u32, bytes: Vec<u8> },
	NotFound,
	Erased,
	/// The wrapped key and the uploader's signed `UploadWrappedKey` request (SCALE) that covers it.
	WrappedKey { upload: Vec<u8>, wrapped: Vec<u8> },
	/// This node's hospital's escrow share, released to the opener.
	Released(phr_rpc_api::ReleasedShare),
	/// The release (or the pushed key) was refused: the `phr_` error code and message.
	Refused { code: i32, message: String },
	/// The pushed key is kept.
	Stored,
}

/// The protocol's configuration for the network, and the queue its requests arrive on.
pub fn protocol_config<N: NetworkBackend<Block, <Block as sp_runtime::traits::Block>::Hash>>(
) -> (N::RequestResponseProtocolConfig, async_channel::Receiver<IncomingRequest>) {
	let (sender, receiver) = async_channel::bounded(64);
	let config = N::request_response_config(
		PROTOCOL.into(),
		Vec::new(),
		MAX_REQUEST_SIZE,
		MAX_RESPONSE_SIZE,
		REQUEST_TIMEOUT,
		Some(sender),
	);
	(config, receiver)
}

/// A peer's request as it came over the wire.
fn decode_request(payload: &[u8]) -> Result<WireRequest, BlobError> {
	WireRequest::decode_all(&mut &payload[..]).map_err(BlobError::UndecodableRequest)
}

/// The answer to one request from a peer.
fn answer(blobs: &Blobs, request: WireRequest) -> Result<WireResponse, BlobError> {
	match request {
		WireRequest::ReleaseShare { .. } => Err(BlobError::Misrouted("a release is served by `serve`")),
		WireRequest::StoreWrappedKey { upload, wrapped } => Ok(store_pushed_key(blobs, &upload, &wrapped)),
		other => answer_from_store(&blobs.store, other, || blobs.wanted.notify_one()),
	}
}

/// The answer to a request the store alone answers: a chunk of a pinned ciphertext, a wrapped
/// key. A corrupt local copy is dropped (and `refetch` called) instead of served.
fn answer_from_store(store: &BlobStore, request: WireRequest, refetch: impl FnOnce()) -> Result<WireResponse, BlobError> {
	let (hash, index) = match request {
		WireRequest::Chunk { hash, index } => (hash, index),
		WireRequest::WrappedKey { record, recipient } =>
			return match store.wrapped_key(record, &recipient) {
				Ok(key) => Ok(WireResponse::WrappedKey { upload: key.upload, wrapped: key.wrapped }),
				Err(StoreError::NoWrappedKey) => Ok(WireResponse::NotFound),
				Err(error) => Err(error.into()),
			},
		WireRequest::ReleaseShare { .. } | WireRequest::StoreWrappedKey { .. } =>
			return Err(BlobError::Misrouted("the store alone does not answer it")),
	};
	let Some(meta) = store.meta(&hash)? else { return Ok(WireResponse::NotFound) };
	match meta.state {
		BlobState::Purged { .. } => return Ok(WireResponse::Erased),
		BlobState::Pending { .. } => return Ok(WireResponse::NotFound),
		BlobState::Pinned => {},
	}
	match store.read_chunk(&hash, index) {
		Ok(bytes) => Ok(WireResponse::Chunk { size: meta.size, chunks: meta.chunks(), bytes }),
		Err(StoreError::Corrupt { .. }) => {
			log::warn!(target: LOG_TARGET, "local copy of {hash:?} is corrupt; dropping it to fetch it again");
			if store.discard_corrupt(&hash)? {
				refetch();
			}
			Ok(WireResponse::NotFound)
		},
		Err(error) => Err(error.into()),
	}
}

/// Serves peers' requests until the network stops. Only member nodes are answered.
pub async fn serve(blobs: Arc<Blobs>, requests: async_channel::Receiver<IncomingRequest>) {
	while let Ok(request) = requests.recv().await {
		if !blobs.is_member_node(&request.peer) {
			log::warn!(target: LOG_TARGET, "refused {} on {PROTOCOL}: not a consortium member's node", request.peer);
			let _ = request.pending_response.send(OutgoingResponse {
				result: Err(()),
				reputation_changes: vec![NOT_A_MEMBER],
				sent_feedback: None,
			});
			continue;
		}
		let decoded = decode_request(&request.payload);
		if let Ok(WireRequest::ReleaseShare { request: release }) = decoded {
			// A release may ask peers for this hospital's share: answer it in a task of its own, so
			// that chunk and key requests (the peers' own among them) are not held up behind it.
			let blobs = blobs.clone();
			tokio::spawn(async move {
				let response = match super::escrow::release(&blobs, &release).await {
					Ok(share) => WireResponse::Released(share),
					Err(error) => WireResponse::Refused { code: error.code(), message: error.message() },
				};
				let _ = request.pending_response.send(OutgoingResponse {
					result: Ok(response.encode()),
					reputation_changes: Vec::new(),
					sent_feedback: None,
				});
			});
			continue;
		}
		let result = match decoded.and_then(|wire| answer(&blobs, wire)) {
			Ok(response) => Ok(response.encode()),
			Err(error) => {
				log::debug!(target: LOG_TARGET, "refused a request from {}: {error}", request.peer);
				Err(())
			},
		};
		let _ = request.pending_response.send(OutgoingResponse {
			result,
			reputation_changes: Vec::new(),
			sent_feedback: None,
		});
	}
}

async fn ask(blobs: &Blobs, peer: PeerId, request: WireRequest) -> Result<WireResponse, PeerError> {
	// Ciphertext is worth dialing a member for; a wrapped-key lookup sits in a reader's fetch, so it
	// asks only members already connected rather than wait on a dial.
	let connect = match request {
		WireRequest::Chunk { .. } | WireRequest::ReleaseShare { .. } | WireRequest::StoreWrappedKey { .. } =>
			IfDisconnected::TryConnect,
		WireRequest::WrappedKey { .. } => IfDisconnected::ImmediateError,
	};
	let (bytes, _) = blobs
		.network
		.request(peer.into(), PROTOCOL.into(), request.encode(), None, connect)
		.await
		.map_err(|e| PeerError::Request(e.to_string()))?;
	WireResponse::decode_all(&mut &bytes[..]).map_err(|e| PeerError::Undecodable(e.to_string()))
}

/// Why a ciphertext could not be fetched from the member nodes.
#[derive(Debug)]
pub struct FetchFailure {
	/// Each member node asked, with what went wrong there.
	pub message: String,
	/// Every member node answered, and none holds it.
	pub nobody_has_it: bool,
}

impl std::fmt::Display for FetchFailure {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.write_str(&self.message)
	}
}

/// Fetches `hash` from `peer` into the store, chunk by chunk; the store checks the whole hash.
async fn fetch_from(blobs: &Blobs, peer: PeerId, hash: CiphertextHash) -> Result<(), BlobError> {
	let (size, chunks, first) = match ask(blobs, peer, WireRequest::Chunk { hash, index: 0 }).await? {
		WireResponse::Chunk { size, chunks, bytes } => (size, chunks, bytes),
		WireResponse::NotFound => return Err(PeerError::NotHeld.into()),
		WireResponse::Erased => return Err(PeerError::Erased.into()),
		_ => return Err(PeerError::Unexpected("a chunk").into()),
	};
	let store = &blobs.store;
	let Some(upload) = store.begin_upload(hash, size)? else {
		return Ok(()); // stored meanwhile
	};
	let upload = Aborting { store, id: upload };
	let id = upload.id;
	on_blocking_pool(store, move |store| store.put_chunk(id, 0, &first)).await?;
	for index in 1..chunks {
		match ask(blobs, peer, WireRequest::Chunk { hash, index }).await? {
			WireResponse::Chunk { bytes, .. } => {
				on_blocking_pool(store, move |store| store.put_chunk(id, index, &bytes)).await?;
			},
			_ => return Err(PeerError::Stopped(index).into()),
		}
	}
	on_blocking_pool(store, move |store| store.finish_upload(id, now_ms())).await?;
	Ok(())
}

/// Runs a store call on tokio's blocking pool: a chunk's write and hash, or an acknowledgement's
/// syncs, do not hold up the async workers that serve the network and the RPC meanwhile.
async fn on_blocking_pool<T: Send + 'static>(
	store: &Arc<BlobStore>,
	call: impl FnOnce(&BlobStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, BlobError> {
	let store = store.clone();
	let outcome = tokio::task::spawn_blocking(move || call(&store)).await;
	Ok(outcome.map_err(|e| BlobError::Stopped(e.to_string()))??)
}

/// The node's own upload of a fetched ciphertext, aborted when dropped unless it finished: a fetch
/// that fails, or whose future is dropped (the reader whose fetch asked for it went away), leaves
/// no upload behind to hold the hash and its file. (The node's own uploads are never abandoned
/// for idleness, as clients' are.)
struct Aborting<'a> {
	store: &'a BlobStore,
	id: u64,
}

impl Drop for Aborting<'_> {
	fn drop(&mut self) {
		// A finished upload is no longer in progress: nothing to abort, and the call says so.
		let _ = self.store.abort_upload(self.id);
	}
}

/// The member nodes to ask, this node excluded, from the finalized member list.
fn peers(blobs: &Blobs) -> Vec<PeerId> {
	blobs.member_nodes().into_iter().collect()
}

/// Fetches a registered ciphertext this node lacks from any member node that has it, and pins it.
pub async fn fetch_from_peers(blobs: &Blobs, hash: CiphertextHash) -> Result<(), FetchFailure> {
	let local = |error: phr_blob_store::StoreError| FetchFailure { message: error.to_string(), nobody_has_it: false };
	let _one_at_a_time = blobs.fetching.lock().await;
	if let Some(meta) = blobs.store.meta(&hash).map_err(local)? {
		if meta.state == BlobState::Pinned {
			return Ok(());
		}
	}
	let mut failures = Vec::new();
	let mut nobody_has_it = true;
	for peer in peers(blobs) {
		match fetch_from(blobs, peer, hash).await {
			Ok(()) => {
				blobs.store.pin(&hash).map_err(local)?;
				blobs.store.unwant(&hash).map_err(local)?;
				log::info!(target: LOG_TARGET, "replicated {hash:?} from {peer}");
				return Ok(());
			},
			Err(error) => {
				nobody_has_it &= matches!(error, BlobError::Peer(PeerError::NotHeld));
				failures.push(format!("{peer}: {error}"));
			},
		}
	}
	if failures.is_empty() {
		return Err(FetchFailure { message: "no member node is known to ask".into(), nobody_has_it: false });
	}
	Err(FetchFailure { message: failures.join("; "), nobody_has_it })
}

/// Asks the member nodes for the newest wrapped key of `record` for `recipient` with a data-key
/// epoch of at least `min_epoch`, checks each answer as an upload would be checked at the finalized
/// block `at`, and keeps the best one here. Wrapped keys are uploaded to one node and fetched from
/// the others when a reader first asks there.
pub async fn fetch_wrapped_key(
	blobs: &Blobs,
	at: Hash,
	record: phr_primitives::RecordId,
	recipient: &AccountId,
	min_epoch: u32,
) -> Option<phr_blob_store::WrappedKey> {
	let recipient_bytes: [u8; 32] = *AsRef::<[u8; 32]>::as_ref(recipient);
	let mut best: Option<phr_blob_store::WrappedKey> = None;
	for peer in peers(blobs) {
		let Ok(WireResponse::WrappedKey { upload, wrapped }) =
			ask(blobs, peer, WireRequest::WrappedKey { record, recipient: recipient_bytes }).await
		else {
			continue;
		};
		let key = match relayed_key(blobs, at, record, recipient, &upload, &wrapped) {
			Ok(key) => key,
			// Forged: a signature or bytes no honest node would relay. A stale key (an earlier
			// epoch, a finalized block behind ours) is just not the one we need.
			Err(Relayed::Forged(why)) => {
				log::warn!(target: LOG_TARGET, "{peer} relayed a forged wrapped key of record {record}: {why}");
				blobs.network.report_peer(peer, ReputationChange::new(i32::MIN / 2, "relayed a forged wrapped key"));
				continue;
			},
			Err(Relayed::NotUsable(why)) => {
				log::debug!(target: LOG_TARGET, "{peer}'s wrapped key of record {record} is not usable here: {why}");
				continue;
			},
		};
		let newer = best.as_ref().map_or(true, |b| (key.data_epoch, key.recipient_epoch) > (b.data_epoch, b.recipient_epoch));
		if key.data_epoch >= min_epoch && newer {
			best = Some(key);
		}
	}
	let key = best?;
	if let Err(error) =
		blobs.store.put_wrapped_key(record, &recipient_bytes, key.data_epoch, key.recipient_epoch, &key.wrapped, &key.upload)
	{
		log::warn!(target: LOG_TARGET, "cannot keep a wrapped key fetched from a peer: {error}");
	}
	Some(key)
}

/// Why a relayed wrapped key was not kept.
enum Relayed {
	/// No honest node relays this: a bad signature, other bytes than signed, a key the uploader
	/// never had, another chain, record or recipient.
	Forged(String),
	/// Honest but not usable here now: an epoch that is not the current one, a record this node
	/// has not finalized yet, an uploader that may not store it.
	NotUsable(String),
}

/// A wrapped key a peer relayed, checked as its upload was: the uploader's signature by one of the
/// account's registered request keys, for this record and recipient, over these bytes, at the
/// record's current key epoch, by the record's patient or author.
fn relayed_key(
	blobs: &Blobs,
	at: Hash,
	record: phr_primitives::RecordId,
	recipient: &AccountId,
	upload: &[u8],
	wrapped: &[u8],
) -> Result<phr_blob_store::WrappedKey, Relayed> {
	let forged = |why: String| Relayed::Forged(why);
	let signed = super::decode_signed(upload).map_err(|e| forged(format!("undecodable upload: {e}")))?;
	signed.verify_signature().map_err(|e| forged(format!("{e:?}")))?;
	let chain = ChainView { client: &blobs.client };
	if signed.request.genesis != chain.genesis() {
		return Err(forged("signed for another chain".into()));
	}
	let BlobMethod::UploadWrappedKey { recipient: signed_recipient, data_epoch, recipient_epoch, wrapped: signed_hash } =
		&signed.request.method
	else {
		return Err(forged("not a wrapped-key upload".into()));
	};
	if signed_recipient != recipient || signed.request.subject != phr_primitives::BlobSubject::Record(record) {
		return Err(forged("signed for another record or recipient".into()));
	}
	if phr_primitives::wrapped_key_hash(wrapped) != *signed_hash {
		return Err(forged("other bytes than signed".into()));
	}
	let was_key = chain.was_request_key_of(at, &signed.request.account, &signed.signer);
	if !was_key.map_err(|e| Relayed::NotUsable(e.to_string()))? {
		return Err(forged("the signer was never the uploader's registered request key".into()));
	}
	super::rpc::check_wrapped_key_upload(&chain, at, &signed, wrapped, true)
		.map_err(|e| Relayed::NotUsable(e.message()))?;
	Ok(phr_blob_store::WrappedKey {
		data_epoch: *data_epoch,
		recipient_epoch: *recipient_epoch,
		wrapped: wrapped.to_vec(),
		upload: upload.to_vec(),
	})
}

/// Checks a pushed wrapped key as its upload was checked, at this node's finalized block, and
/// keeps it.
fn store_pushed_key(blobs: &Blobs, upload: &[u8], wrapped: &[u8]) -> WireResponse {
	let checked = super::decode_signed(upload)
		.map_err(|e| format!("undecodable upload: {e}"))
		.and_then(|signed| match (&signed.request.method, signed.request.subject.clone()) {
			(BlobMethod::UploadWrappedKey { recipient, .. }, phr_primitives::BlobSubject::Record(record)) => {
				let at = ChainView { client: &blobs.client }.finalized();
				relayed_key(blobs, at, record, recipient, upload, wrapped)
					.map(|key| (record, recipient.clone(), key))
					.map_err(|(Relayed::Forged(why) | Relayed::NotUsable(why))| why)
			},
			_ => Err("not a wrapped-key upload of a record".into()),
		});
	let (record, recipient, key) = match checked {
		Ok(checked) => checked,
		Err(why) => return WireResponse::Refused { code: ErrorCode::Malformed.code(), message: why },
	};
	let recipient: [u8; 32] = *AsRef::<[u8; 32]>::as_ref(&recipient);
	match blobs.store.put_wrapped_key(record, &recipient, key.data_epoch, key.recipient_epoch, &key.wrapped, &key.upload) {
		Ok(()) => WireResponse::Stored,
		Err(error) => WireResponse::Refused { code: ErrorCode::Internal.code(), message: error.to_string() },
	}
}

/// Pushes a wrapped key just uploaded here to every other member node, with its signed upload.
/// A node that refuses it (its finalized block may still lag behind the record's key epoch) is
/// asked again a few seconds later; one that stays unreachable fetches the key on demand.
pub async fn push_wrapped_key(blobs: Arc<Blobs>, upload: Vec<u8>, wrapped: Vec<u8>) {
	let pushes = peers(&blobs).into_iter().map(|peer| {
		let (blobs, upload, wrapped) = (blobs.clone(), upload.clone(), wrapped.clone());
		async move {
			for attempt in 1..=3u32 {
				let request = WireRequest::StoreWrappedKey { upload: upload.clone(), wrapped: wrapped.clone() };
				match ask(&blobs, peer, request).await {
					Ok(WireResponse::Stored) => return,
					Ok(WireResponse::Refused { message, .. }) if attempt == 3 =>
						log::debug!(target: LOG_TARGET, "{peer} did not keep a pushed wrapped key: {message}"),
					Err(error) if attempt == 3 => log::debug!(target: LOG_TARGET, "cannot push a wrapped key to {peer}: {error}"),
					_ => {},
				}
				tokio::time::sleep(Duration::from_secs(3)).await;
			}
		}
	});
	futures::future::join_all(pushes).await;
}

/// Relays a break-glass opener's signed release request to the member node it names.
pub async fn relay_release(
	blobs: &Blobs,
	peer: PeerId,
	request: Vec<u8>,
) -> Result<phr_rpc_api::ReleasedShare, super::rpc::BlobRpcError> {
	use super::rpc::BlobRpcError;
	match ask(blobs, peer, WireRequest::ReleaseShare { request }).await {
		Ok(WireResponse::Released(share)) => Ok(share),
		Ok(WireResponse::Refused { code, message }) => Err(BlobRpcError::Remote { code, message }),
		Ok(_) => Err(BlobRpcError::Unavailable(format!("member node {peer} answered something else than a share"))),
		Err(why) => Err(BlobRpcError::Unavailable(format!("member node {peer} is not reachable: {why}"))),
	}
}

/// Fetches the wanted ciphertexts that are due, when woken and every [`RETRY_EVERY`], at most
/// [`FETCHES_PER_ROUND`] a round (the longest waiting first); one that failed `n` times waits
/// `min(n, 30)` × [`RETRY_EVERY`], and is given up (status "missing") once no member node has held
/// it for the store's `fetch_give_up_ms`: a registration of a hash nobody uploaded is not chased
/// for ever.
pub async fn run(blobs: Arc<Blobs>) {
	loop {
		let wanted = blobs.store.wanted().unwrap_or_else(|error| {
			log::error!(target: LOG_TARGET, "cannot list the ciphertexts to fetch: {error}");
			Vec::new()
		});
		let now = now_ms();
		let mut due: Vec<_> = wanted.into_iter().filter(|(_, wanted)| !wanted.missing && wanted.next_try_ms <= now).collect();
		due.sort_by_key(|(_, wanted)| wanted.next_try_ms);
		for (hash, wanted) in due.into_iter().take(FETCHES_PER_ROUND) {
			let Err(failure) = fetch_from_peers(&blobs, hash).await else { continue };
			let wait = RETRY_EVERY.saturating_mul(wanted.attempts.saturating_add(1).min(30));
			match blobs.store.wanted_attempt_failed(&hash, now_ms(), failure.nobody_has_it, wait.as_millis() as u64) {
				Ok(true) => log::warn!(
					target: LOG_TARGET,
					"gave up fetching {hash:?}: it is registered on chain, but no member node holds it (status \"missing\")"
				),
				Ok(false) if wanted.attempts % 30 == 0 => {
					log::warn!(target: LOG_TARGET, "cannot fetch {hash:?} yet (attempt {}): {failure}", wanted.attempts + 1)
				},
				Ok(false) => {},
				Err(error) => log::error!(target: LOG_TARGET, "cannot count a failed fetch of {hash:?}: {error}"),
			}
		}
		let _ = tokio::time::timeout(RETRY_EVERY, blobs.wanted.notified()).await;
	}
}

#[cfg(test)]
#[path = "../../tests/common/fuzz.rs"]
mod fuzz;

#[cfg(test)]
mod tests {
	use super::{fuzz::*, *};
	use phr_blob_store::StoreConfig;

	/// Everything a store holds that a peer's request could change.
	fn contents(store: &BlobStore, hash: &CiphertextHash) -> impl PartialEq + std::fmt::Debug {
		(
			store.blobs().unwrap(),
			store.summary().unwrap(),
			store.wrapped_key(3, &[5; 32]).unwrap(),
			store.verify_blob(hash).unwrap(),
		)
	}

	#[test]
	fn a_fetch_dropped_midway_leaves_no_upload_and_a_finished_one_stays_stored() {
		let dir = tempfile::tempdir().unwrap();
		let store = BlobStore::open(dir.path(), StoreConfig::default()).unwrap();
		let data = vec![7u8; CHUNK_SIZE + 10];
		let hash = phr_primitives::ciphertext_hash(&data);
		{
			let upload = Aborting { store: &store, id: store.begin_upload(hash, data.len() as u64).unwrap().unwrap() };
			store.put_chunk(upload.id, 0, &data[..CHUNK_SIZE]).unwrap();
			// Dropped here, as a fetch whose reader went away.
		}
		assert_eq!(store.summary().unwrap().uploads_in_progress, 0);
		let upload = Aborting { store: &store, id: store.begin_upload(hash, data.len() as u64).unwrap().expect("not held by a stale upload") };
		store.put_chunk(upload.id, 0, &data[..CHUNK_SIZE]).unwrap();
		store.put_chunk(upload.id, 1, &data[CHUNK_SIZE..]).unwrap();
		store.finish_upload(upload.id, 0).unwrap();
		drop(upload);
		assert_eq!(store.read_blob(&hash).unwrap(), data);
	}

	/// 10^6 malformed `/phr/blob/1` messages, each a mutation of a valid request or answer: every
	/// one is decoded as the node decodes it; each request that still decodes is answered from a
	/// real RocksDB store (or, for a relayed upload, its signature checked); nothing panics, and the
	/// store holds exactly what it held.
	#[test]
	fn malformed_wire_messages_neither_panic_nor_change_the_store() {
		let dir = tempfile::tempdir().unwrap();
		let store = BlobStore::open(dir.path(), StoreConfig::default()).unwrap();
		let data: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
		let hash = phr_primitives::ciphertext_hash(&data);
		let upload = store.begin_upload(hash, data.len() as u64).unwrap().unwrap();
		store.put_chunk(upload, 0, &data).unwrap();
		store.finish_upload(upload, 0).unwrap();
		store.pin(&hash).unwrap();
		store.put_wrapped_key(3, &[5; 32], 0, 0, &[9; 80], b"the signed upload").unwrap();
		let before = contents(&store, &hash);

		let share = phr_rpc_api::ReleasedShare { hospital: 1, data_epoch: 0, recipient_epoch: 0, sealed: vec![4; 82] };
		let requests: Vec<Vec<u8>> = [
			WireRequest::Chunk { hash, index: 0 },
			WireRequest::WrappedKey { record: 3, recipient: [5; 32] },
			WireRequest::ReleaseShare { request: vec![1; 180] },
			WireRequest::StoreWrappedKey { upload: vec![2; 180], wrapped: vec![3; 80] },
		]
		.iter()
		.map(Encode::encode)
		.collect();
		let answers: Vec<Vec<u8>> = [
			WireResponse::Chunk { size: 3000, chunks: 1, bytes: data.clone() },
			WireResponse::NotFound,
			WireResponse::WrappedKey { upload: vec![2; 180], wrapped: vec![3; 80] },
			WireResponse::Released(share),
			WireResponse::Refused { code: ErrorCode::Malformed.code(), message: "no".into() },
		]
		.iter()
		.map(Encode::encode)
		.collect();

		let mut rng = Rng::new(0x0b10b);
		let (mut decoded, mut answered) = (0u32, 0u32);
		for round in 0..inputs() {
			if round % 2 == 1 {
				let valid = rng.below(answers.len());
				let _ = WireResponse::decode_all(&mut &mutate(&mut rng, &answers[valid])[..]);
				continue;
			}
			let valid = rng.below(requests.len());
			let Ok(request) = decode_request(&mutate(&mut rng, &requests[valid])) else { continue };
			decoded += 1;
			match request {
				WireRequest::ReleaseShare { request: signed } | WireRequest::StoreWrappedKey { upload: signed, .. } => {
					if let Ok(signed) = super::super::decode_signed(&signed) {
						assert!(signed.verify_signature().is_err(), "a mutation forged a signature");
					}
				},
				other => {
					let _ = answer_from_store(&store, other, || {});
					answered += 1;
				},
			}
		}
		assert_eq!(contents(&store, &hash), before, "malformed requests changed the store");
		eprintln!("[fuzz] /phr/blob/1: {} malformed messages, {decoded} requests still decoded, {answered} answered", inputs());
		// The inputs reached the answering code, not only the decoder.
		assert!(decoded > 1_000 && answered > 1_000, "{decoded} decoded, {answered} answered");
	}
}
