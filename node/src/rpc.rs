//! The node's JSON-RPC: Substrate's standard namespaces (added by sc-service) plus the ones merged
//! here. Chain state is read through runtime APIs (`state_call`) or, proven, `state_getReadProof`; a
//! custom namespace exists only for what lives outside the runtime: `phr_`, the off-chain
//! ciphertext store (`crate::blobs::rpc`), and the GRANDPA warp proof a wallet checks finality with.

use std::sync::Arc;

use jsonrpsee::RpcModule;
use phr_runtime::{opaque::Block, AccountId, Nonce};
use sc_transaction_pool_api::TransactionPool;
use sp_api::ProvideRuntimeApi;
use sp_block_builder::BlockBuilder;
use sc_network_sync::strategy::warp::WarpSyncProvider;
use sp_blockchain::{Error as BlockChainError, HeaderBackend, HeaderMetadata};

/// What the RPC handlers need.
pub struct FullDeps<C, P> {
	pub client: Arc<C>,
	pub pool: Arc<P>,
	/// The blob store, for the `phr_` namespace.
	pub blobs: Arc<crate::blobs::Blobs>,
	/// GRANDPA warp proofs, for `phr_finalityProof`.
	pub warp_proofs: Arc<dyn WarpSyncProvider<Block>>,
}

/// `phr_finalityProof`: the warp proofs the node serves its member peers for warp sync, over RPC
/// to anyone (headers and justifications are public chain data), so that a wallet checks
/// finality from the chain spec's authority set instead of believing `chain_getFinalizedHead`.
struct Finality {
	warp_proofs: Arc<dyn WarpSyncProvider<Block>>,
}

impl phr_rpc_api::FinalityApiServer for Finality {
	fn finality_proof(&self, begin: sp_core::H256) -> jsonrpsee::core::RpcResult<phr_rpc_api::Bytes> {
		match self.warp_proofs.generate(begin) {
			Ok(proof) => Ok(proof.0.into()),
			Err(error) => Err(jsonrpsee::types::ErrorObjectOwned::owned(
				phr_rpc_api::ErrorCode::Unknown.code(),
				format!("no finality proof from {begin:?}: {error}"),
				None::<()>,
			)),
		}
	}
}

/// Builds the RPC module of a full node.
pub fn create_full<C, P>(deps: FullDeps<C, P>) -> Result<RpcModule<()>, Box<dyn std::error::Error + Send + Sync>>
where
	C: ProvideRuntimeApi<Block>
		+ HeaderBackend<Block>
		+ HeaderMetadata<Block, Error = BlockChainError>
		+ Send
		+ Sync
		+ 'static,
	C::Api: substrate_frame_rpc_system::AccountNonceApi<Block, AccountId, Nonce>,
	C::Api: BlockBuilder<Block>,
	P: TransactionPool + 'static,
{
	use crate::blobs::rpc::PhrRpc;
	use phr_rpc_api::{FinalityApiServer, PhrApiServer};
	use substrate_frame_rpc_system::{System, SystemApiServer};

	let mut module = RpcModule::new(());
	let FullDeps { client, pool, blobs, warp_proofs } = deps;
	module.merge(System::new(client, pool).into_rpc())?;
	module.merge(PhrRpc::new(blobs).into_rpc())?;
	module.merge(Finality { warp_proofs }.into_rpc())?;
	Ok(module)
}
