//! The node's service: client, transaction pool, network, Aura authoring, GRANDPA finality, RPC and
//! the consortium's network permissioning.

use std::{sync::Arc, time::Duration};

use futures::FutureExt;
use phr_runtime::{apis::RuntimeApi, opaque::Block};
use sc_client_api::{Backend, BlockBackend};
use sc_consensus_aura::{ImportQueueParams, SlotProportion, StartAuraParams};
use sc_consensus_grandpa::SharedVoterState;
use sc_service::{error::Error as ServiceError, Configuration, TaskManager};
use sc_telemetry::{Telemetry, TelemetryWorker};
use sc_transaction_pool_api::OffchainTransactionPoolFactory;
use sp_consensus_aura::sr25519::{AuthorityId as AuraId, AuthorityPair as AuraPair};
use sp_core::crypto::key_types;

use crate::cli::PhrParams;

pub(crate) type FullClient = sc_service::TFullClient<Block, RuntimeApi, sc_executor::WasmExecutor<sp_io::SubstrateHostFunctions>>;
type FullBackend = sc_service::TFullBackend<Block>;
type FullSelectChain = sc_consensus::LongestChain<FullBackend, Block>;

/// GRANDPA justifications are kept for one block in this many (and for every authority change).
const GRANDPA_JUSTIFICATION_PERIOD: u32 = 512;

pub type Service = sc_service::PartialComponents<
	FullClient,
	FullBackend,
	FullSelectChain,
	sc_consensus::DefaultImportQueue<Block>,
	sc_transaction_pool::TransactionPoolHandle<Block, FullClient>,
	(
		sc_consensus_grandpa::GrandpaBlockImport<FullBackend, Block, FullClient, FullSelectChain>,
		sc_consensus_grandpa::LinkHalf<Block, FullClient, FullSelectChain>,
		Option<Telemetry>,
	),
>;

/// The parts every subcommand needs: client, backend, import queue, pool.
pub fn new_partial(config: &Configuration) -> Result<Service, ServiceError> {
	let telemetry = config
		.telemetry_endpoints
		.clone()
		.filter(|x| !x.is_empty())
		.map(|endpoints| -> Result<_, sc_telemetry::Error> {
			let worker = TelemetryWorker::new(16)?;
			let telemetry = worker.handle().new_telemetry(endpoints);
			Ok((worker, telemetry))
		})
		.transpose()?;

	let executor = sc_service::new_wasm_executor::<sp_io::SubstrateHostFunctions>(&config.executor);
	let (client, backend, keystore_container, task_manager) = sc_service::new_full_parts::<Block, RuntimeApi, _>(
		config,
		telemetry.as_ref().map(|(_, telemetry)| telemetry.handle()),
		executor,
		Vec::new(),
	)?;
	let client = Arc::new(client);

	let telemetry = telemetry.map(|(worker, telemetry)| {
		task_manager.spawn_handle().spawn("telemetry", None, worker.run());
		telemetry
	});

	let select_chain = sc_consensus::LongestChain::new(backend.clone());

	let transaction_pool = Arc::from(
		sc_transaction_pool::Builder::new(
			task_manager.spawn_essential_handle(),
			client.clone(),
			config.role.is_authority().into(),
		)
		.with_options(config.transaction_pool.clone())
		.with_prometheus(config.prometheus_registry())
		.build(),
	);

	let (grandpa_block_import, grandpa_link) = sc_consensus_grandpa::block_import(
		client.clone(),
		GRANDPA_JUSTIFICATION_PERIOD,
		&client,
		select_chain.clone(),
		telemetry.as_ref().map(|x| x.handle()),
	)?;

	let cidp_client = client.clone();
	let import_queue = sc_consensus_aura::import_queue::<AuraPair, _, _, _, _, _>(ImportQueueParams {
		block_import: grandpa_block_import.clone(),
		justification_import: Some(Box::new(grandpa_block_import.clone())),
		client: client.clone(),
		create_inherent_data_providers: move |parent_hash, _| {
			let cidp_client = cidp_client.clone();
			async move {
				let slot_duration = sc_consensus_aura::standalone::slot_duration_at(&*cidp_client, parent_hash)?;
				let timestamp = sp_timestamp::InherentDataProvider::from_system_time();
				let slot = sp_consensus_aura::inherents::InherentDataProvider::from_timestamp_and_slot_duration(
					*timestamp,
					slot_duration,
				);
				Ok((slot, timestamp))
			}
		},
		spawner: &task_manager.spawn_essential_handle(),
		registry: config.prometheus_registry(),
		check_for_equivocation: Default::default(),
		telemetry: telemetry.as_ref().map(|x| x.handle()),
		compatibility_mode: Default::default(),
	})?;

	Ok(sc_service::PartialComponents {
		client,
		backend,
		task_manager,
		import_queue,
		keystore_container,
		select_chain,
		transaction_pool,
		other: (grandpa_block_import, grandpa_link, telemetry),
	})
}

