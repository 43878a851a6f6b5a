//! The node's JSON-RPC: Substrate's standard namespaces (added by sc-service) plus the ones merged
//! here. Chain state is read through runtime APIs (`state_call`); a custom namespace exists only for
//! what lives outside the runtime: `phr_`, the off-chain ciphertext store (`crate::blobs::rpc`).

use std::sync::Arc;

use jsonrpsee::RpcModule;
use phr_runtime::{opaque::Block, AccountId, Nonce};
use sc_transaction_pool_api::TransactionPool;
use sp_api::ProvideRuntimeApi;
use sp_block_builder::BlockBuilder;
use sp_blockchain::{Error as BlockChainError, HeaderBackend, HeaderMetadata};

/// What the RPC handlers need.
pub struct FullDeps<C, P> {
	pub client: Arc<C>,
	pub pool: Arc<P>,
	/// The blob store, for the `phr_` namespace.
	pub blobs: Arc<crate::blobs::Blobs>,
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
	use phr_rpc_api::PhrApiServer;
	use substrate_frame_rpc_system::{System, SystemApiServer};

	let mut module = RpcModule::new(());
	let FullDeps { client, pool, blobs } = deps;
	module.merge(System::new(client, pool).into_rpc())?;
	module.merge(PhrRpc::new(blobs).into_rpc())?;
	Ok(module)
}
