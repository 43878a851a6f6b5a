//! Anchoring read receipts: the node signs `Access::anchor_receipts(root, count)` with its hospital
//! key (key type `phrn`, sr25519, in the node's keystore: the account of the member's validator or
//! an admin) over the receipts served since the last anchored batch.
//!
//! One batch is in flight at a time. It is recorded as anchored when its `ReceiptsAnchored` event is
//! FINAL (see `lifecycle`), and submitted again if that has not happened after
//! [`RESUBMIT_AFTER_BLOCKS`] finalized blocks (a dropped transaction, a restart).

use std::sync::Arc;

use phr_blob_store::BatchInFlight;
use phr_primitives::receipts::batch_root;
use phr_runtime::{opaque::Block, AccountId, Nonce, RuntimeCall};
use sc_transaction_pool_api::{TransactionPool, TransactionSource};
use sp_api::{Core, ProvideRuntimeApi};
use sp_blockchain::HeaderBackend;
use sp_core::{crypto::KeyTypeId, sr25519, H256};
use sp_keystore::KeystorePtr;
use sp_runtime::traits::IdentifyAccount;
use substrate_frame_rpc_system::AccountNonceApi;

use super::{error::BlobError, Blobs};

const LOG_TARGET: &str = "phr::receipts";
/// The key type of a node's hospital key in its keystore.
pub const NODE_KEY_TYPE: KeyTypeId = KeyTypeId(*b"phrn");
/// Most receipts in one batch.
pub const MAX_BATCH: u32 = 4096;
/// A batch not seen final after this many finalized blocks is submitted again.
pub const RESUBMIT_AFTER_BLOCKS: u32 = 20;

pub type Pool = sc_transaction_pool::TransactionPoolHandle<Block, crate::service::FullClient>;

/// Submits receipt batches, signed with the node's hospital key.
pub struct Anchor {
	keystore: KeystorePtr,
	public: sr25519::Public,
	pool: Arc<Pool>,
}

impl Anchor {
	/// The anchor, when the keystore holds a `phrn` key; `None` (with a warning) otherwise.
	pub fn from_keystore(keystore: KeystorePtr, pool: Arc<Pool>) -> Option<Anchor> {
		let Some(public) = keystore.sr25519_public_keys(NODE_KEY_TYPE).into_iter().next() else {
			log::warn!(
				target: LOG_TARGET,
				"no `phrn` key in the keystore: served reads are recorded but not anchored on chain; insert the \
				 hospital's node key with `phr-node key insert --key-type phrn --scheme sr25519 --suri <secret>`"
			);
			return None;
		};
		Some(Anchor { keystore, public, pool })
	}

	pub fn account(&self) -> AccountId {
		sp_runtime::MultiSigner::Sr25519(self.public).into_account()
	}

	/// Called at every finalized block `finalized`: submits the next batch, or resubmits a stale one.
	pub async fn on_finalized(&self, blobs: &Blobs, finalized: u32) {
		if let Err(error) = self.step(blobs, finalized).await {
			log::warn!(target: LOG_TARGET, "cannot anchor read receipts now: {error}");
		}
	}

	async fn step(&self, blobs: &Blobs, finalized: u32) -> Result<(), BlobError> {
		let store = &blobs.store;
		let batch = match store.batch_in_flight()? {
			Some(batch) if finalized < batch.submitted_at.saturating_add(RESUBMIT_AFTER_BLOCKS) => return Ok(()),
			Some(stale) => BatchInFlight { submitted_at: finalized, ..stale },
			None => {
				let first = store.receipts_submitted()?;
				let waiting = store.receipt_count().saturating_sub(first);
				if waiting == 0 {
					return Ok(());
				}
				let receipts = store.receipts(first, waiting.min(MAX_BATCH as u64) as u32)?;
				let leaves: Vec<H256> = receipts.iter().map(|receipt| H256(sp_crypto_hashing::blake2_256(receipt))).collect();
				BatchInFlight { first, count: leaves.len() as u32, root: batch_root(&leaves), submitted_at: finalized }
			},
		};
		self.submit(blobs, &batch).await?;
		store.set_batch_in_flight(&batch)?;
		log::info!(target: LOG_TARGET, "submitted {} read receipts for anchoring under root {:?}", batch.count, batch.root);
		Ok(())
	}

	async fn submit(&self, blobs: &Blobs, batch: &BatchInFlight) -> Result<(), BlobError> {
		let call = RuntimeCall::Access(pallet_access::Call::anchor_receipts { root: batch.root, count: batch.count });
		self.submit_call(blobs, call).await
	}

	/// Signs `call` with the hospital's node key and submits it to the pool.
	pub async fn submit_call(&self, blobs: &Blobs, call: RuntimeCall) -> Result<(), BlobError> {
		let client = &blobs.client;
		let best = client.info().best_hash;
		let api = client.runtime_api();
		let version = api.version(best)?;
		let account = self.account();
		let nonce: Nonce = api.account_nonce(best, account.clone())?;
		let context = phr_runtime::SigningContext {
			genesis: client.info().genesis_hash,
			spec_version: version.spec_version,
			transaction_version: version.transaction_version,
		};
		let mut signing_error = None;
		let extrinsic = phr_runtime::signed_extrinsic(&context, call, account, nonce, |payload| {
			match self.keystore.sr25519_sign(NODE_KEY_TYPE, &self.public, payload) {
				Ok(Some(signature)) => sp_runtime::MultiSignature::Sr25519(signature),
				other => {
					signing_error = Some(BlobError::Signing(format!("{other:?}")));
					sp_runtime::MultiSignature::Sr25519(sr25519::Signature::from_raw([0u8; 64]))
				},
			}
		});
		if let Some(error) = signing_error {
			return Err(error);
		}
		let opaque = sp_runtime::OpaqueExtrinsic::try_from_encoded_extrinsic(&codec::Encode::encode(&extrinsic))
			.map_err(|e| BlobError::Extrinsic(e.to_string()))?;
		self.pool
			.submit_one(best, TransactionSource::Local, opaque)
			.await
			.map_err(|e| BlobError::Pool(e.to_string()))?;
		Ok(())
	}
}
