//! What can go wrong in the blob store's node side, as types: the lifecycle, replication, receipt
//! and escrow tasks log these and go on (at the next finalized block, wake-up or peer); the node's
//! start refuses with them. (A `phr_` call's refusal is [`super::rpc::BlobRpcError`], one JSON-RPC
//! code each.)

use std::path::PathBuf;

use phr_blob_store::StoreError;

use super::chain::ChainError;

/// A failure of the blob store's background work or of loading its keys.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
	#[error("the blob store: {0}")]
	Store(#[from] StoreError),
	#[error("{0}")]
	Chain(#[from] ChainError),
	#[error("the node's block database: {0}")]
	Blockchain(#[from] sp_blockchain::Error),
	#[error("the runtime: {0}")]
	RuntimeApi(#[from] sp_api::ApiError),
	#[error("finalized block {0} is not in the node's database")]
	MissingBlock(u32),
	#[error(transparent)]
	Peer(#[from] PeerError),
	#[error("a store call on the blocking pool stopped: {0}")]
	Stopped(String),
	#[error("a peer's request does not decode: {0}")]
	UndecodableRequest(codec::Error),
	#[error("a peer's request went to the wrong handler ({0})")]
	Misrouted(&'static str),
	#[error("the keystore did not sign the node's extrinsic: {0}")]
	Signing(String),
	#[error("the node's own extrinsic does not encode as one: {0}")]
	Extrinsic(String),
	#[error("the pool refused the node's extrinsic: {0}")]
	Pool(String),
	#[error("cannot {action} {}: {source}", path.display())]
	File { action: &'static str, path: PathBuf, source: std::io::Error },
	#[error("{} must hold an X25519 secret key as 64 hex characters", .0.display())]
	BadSecretFile(PathBuf),
	#[error("{} does not hold the secret of the public key it is named after", .0.display())]
	MisnamedSecret(PathBuf),
	#[error("the current escrow key {public} is missing from {}", dir.display())]
	MissingCurrentKey { public: String, dir: PathBuf },
	#[error("an escrow secret is not a valid X25519 key: {0:?}")]
	BadSecret(phr_crypto::CryptoError),
}

impl BlobError {
	/// An I/O failure on `path` while trying to `action` it.
	pub fn file(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BlobError {
		let path = path.into();
		move |source| BlobError::File { action, path, source }
	}
}

/// What went wrong asking one member node over `/phr/blob/1`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
	#[error("the request failed: {0}")]
	Request(String),
	#[error("the answer does not decode: {0}")]
	Undecodable(String),
	#[error("the peer does not have it")]
	NotHeld,
	#[error("the peer says it was erased")]
	Erased,
	#[error("the peer answered something else than {0}")]
	Unexpected(&'static str),
	#[error("the peer stopped serving it at chunk {0}")]
	Stopped(u32),
}
