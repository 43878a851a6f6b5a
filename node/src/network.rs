//! The node's network, assembled so that nothing it answers reaches a peer that is not a member's
//! node.
//!
//! `sc_service::build_network` registers the block-request, state-request and warp-proof handlers
//! itself, and they answer any connected peer. [`guarded_sync`] builds the same parts from the
//! public pieces `sc-service` and `sc-network-sync` export, with each of those handlers behind
//! [`guard_requests`], and the syncing strategy and engine over them; the node's service then
//! calls `build_network_advanced` for the rest. That last step always registers the light-client handler too; it is handed a
//! [`Proofless`] view of the client, so it serves no storage or execution proof to anyone. Full
//! nodes never ask for them, and wallets read proofs over RPC (`state_getReadProof`).

use std::sync::Arc;

use phr_runtime::opaque::Block;
use sc_client_api::{
	BlockBackend, BlockchainEvents, ChildInfo, CompactProof, FinalityNotifications,
	ImportNotifications, KeyValueStates, ProofProvider, StorageEventStream, StorageKey, StorageProof,
};
use sc_consensus::ImportQueue;
use sc_network::{
	config::{FullNetworkConfiguration, SyncMode},
	NetworkBackend, NotificationMetrics,
};
use sc_network_sync::{
	block_request_handler::BlockRequestHandler,
	engine::SyncingEngine,
	service::network::NetworkServiceHandle,
	state_request_handler::StateRequestHandler,
	strategy::{
		polkadot::{PolkadotSyncingStrategy, PolkadotSyncingStrategyConfig},
		warp::WarpSyncProvider,
	},
	warp_request_handler::RequestHandler as WarpRequestHandler,
	SyncingService,
};
use sc_service::{error::Error as ServiceError, Configuration, SpawnEssentialTaskHandle, SpawnTaskHandle};
use sp_api::{ApiRef, ProvideRuntimeApi};
use sp_blockchain::{BlockStatus, CachedHeaderMetadata, HeaderBackend, HeaderMetadata, Info};
use sp_runtime::{
	generic::{BlockId, SignedBlock},
	traits::{Block as BlockT, BlockIdTo, NumberFor},
	Justifications,
};

use crate::permissioning::{guard_requests, ConfigHarvest, MemberNodes};

type Hash = <Block as BlockT>::Hash;

/// What [`guarded_sync`] needs besides the client.
pub struct SyncParts<'a, N: NetworkBackend<Block, Hash>> {
	pub config: &'a Configuration,
	pub net_config: &'a mut FullNetworkConfiguration<Block, Hash, N>,
	pub members: &'a MemberNodes,
	pub spawn_handle: SpawnTaskHandle,
	pub spawn_essential_handle: SpawnEssentialTaskHandle,
	/// What the warp-proof handler serves (GRANDPA's authority-set changes).
	pub warp_proofs: Arc<dyn WarpSyncProvider<Block>>,
	pub network_handle: NetworkServiceHandle,
	pub metrics: NotificationMetrics,
}

