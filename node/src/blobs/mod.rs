//! The node's side of the off-chain ciphertext store.
//!
//! `phr-blob-store` is the store (a RocksDB database and a file per ciphertext); this module wires it
//! to the chain and the network:
//! - [`rpc`]: the `phr_` JSON-RPC namespace (signed uploads, fetches checked against the chain's
//!   access rules at the finalized block, wrapped keys, status, read receipts);
//! - [`lifecycle`]: follows finality: pins what registrations made final, purges what erasures made
//!   final, expires unregistered uploads, records anchored receipt batches;
//! - [`replication`]: the `/phr/blob/1` request-response protocol between member nodes, and the task
//!   that fetches every pinned ciphertext this node lacks (or found corrupt);
//! - [`http`]: the binary endpoint (raw ciphertext bytes in and out, behind the tokens the
//!   checked `phr_` calls hand out);
//! - [`receipts`]: anchors batches of served reads on chain with the hospital's node key;
//! - [`error`]: what the background work and the key loading report, as types.

pub mod chain;
pub mod error;
pub mod escrow;
pub mod http;
pub mod lifecycle;
pub mod receipts;
pub mod replication;
pub mod rpc;

use std::{
	collections::{HashMap, HashSet},
	sync::{Arc, Mutex},
	time::{SystemTime, UNIX_EPOCH},
};

use phr_blob_store::BlobStore;
use phr_primitives::CiphertextHash;
use sc_network::service::traits::NetworkService;
use sc_network_types::PeerId;

use crate::service::FullClient;

/// How long a multi-chunk read may go on after the fetch that the chain allowed.
pub const READ_SESSION_MS: u64 = 120_000;
/// Farthest in the future a signed request may expire: bounds the replay table's memory.
pub const MAX_REQUEST_LIFETIME_MS: u64 = 10 * 60_000;

/// A fetch the chain allowed, whose further chunks the reader may read until `expires_at_ms`.
#[derive(Clone, Debug)]
pub struct ReadSession {
	pub hash: CiphertextHash,
	pub chunks: u32,
	pub expires_at_ms: u64,
}

/// What the RPC, the lifecycle and the replication tasks share.
pub struct Blobs {
	pub store: Arc<BlobStore>,
	pub client: Arc<FullClient>,
	pub network: Arc<dyn NetworkService>,
	/// This node's peer id bytes: signed requests must name it.
	pub local_peer: Vec<u8>,
	/// The other members' nodes at the latest finalized block: the only peers served and asked.
	members: crate::permissioning::MemberNodes,
	sessions: Mutex<HashMap<[u8; 16], ReadSession>>,
	/// This node's role as its hospital's escrow agent for break-glass shares, once it has an
	/// escrow key and a `phrn` account (set after the keystore is ready).
	pub escrow: std::sync::OnceLock<escrow::EscrowAgent>,
	/// Wakes the replication task when a ciphertext is wanted.
	pub wanted: tokio::sync::Notify,
	/// One fetch from peers at a time (the background task and an RPC repair never race).
	pub fetching: tokio::sync::Mutex<()>,
	/// The port of the binary endpoint ([`http`]), if it runs.
	pub http_port: Option<u16>,
}

impl Blobs {
	pub fn new(
		store: Arc<BlobStore>,
		client: Arc<FullClient>,
		network: Arc<dyn NetworkService>,
		members: crate::permissioning::MemberNodes,
		http_port: Option<u16>,
	) -> Blobs {
		let local_peer = network.local_peer_id().to_bytes();
		Blobs {
			store,
			client,
			network,
			local_peer,
			members,
			escrow: std::sync::OnceLock::new(),
			sessions: Mutex::new(HashMap::new()),
			wanted: tokio::sync::Notify::new(),
			fetching: tokio::sync::Mutex::new(()),
			http_port,
		}
	}

