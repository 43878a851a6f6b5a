//! Replication between member nodes over the node's own peer-to-peer network.
//!
//! Protocol `/phr/blob/1` (request-response, registered with the node's network backend: litep2p by
//! default, libp2p with `--network-backend libp2p`; the network admits member nodes only):
//! a request asks for one chunk of a ciphertext by hash; the answer carries the ciphertext's size,
//! its chunk count and the chunk, or says the node does not have it (or that it was erased). A node
//! serves only PINNED ciphertexts (registered and final), and never a chunk that fails its hash.
//!
//! The receiving side streams chunks into an upload of its own store, which checks the whole hash
//! before it acknowledges, so a peer can never plant bytes other than the registered ones.

use std::{sync::Arc, time::Duration};

use codec::{Decode, Encode};
use phr_blob_store::{BlobState, StoreError, CHUNK_SIZE};
use phr_primitives::CiphertextHash;
use sc_network::{
	config::{IncomingRequest, OutgoingResponse},
	IfDisconnected, NetworkBackend, NetworkRequest, NetworkStateInfo,
};
use sc_network_types::PeerId;

use super::{chain::ChainView, now_ms, Blobs};
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

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum WireRequest {
	Chunk { hash: CiphertextHash, index: u32 },
	/// The newest data key of `record` wrapped for `recipient`.
	WrappedKey { record: phr_primitives::RecordId, recipient: [u8; 32] },
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum WireResponse {
	Chunk { size: u64, chunks: u32, bytes: Vec<u8> },
	NotFound,
	Erased,
	/// (data-key epoch, recipient key epoch, wrapped key).
	WrappedKey(u32, u32, Vec<u8>),
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

/// The answer to one request from a peer.
fn answer(blobs: &Blobs, payload: &[u8]) -> Result<WireResponse, String> {
	let (hash, index) = match WireRequest::decode(&mut &payload[..]).map_err(|e| format!("undecodable request: {e}"))? {
		WireRequest::Chunk { hash, index } => (hash, index),
		WireRequest::WrappedKey { record, recipient } =>
			return match blobs.store.wrapped_key(record, &recipient) {
				Ok(key) => Ok(WireResponse::WrappedKey(key.data_epoch, key.recipient_epoch, key.wrapped)),
				Err(StoreError::NoWrappedKey) => Ok(WireResponse::NotFound),
				Err(error) => Err(error.to_string()),
			},
	};
	let Some(meta) = blobs.store.meta(&hash).map_err(|e| e.to_string())? else { return Ok(WireResponse::NotFound) };
	match meta.state {
		BlobState::Purged { .. } => return Ok(WireResponse::Erased),
		BlobState::Pending { .. } => return Ok(WireResponse::NotFound),
		BlobState::Pinned => {},
	}
	match blobs.store.read_chunk(&hash, index) {
		Ok(bytes) => Ok(WireResponse::Chunk { size: meta.size, chunks: meta.chunks(), bytes }),
		Err(StoreError::Corrupt { .. }) => {
			log::warn!(target: LOG_TARGET, "local copy of {hash:?} is corrupt; dropping it to fetch it again");
			if blobs.store.discard_corrupt(&hash).map_err(|e| e.to_string())? {
				blobs.wanted.notify_one();
			}
			Ok(WireResponse::NotFound)
		},
		Err(StoreError::NoSuchChunk { .. }) => Err(format!("chunk {index} of {hash:?} does not exist")),
		Err(error) => Err(error.to_string()),
	}
}

/// Serves peers' requests until the network stops.
pub async fn serve(blobs: Arc<Blobs>, requests: async_channel::Receiver<IncomingRequest>) {
	while let Ok(request) = requests.recv().await {
		let result = match answer(&blobs, &request.payload) {
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

async fn ask(blobs: &Blobs, peer: PeerId, request: WireRequest) -> Result<WireResponse, String> {
	// Ciphertext is worth dialing a member for; a wrapped-key lookup sits in a reader's fetch, so it
	// asks only members already connected rather than wait on a dial.
	let connect = match request {
		WireRequest::Chunk { .. } => IfDisconnected::TryConnect,
		WireRequest::WrappedKey { .. } => IfDisconnected::ImmediateError,
	};
	let (bytes, _) = blobs
		.network
		.request(peer.into(), PROTOCOL.into(), request.encode(), None, connect)
		.await
		.map_err(|e| format!("{e}"))?;
	WireResponse::decode(&mut &bytes[..]).map_err(|e| format!("undecodable answer: {e}"))
}

/// Fetches `hash` from `peer` into the store, chunk by chunk; the store checks the whole hash.
async fn fetch_from(blobs: &Blobs, peer: PeerId, hash: CiphertextHash) -> Result<(), String> {
	let (size, chunks, first) = match ask(blobs, peer, WireRequest::Chunk { hash, index: 0 }).await? {
		WireResponse::Chunk { size, chunks, bytes } => (size, chunks, bytes),
		WireResponse::NotFound => return Err("the peer does not have it".into()),
		WireResponse::Erased => return Err("the peer says it was erased".into()),
		WireResponse::WrappedKey(..) => return Err("the peer answered with a key, not a chunk".into()),
	};
	let store = &blobs.store;
	let Some(upload) = store.begin_upload(hash, size).map_err(|e| e.to_string())? else {
		return Ok(()); // stored meanwhile
	};
	let result = async {
		store.put_chunk(upload, 0, &first).map_err(|e| e.to_string())?;
		for index in 1..chunks {
			match ask(blobs, peer, WireRequest::Chunk { hash, index }).await? {
				WireResponse::Chunk { bytes, .. } => {
					store.put_chunk(upload, index, &bytes).map_err(|e| e.to_string())?;
				},
				_ => return Err(format!("the peer stopped serving it at chunk {index}")),
			}
		}
		store.finish_upload(upload, now_ms()).map_err(|e| e.to_string())
	}
	.await;
	if result.is_err() {
		let _ = store.abort_upload(upload);
	}
	result.map(|_| ())
}

/// The member nodes to ask, this node excluded, from the finalized member list.
fn peers(blobs: &Blobs) -> Vec<PeerId> {
	let chain = ChainView { client: &blobs.client };
	let nodes = chain.member_nodes(chain.finalized()).unwrap_or_default();
	crate::permissioning::authorized_peers(&nodes, &blobs.network.local_peer_id()).into_iter().collect()
}

/// Fetches a registered ciphertext this node lacks from any member node that has it, and pins it.
pub async fn fetch_from_peers(blobs: &Blobs, hash: CiphertextHash) -> Result<(), String> {
	let _one_at_a_time = blobs.fetching.lock().await;
	if let Some(meta) = blobs.store.meta(&hash).map_err(|e| e.to_string())? {
		if meta.state == BlobState::Pinned {
			return Ok(());
		}
	}
	let mut failures = Vec::new();
	for peer in peers(blobs) {
		match fetch_from(blobs, peer, hash).await {
			Ok(()) => {
				blobs.store.pin(&hash).map_err(|e| e.to_string())?;
				blobs.store.unwant(&hash).map_err(|e| e.to_string())?;
				log::info!(target: LOG_TARGET, "replicated {hash:?} from {peer}");
				return Ok(());
			},
			Err(error) => failures.push(format!("{peer}: {error}")),
		}
	}
	if failures.is_empty() {
		return Err("no member node is known to ask".into());
	}
	Err(failures.join("; "))
}

/// Asks the member nodes for the newest wrapped key of `record` for `recipient` with a data-key
/// epoch of at least `min_epoch`, and keeps it here. Wrapped keys are uploaded to one node and
/// fetched from the others when a reader first asks there.
pub async fn fetch_wrapped_key(
	blobs: &Blobs,
	record: phr_primitives::RecordId,
	recipient: [u8; 32],
	min_epoch: u32,
) -> Option<phr_blob_store::WrappedKey> {
	let mut best: Option<phr_blob_store::WrappedKey> = None;
	for peer in peers(blobs) {
		if let Ok(WireResponse::WrappedKey(data_epoch, recipient_epoch, wrapped)) =
			ask(blobs, peer, WireRequest::WrappedKey { record, recipient }).await
		{
			let newer = best.as_ref().map_or(true, |b| (data_epoch, recipient_epoch) > (b.data_epoch, b.recipient_epoch));
			if data_epoch >= min_epoch && newer {
				best = Some(phr_blob_store::WrappedKey { data_epoch, recipient_epoch, wrapped });
			}
		}
	}
	let key = best?;
	if let Err(error) = blobs.store.put_wrapped_key(record, &recipient, key.data_epoch, key.recipient_epoch, &key.wrapped) {
		log::warn!(target: LOG_TARGET, "cannot keep a wrapped key fetched from a peer: {error}");
	}
	Some(key)
}

/// Fetches every wanted ciphertext, when woken and every [`RETRY_EVERY`].
pub async fn run(blobs: Arc<Blobs>) {
	loop {
		let wanted = blobs.store.wanted().unwrap_or_else(|error| {
			log::error!(target: LOG_TARGET, "cannot list the ciphertexts to fetch: {error}");
			Vec::new()
		});
		for (hash, attempts) in wanted {
			if let Err(error) = fetch_from_peers(&blobs, hash).await {
				if attempts % 30 == 0 {
					log::warn!(target: LOG_TARGET, "cannot fetch {hash:?} yet (attempt {}): {error}", attempts + 1);
				}
				let _ = blobs.store.wanted_attempt_failed(&hash, attempts);
			}
		}
		let _ = tokio::time::timeout(RETRY_EVERY, blobs.wanted.notified()).await;
	}
}