/// Registers the block-request, state-request and warp-proof protocols behind the membership guard
/// and starts the syncing engine over them (full sync: this node does not warp-sync itself, see
/// docs/operator.md). Returns its service and the block-announce protocol configuration, for
/// `sc_service::build_network_advanced`.
pub fn guarded_sync<N, C, IQ>(
	parts: SyncParts<'_, N>,
	client: Arc<C>,
	import_queue: &IQ,
) -> Result<(SyncingService<Block>, N::NotificationProtocolConfig), ServiceError>
where
	N: NetworkBackend<Block, Hash>,
	C: BlockBackend<Block>
		+ HeaderBackend<Block>
		+ HeaderMetadata<Block, Error = sp_blockchain::Error>
		+ ProofProvider<Block>
		+ Send
		+ Sync
		+ 'static,
	IQ: ImportQueue<Block>,
{
	let SyncParts {
		config,
		net_config,
		members,
		spawn_handle,
		spawn_essential_handle,
		warp_proofs,
		network_handle,
		metrics,
	} = parts;
	let protocol_id = config.protocol_id();
	let fork_id = config.chain_spec.fork_id();
	let network = &net_config.network_config;
	// As sc-service checks: this node serves no warp proofs to itself, and an archive node syncs in
	// full.
	match network.sync_mode {
		SyncMode::Warp => return Err("warp sync is not available on this node: sync in full (the default)".into()),
		SyncMode::LightState { .. } if client.requires_full_sync() =>
			return Err("fast sync does not work for archive nodes: sync in full (the default)".into()),
		_ => {},
	}
	let peers_hint = network.default_peers_set_num_full as usize + network.default_peers_set.reserved_nodes.len();
	let guarded = |config| guard_requests::<N>(config, members.clone(), &spawn_handle);

	let relay = BlockRequestHandler::new::<ConfigHarvest>(
		network_handle.clone(),
		&protocol_id,
		fork_id,
		client.clone(),
		(network.default_peers_set.in_peers + network.default_peers_set.out_peers) as usize,
	);
	let mut server = relay.server;
	spawn_handle.spawn("phr-block-request-handler", Some("networking"), async move { server.run().await });
	net_config.add_request_response_protocol(guarded(relay.request_response_config));

	let genesis = client.info().genesis_hash;
	let (handler, warp_config) = WarpRequestHandler::new::<_, ConfigHarvest>(protocol_id.clone(), genesis, fork_id, warp_proofs);
	spawn_handle.spawn("phr-warp-proof-handler", Some("networking"), handler.run());
	net_config.add_request_response_protocol(guarded(warp_config));

	let (handler, state_config) =
		StateRequestHandler::new::<ConfigHarvest>(&protocol_id, fork_id, client.clone(), peers_hint);
	let state_request_protocol_name = state_config.name.clone();
	spawn_handle.spawn("phr-state-request-handler", Some("networking"), handler.run());
	net_config.add_request_response_protocol(guarded(state_config));

	let network = &net_config.network_config;
	let strategy = PolkadotSyncingStrategy::new(
		PolkadotSyncingStrategyConfig {
			mode: network.sync_mode,
			max_parallel_downloads: network.max_parallel_downloads,
			max_blocks_per_request: network.max_blocks_per_request,
			min_peers_to_start_warp_sync: network.min_peers_to_start_warp_sync,
			metrics_registry: config.prometheus_registry().cloned(),
			state_request_protocol_name,
			block_downloader: relay.downloader,
			gap_sync_body_policy: sc_service::default_gap_sync_body_policy(config.blocks_pruning),
		},
		client.clone(),
		None,
		None,
	)?;
	let (engine, sync_service, block_announce_config) = SyncingEngine::new::<N>(
		sc_network::Roles::from(&config.role),
		client,
		config.prometheus_registry(),
		metrics,
		net_config,
		protocol_id,
		fork_id,
		Box::new(sp_consensus::block_validation::DefaultBlockAnnounceValidator),
		Box::new(strategy),
		network_handle,
		import_queue.service(),
		net_config.peer_store_handle(),
	)?;
	// As sc-service does: a node that can no longer sync is better stopped than kept running.
	spawn_essential_handle.spawn_blocking("syncing", None, engine.run());
	Ok((sync_service, block_announce_config))
}

/// The client as `build_network_advanced` sees it: everything passes through, except that it
/// proves nothing, so the light-client handler registered there answers every request with no
/// proof. Nothing else in that function asks for proofs; the state-request handler, which does,
/// gets the real client behind the membership guard ([`guarded_sync`]).
pub struct Proofless<C>(pub Arc<C>);

fn no_proofs() -> sp_blockchain::Error {
	sp_blockchain::Error::Application("this node serves no proofs over p2p (light clients are not served)".into())
}

impl<C: Send + Sync> ProofProvider<Block> for Proofless<C> {
	fn read_proof(&self, _: Hash, _: &mut dyn Iterator<Item = &[u8]>) -> sp_blockchain::Result<StorageProof> {
		Err(no_proofs())
	}

	fn read_child_proof(
		&self,
		_: Hash,
		_: &ChildInfo,
		_: &mut dyn Iterator<Item = &[u8]>,
	) -> sp_blockchain::Result<StorageProof> {
		Err(no_proofs())
	}

	fn execution_proof(&self, _: Hash, _: &str, _: &[u8]) -> sp_blockchain::Result<(Vec<u8>, StorageProof)> {
		Err(no_proofs())
	}

	fn read_proof_collection(&self, _: Hash, _: &[Vec<u8>], _: usize) -> sp_blockchain::Result<(CompactProof, u32)> {
		Err(no_proofs())
	}

	fn storage_collection(
		&self,
		_: Hash,
		_: &[Vec<u8>],
		_: usize,
	) -> sp_blockchain::Result<Vec<(sp_state_machine::KeyValueStorageLevel, bool)>> {
		Err(no_proofs())
	}

	fn verify_range_proof(&self, _: Hash, _: CompactProof, _: &[Vec<u8>]) -> sp_blockchain::Result<(KeyValueStates, usize)> {
		Err(no_proofs())
	}
}

impl<C: ProvideRuntimeApi<Block>> ProvideRuntimeApi<Block> for Proofless<C> {
	type Api = C::Api;

	fn runtime_api(&self) -> ApiRef<'_, Self::Api> {
		self.0.runtime_api()
	}
}