/// Refuses to start a validator whose keystore lacks either session key: it would run, author
/// nothing and vote nothing, and the operator would find out only when finality stalls.
fn ensure_session_keys(keystore: &sp_keystore::KeystorePtr) -> Result<(), ServiceError> {
	let aura = keystore.sr25519_public_keys(key_types::AURA);
	let grandpa = keystore.ed25519_public_keys(key_types::GRANDPA);
	let missing: Vec<&str> = [("aura (sr25519)", aura.is_empty()), ("gran (ed25519)", grandpa.is_empty())]
		.into_iter()
		.filter_map(|(name, missing)| missing.then_some(name))
		.collect();
	if missing.is_empty() {
		return Ok(());
	}
	Err(ServiceError::Other(format!(
		"--validator was given but the keystore has no {} key: insert it with \
		 `phr-node key insert --base-path <dir> --chain <chain> --key-type <aura|gran> --scheme <sr25519|ed25519> --suri <secret>`, \
		 or start without --validator",
		missing.join(" and no ")
	)))
}

/// Builds and starts a full node (and a validator when `--validator`).
pub fn new_full<N: sc_network::NetworkBackend<Block, <Block as sp_runtime::traits::Block>::Hash>>(
	mut config: Configuration,
	phr: PhrParams,
) -> Result<TaskManager, ServiceError> {
	// Reserved-only from the first second: only the members' nodes (the authorized peers set from
	// chain state below) get the block-announce substream, and with it sync, GRANDPA and
	// transaction gossip. `--open-network` (development) accepts any peer.
	if !phr.open_network {
		config.network.default_peers_set.non_reserved_mode = sc_network::config::NonReservedPeerMode::Deny;
	}
	let sc_service::PartialComponents {
		client,
		backend,
		mut task_manager,
		import_queue,
		keystore_container,
		select_chain,
		transaction_pool,
		other: (block_import, grandpa_link, mut telemetry),
	} = new_partial(&config)?;

	crate::memory::spawn_trim(&task_manager);

	let mut net_config = sc_network::config::FullNetworkConfiguration::<
		Block,
		<Block as sp_runtime::traits::Block>::Hash,
		N,
	>::new(&config.network, config.prometheus_registry().cloned());
	let metrics = N::register_notification_metrics(config.prometheus_registry());

	let peer_store_handle = net_config.peer_store_handle();
	let genesis_hash = client
		.block_hash(0)
		.ok()
		.flatten()
		.ok_or_else(|| ServiceError::Other("the database has no genesis block".into()))?;
	let grandpa_protocol_name = sc_consensus_grandpa::protocol_standard_name(&genesis_hash, &config.chain_spec);
	let (grandpa_protocol_config, grandpa_notification_service) =
		sc_consensus_grandpa::grandpa_peers_set_config::<_, N>(
			grandpa_protocol_name.clone(),
			metrics.clone(),
			peer_store_handle,
		);
	net_config.add_notification_protocol(grandpa_protocol_config);
	let (blob_protocol_config, blob_requests) = crate::blobs::replication::protocol_config::<N>();
	net_config.add_request_response_protocol(blob_protocol_config);

	// Who may be answered at all: the other members' nodes at the finalized block, read before the
	// network starts and kept current by `permissioning::follow_member_nodes`.
	let members = crate::permissioning::MemberNodes::load(&*client, phr.open_network);

	// sc-service's own block-request, state-request and warp-proof handlers answer any connected
	// peer: `crate::network` builds them behind the membership guard, and the syncing around them.
	let network_provider = sc_network_sync::service::network::NetworkServiceProvider::new();
	let protocol_id = config.protocol_id();
	let fork_id = config.chain_spec.fork_id().map(str::to_owned);
	let warp_proofs = Arc::new(sc_consensus_grandpa::warp_proof::NetworkProvider::new(
		backend.clone(),
		grandpa_link.shared_authority_set().clone(),
		Vec::default(),
	));
	let (sync_service, block_announce_config) = crate::network::guarded_sync(
		crate::network::SyncParts {
			config: &config,
			net_config: &mut net_config,
			members: &members,
			spawn_handle: task_manager.spawn_handle(),
			spawn_essential_handle: task_manager.spawn_essential_handle(),
			warp_proofs: warp_proofs.clone(),
			network_handle: network_provider.handle(),
			metrics: metrics.clone(),
		},
		client.clone(),
		&import_queue,
	)?;

	let (network, system_rpc_tx, tx_handler_controller, sync_service, _bitswap) =
		sc_service::build_network_advanced(sc_service::BuildNetworkAdvancedParams {
			role: config.role,
			protocol_id,
			fork_id: fork_id.as_deref(),
			announce_block: config.announce_block,
			net_config,
			// No proofs for the light-client handler registered in there (`network::Proofless`).
			client: Arc::new(crate::network::Proofless(client.clone())),
			transaction_pool: transaction_pool.clone(),
			spawn_handle: task_manager.spawn_handle(),
			spawn_essential_handle: task_manager.spawn_essential_handle(),
			import_queue,
			sync_service,
			block_announce_config,
			network_service_provider: network_provider,
			metrics_registry: config.prometheus_registry(),
			metrics,
			blocks_pruning: config.blocks_pruning,
		})?;
	if phr.open_network {
		log::warn!(target: "phr", "--open-network: peering with and answering any node, not only consortium members");
	}
	task_manager.spawn_essential_handle().spawn(
		"phr-member-peers",
		Some("phr"),
		crate::permissioning::follow_member_nodes(client.clone(), network.clone(), members.clone()),
	);

	// The hospital's escrow keys (break-glass shares): the one given now and every earlier one.
	let escrow_keys = {
		let dir = config.base_path.config_dir(config.chain_spec.id()).join("phr-escrow");
		let import = match (&phr.escrow_key_file, &config.dev_key_seed) {
			(Some(path), _) => Some(crate::blobs::escrow::read_secret(path).map_err(|e| ServiceError::Other(e.to_string()))?),
			// The development key only on the dev chain, whose genesis registers its public key.
			(None, Some(seed)) if config.chain_spec.id() == "phr_dev" => Some(crate::blobs::escrow::development_secret(seed)),
			(None, _) => None,
		};
		crate::blobs::escrow::EscrowKeys::load(&dir, import).map_err(|e| ServiceError::Other(e.to_string()))?
	};
	let binary_endpoint = if phr.no_blob_http {
		None
	} else {
		let ip = if phr.blob_http_external { std::net::Ipv4Addr::UNSPECIFIED } else { std::net::Ipv4Addr::LOCALHOST };
		let addr = std::net::SocketAddr::from((ip, phr.blob_http_port));
		let listener = crate::blobs::http::bind(addr).map_err(|e| {
			ServiceError::Other(format!(
				"cannot listen for the binary endpoint on {addr}: {e} (choose another --blob-http-port, or --no-blob-http)"
			))
		})?;
		log::info!(target: "phr", "binary blob endpoint on http://{}", listener.local_addr().map_err(|e| ServiceError::Other(e.to_string()))?);
		Some(listener)
	};
	let blobs = {
		let path = config.base_path.config_dir(config.chain_spec.id()).join("phr-blobs");
		let store_config = phr_blob_store::StoreConfig {
			max_blob_size: phr.blob_max_size,
			pending_ttl_ms: phr.blob_pending_ttl.saturating_mul(1000),
			max_open_uploads: phr.blob_max_uploads,
			max_uploads_per_account: phr.blob_max_uploads_per_account,
			max_pending_bytes_per_account: phr.blob_max_pending_per_account.max(phr.blob_max_size),
			upload_idle_ms: phr.blob_upload_idle.saturating_mul(1000),
			fetch_give_up_ms: phr.blob_fetch_give_up.saturating_mul(1000),
		};
		let store = phr_blob_store::BlobStore::open(&path, store_config)
			.map_err(|e| ServiceError::Other(format!("cannot open the blob store at {}: {e}", path.display())))?;
		Arc::new(crate::blobs::Blobs::new(
			Arc::new(store),
			client.clone(),
			network.clone(),
			members,
			binary_endpoint.as_ref().and_then(|listener| Some(listener.local_addr().ok()?.port())),
		))
	};
	if config.offchain_worker.enabled {
		let offchain_workers = sc_offchain::OffchainWorkers::new(sc_offchain::OffchainWorkerOptions {
			runtime_api_provider: client.clone(),
			is_validator: config.role.is_authority(),
			keystore: Some(keystore_container.keystore()),
			offchain_db: backend.offchain_storage(),
			transaction_pool: Some(OffchainTransactionPoolFactory::new(transaction_pool.clone())),
			network_provider: Arc::new(network.clone()),
			enable_http_requests: false,
			custom_extensions: |_| vec![],
		})?;
		task_manager.spawn_handle().spawn(
			"offchain-workers-runner",
			"offchain-worker",
			offchain_workers.run(client.clone(), task_manager.spawn_handle()).boxed(),
		);
	}

	let role = config.role;
	let dev_key_seed = config.dev_key_seed.clone();
	let force_authoring = config.force_authoring;
	let name = config.network.node_name.clone();
	let enable_grandpa = !config.disable_grandpa;
	let prometheus_registry = config.prometheus_registry().cloned();

	let rpc_extensions_builder = {
		let client = client.clone();
		let pool = transaction_pool.clone();
		let blobs = blobs.clone();
		Box::new(move |_| {
			let deps = crate::rpc::FullDeps {
				client: client.clone(),
				pool: pool.clone(),
				blobs: blobs.clone(),
				warp_proofs: warp_proofs.clone(),
			};
			crate::rpc::create_full(deps).map_err(Into::into)
		})
	};

	let _rpc_handlers = sc_service::spawn_tasks(sc_service::SpawnTasksParams {
		network: network.clone(),
		client: client.clone(),
		keystore: keystore_container.keystore(),
		task_manager: &mut task_manager,
		transaction_pool: transaction_pool.clone(),
		rpc_builder: rpc_extensions_builder,
		backend,
		system_rpc_tx,
		tx_handler_controller,
		sync_service: sync_service.clone(),
		config,
		telemetry: telemetry.as_mut(),
		tracing_execute_block: None,
	})?;

	// Read receipts are anchored with the hospital's node key; `--dev`/`--alice` use the dev seed.
	if let Some(seed) = &dev_key_seed {
		keystore_container
			.keystore()
			.sr25519_generate_new(crate::blobs::receipts::NODE_KEY_TYPE, Some(seed.as_str()))
			.map_err(|e| ServiceError::Other(format!("cannot insert the development node key: {e}")))?;
	}
	let anchor = crate::blobs::receipts::Anchor::from_keystore(keystore_container.keystore(), transaction_pool.clone());
	match (escrow_keys, &anchor) {
		(Some(keys), Some(anchor)) => {
			log::info!(target: "phr", "escrow key {} of validator account {}", hex::encode(keys.current().public()), anchor.account());
			let _ = blobs.escrow.set(crate::blobs::escrow::EscrowAgent::new(keys, anchor.account()));
		},
		(Some(_), None) => log::warn!(
			target: "phr",
			"an escrow key is set but the keystore has no `phrn` key: this node releases no break-glass shares"
		),
		(None, _) => log::info!(target: "phr", "no escrow key (--escrow-key-file): this node releases no break-glass shares"),
	}
	crate::blobs::spawn(&task_manager.spawn_essential_handle(), blobs, blob_requests, anchor, binary_endpoint);

	if role.is_authority() {
		// After `spawn_tasks`, which inserts the `--dev`/`--alice` development keys.
		ensure_session_keys(&keystore_container.keystore())?;
		let proposer_factory = sc_basic_authorship::ProposerFactory::new(
			task_manager.spawn_handle(),
			client.clone(),
			transaction_pool.clone(),
			prometheus_registry.as_ref(),
			telemetry.as_ref().map(|x| x.handle()),
		);

		let slot_duration = sc_consensus_aura::slot_duration::<AuraId, _, _>(&*client)?;

		let aura = sc_consensus_aura::start_aura::<AuraPair, _, _, _, _, _, _, _, _, _, _>(StartAuraParams {
			slot_duration,
			client,
			select_chain,
			block_import,
			proposer_factory,
			create_inherent_data_providers: move |_, ()| async move {
				let timestamp = sp_timestamp::InherentDataProvider::from_system_time();
				let slot = sp_consensus_aura::inherents::InherentDataProvider::from_timestamp_and_slot_duration(
					*timestamp,
					slot_duration,
				);
				Ok((slot, timestamp))
			},
			force_authoring,
			backoff_authoring_blocks: Option::<()>::None,
			keystore: keystore_container.keystore(),
			sync_oracle: sync_service.clone(),
			justification_sync_link: sync_service.clone(),
			// Two thirds of the 2 s slot to build a block, the rest to gossip and import it.
			block_proposal_slot_portion: SlotProportion::new(2f32 / 3f32),
			max_block_proposal_slot_portion: None,
			telemetry: telemetry.as_ref().map(|x| x.handle()),
			compatibility_mode: Default::default(),
		})?;

		// Authoring is essential: if it fails the node stops rather than run silently without it.
		task_manager.spawn_essential_handle().spawn_blocking("aura", Some("block-authoring"), aura);
	}

	if enable_grandpa {
		let keystore = if role.is_authority() { Some(keystore_container.keystore()) } else { None };
		let grandpa_config = sc_consensus_grandpa::Config {
			gossip_duration: Duration::from_millis(333),
			justification_generation_period: GRANDPA_JUSTIFICATION_PERIOD,
			name: Some(name),
			observer_enabled: false,
			keystore,
			local_role: role,
			telemetry: telemetry.as_ref().map(|x| x.handle()),
			protocol_name: grandpa_protocol_name,
		};

		let grandpa_params = sc_consensus_grandpa::GrandpaParams {
			config: grandpa_config,
			link: grandpa_link,
			network,
			sync: Arc::new(sync_service),
			notification_service: grandpa_notification_service,
			// Validators vote for their best block (bounded to three quarters of a long unfinalized
			// stretch), not two blocks behind it as the default rule does. That default guards
			// against frequent tip forks (BABE's several slot leaders); with Aura there is one
			// author per slot, and voting two blocks behind would add 4 s to every grant's time to
			// finality. A tip fork only delays a round: GRANDPA finalizes the common ancestor.
			voting_rule: sc_consensus_grandpa::VotingRulesBuilder::new()
				.add(sc_consensus_grandpa::ThreeQuartersOfTheUnfinalizedChain)
				.build(),
			prometheus_registry,
			shared_voter_state: SharedVoterState::empty(),
			telemetry: telemetry.as_ref().map(|x| x.handle()),
			offchain_tx_pool_factory: OffchainTransactionPoolFactory::new(transaction_pool),
		};

		task_manager.spawn_essential_handle().spawn_blocking(
			"grandpa-voter",
			None,
			sc_consensus_grandpa::run_grandpa_voter(grandpa_params)?,
		);
	}

	Ok(task_manager)
}