	/// Chunk `index` of a registered ciphertext, read on a blocking thread; a missing or corrupt
	/// local copy is fetched from a member node first.
	pub async fn read_chunk(&self, hash: CiphertextHash, index: u32) -> Result<Vec<u8>, rpc::BlobRpcError> {
		use phr_blob_store::StoreError;
		let store = self.store.clone();
		let read = tokio::task::spawn_blocking(move || store.read_chunk(&hash, index))
			.await
			.map_err(|e| rpc::BlobRpcError::Internal(format!("a chunk read stopped: {e}")))?;
		match read {
			Ok(bytes) => return Ok(bytes),
			Err(StoreError::Corrupt { .. }) => {
				log::warn!(target: "phr::blobs", "local copy of {hash:?} is corrupt; fetching it again from a member node");
				self.store.discard_corrupt(&hash)?;
			},
			Err(StoreError::Unknown(_)) => {},
			Err(error) => return Err(error.into()),
		}
		replication::fetch_from_peers(self, hash).await.map_err(|why| {
			rpc::BlobRpcError::Unavailable(format!("no intact copy of {hash:?} here, and none from a peer: {why}"))
		})?;
		Ok(self.store.read_chunk(&hash, index)?)
	}

	/// The nodes of the other consortium members at the latest finalized block.
	pub fn member_nodes(&self) -> HashSet<PeerId> {
		self.members.snapshot()
	}

	/// Whether `peer` is another member's node at the latest finalized block.
	pub fn is_member_node(&self, peer: &PeerId) -> bool {
		self.members.contains(peer)
	}

	/// Opens a read session; returns its token.
	pub fn open_session(&self, session: ReadSession) -> [u8; 16] {
		let token: [u8; 16] = rand::random();
		self.sessions.lock().expect("session table lock").insert(token, session);
		token
	}

	/// The live session of `token`, if any.
	pub fn session(&self, token: &[u8; 16], now_ms: u64) -> Option<ReadSession> {
		let sessions = self.sessions.lock().expect("session table lock");
		sessions.get(token).filter(|session| session.expires_at_ms >= now_ms).cloned()
	}

	/// Forgets expired sessions, and every session reading `hash` once it is purged.
	pub fn prune_sessions(&self, now_ms: u64, purged: &[CiphertextHash]) {
		self.sessions
			.lock()
			.expect("session table lock")
			.retain(|_, session| session.expires_at_ms >= now_ms && !purged.contains(&session.hash));
	}
}

/// Starts the blob store's tasks (serving peers, replication, the finality lifecycle) as essential
/// tasks: if one dies the node stops loudly, rather than keep running with erased ciphertext left
/// on disk or peers no longer answered.
pub fn spawn(
	spawner: &sc_service::SpawnEssentialTaskHandle,
	blobs: Arc<Blobs>,
	requests: async_channel::Receiver<sc_network::config::IncomingRequest>,
	anchor: Option<receipts::Anchor>,
	binary: Option<std::net::TcpListener>,
) {
	if let Some(listener) = binary {
		spawner.spawn("phr-blob-http", Some("phr"), http::serve(blobs.clone(), listener));
	}
	spawner.spawn("phr-blob-serve", Some("phr"), replication::serve(blobs.clone(), requests));
	spawner.spawn("phr-blob-replicate", Some("phr"), replication::run(blobs.clone()));
	spawner.spawn("phr-blob-lifecycle", Some("phr"), lifecycle::run(blobs, anchor));
}

/// A signed blob request exactly as it was signed: its whole SCALE encoding and nothing after it
/// (trailing bytes are refused, so one signature stands for one byte string). Every door that
/// takes a signed request, over RPC or from a peer, decodes it here.
pub fn decode_signed(bytes: &[u8]) -> Result<phr_primitives::SignedBlobRequest<phr_runtime::AccountId>, codec::Error> {
	codec::DecodeAll::decode_all(&mut &bytes[..])
}

/// Unix time in milliseconds (the clock the chain's grants and the requests' expiries use).
pub fn now_ms() -> u64 {
	SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