impl<C: HeaderBackend<Block>> HeaderBackend<Block> for Proofless<C> {
	fn header(&self, hash: Hash) -> sp_blockchain::Result<Option<<Block as BlockT>::Header>> {
		self.0.header(hash)
	}

	fn info(&self) -> Info<Block> {
		self.0.info()
	}

	fn status(&self, hash: Hash) -> sp_blockchain::Result<BlockStatus> {
		self.0.status(hash)
	}

	fn number(&self, hash: Hash) -> sp_blockchain::Result<Option<NumberFor<Block>>> {
		self.0.number(hash)
	}

	fn hash(&self, number: NumberFor<Block>) -> sp_blockchain::Result<Option<Hash>> {
		self.0.hash(number)
	}
}

impl<C: HeaderMetadata<Block, Error = sp_blockchain::Error>> HeaderMetadata<Block> for Proofless<C> {
	type Error = sp_blockchain::Error;

	fn header_metadata(&self, hash: Hash) -> Result<CachedHeaderMetadata<Block>, Self::Error> {
		self.0.header_metadata(hash)
	}

	fn insert_header_metadata(&self, hash: Hash, metadata: CachedHeaderMetadata<Block>) {
		self.0.insert_header_metadata(hash, metadata)
	}

	fn remove_header_metadata(&self, hash: Hash) {
		self.0.remove_header_metadata(hash)
	}
}

impl<C: BlockIdTo<Block, Error = sp_blockchain::Error>> BlockIdTo<Block> for Proofless<C> {
	type Error = sp_blockchain::Error;

	fn to_hash(&self, id: &BlockId<Block>) -> Result<Option<Hash>, Self::Error> {
		self.0.to_hash(id)
	}

	fn to_number(&self, id: &BlockId<Block>) -> Result<Option<NumberFor<Block>>, Self::Error> {
		self.0.to_number(id)
	}
}

impl<C: BlockBackend<Block>> BlockBackend<Block> for Proofless<C> {
	fn block_body(&self, hash: Hash) -> sp_blockchain::Result<Option<Vec<<Block as BlockT>::Extrinsic>>> {
		self.0.block_body(hash)
	}

	fn block_indexed_body(&self, hash: Hash) -> sp_blockchain::Result<Option<Vec<Vec<u8>>>> {
		self.0.block_indexed_body(hash)
	}

	fn block_indexed_hashes(&self, hash: Hash) -> sp_blockchain::Result<Option<Vec<sp_core::H256>>> {
		self.0.block_indexed_hashes(hash)
	}

	fn block(&self, hash: Hash) -> sp_blockchain::Result<Option<SignedBlock<Block>>> {
		self.0.block(hash)
	}

	fn block_status(&self, hash: Hash) -> sp_blockchain::Result<sp_consensus::BlockStatus> {
		BlockBackend::block_status(&*self.0, hash)
	}

	fn justifications(&self, hash: Hash) -> sp_blockchain::Result<Option<Justifications>> {
		self.0.justifications(hash)
	}

	fn block_hash(&self, number: NumberFor<Block>) -> sp_blockchain::Result<Option<Hash>> {
		self.0.block_hash(number)
	}

	fn indexed_transaction(&self, hash: sp_core::H256) -> sp_blockchain::Result<Option<Vec<u8>>> {
		self.0.indexed_transaction(hash)
	}

	fn has_indexed_transaction(&self, hash: sp_core::H256) -> sp_blockchain::Result<bool> {
		self.0.has_indexed_transaction(hash)
	}

	fn requires_full_sync(&self) -> bool {
		self.0.requires_full_sync()
	}
}

impl<C: BlockBackend<Block>> sp_consensus::block_validation::Chain<Block> for Proofless<C> {
	fn block_status(&self, hash: Hash) -> Result<sp_consensus::BlockStatus, Box<dyn std::error::Error + Send>> {
		BlockBackend::block_status(&*self.0, hash).map_err(|e| Box::new(e) as Box<_>)
	}
}

impl<C: BlockchainEvents<Block>> BlockchainEvents<Block> for Proofless<C> {
	fn import_notification_stream(&self) -> ImportNotifications<Block> {
		self.0.import_notification_stream()
	}

	fn every_import_notification_stream(&self) -> ImportNotifications<Block> {
		self.0.every_import_notification_stream()
	}

	fn finality_notification_stream(&self) -> FinalityNotifications<Block> {
		self.0.finality_notification_stream()
	}

	fn storage_changes_notification_stream(
		&self,
		filter_keys: Option<&[StorageKey]>,
		child_filter_keys: Option<&[(StorageKey, Option<Vec<StorageKey>>)]>,
	) -> sp_blockchain::Result<StorageEventStream<Hash>> {
		self.0.storage_changes_notification_stream(filter_keys, child_filter_keys)
	}
}
