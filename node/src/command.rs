//! Dispatches the command line to the service or to the standard Substrate subcommands.

use crate::{
	chain_spec,
	cli::{Cli, Subcommand},
	service,
};
#[cfg(feature = "runtime-benchmarks")]
use frame_benchmarking_cli::{BenchmarkCmd, SUBSTRATE_REFERENCE_HARDWARE};
use phr_runtime::opaque::Block;
use sc_cli::SubstrateCli;
use sc_service::PartialComponents;

impl SubstrateCli for Cli {
	fn impl_name() -> String {
		"PHR Consortium Node".into()
	}

	fn impl_version() -> String {
		env!("SUBSTRATE_CLI_IMPL_VERSION").into()
	}

	fn description() -> String {
		env!("CARGO_PKG_DESCRIPTION").into()
	}

	fn author() -> String {
		env!("CARGO_PKG_AUTHORS").into()
	}

	fn support_url() -> String {
		"docs/operator.md in the phr-chain repository".into()
	}

	fn copyright_start_year() -> i32 {
		2026
	}

	fn load_spec(&self, id: &str) -> Result<Box<dyn sc_service::ChainSpec>, String> {
		chain_spec::load(id)
	}
}

/// Parses the command line. The state caches are sized for a consortium chain unless
/// `--trie-cache-size` or `--db-cache` is given. The transaction pool is Substrate's single-state pool unless
/// `--pool-type` names one: under overload with forks at the chain's tip (several validators on
/// too few cores), both pools lost accepted extrinsics in our benchmark, the single-state one fewer
/// in total: 657 over four runs against 2,113 over three (docs/benchmarks.md, "Transaction pool").
fn parse_command_line() -> Cli {
	use clap::{parser::ValueSource, CommandFactory, FromArgMatches};
	let command = Cli::setup_command(Cli::command());
	let matches = command.try_get_matches_from(std::env::args_os()).unwrap_or_else(|e| e.exit());
	let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
	if matches.value_source("pool_type") != Some(ValueSource::CommandLine) {
		cli.run.pool_config.pool_type = sc_cli::TransactionPoolType::SingleState;
	}
	// A consortium chain's state is small: Substrate's defaults (a 1 GiB trie cache, a 1 GiB
	// database cache) let a validator that has worked stay at twice the memory of one that has not
	// (docs/benchmarks.md, "Lost extrinsics and resident memory"); given flags win.
	if matches.value_source("trie_cache_size") != Some(ValueSource::CommandLine) {
		cli.run.import_params.trie_cache_size = crate::memory::TRIE_CACHE_BYTES;
	}
	if cli.run.import_params.database_params.database_cache_size.is_none() {
		cli.run.import_params.database_params.database_cache_size = Some(crate::memory::DB_CACHE_MIB);
	}
	cli
}

/// Parses the command line and runs it.
pub fn run() -> sc_cli::Result<()> {
	let cli = parse_command_line();

	match &cli.subcommand {
		Some(Subcommand::Key(cmd)) => cmd.run(&cli),
		Some(Subcommand::BuildSpec(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run(config.chain_spec, config.network))
		},
		Some(Subcommand::CheckBlock(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, import_queue, .. } =
					service::new_partial(&config)?;
				Ok((cmd.run(client, import_queue), task_manager))
			})
		},
		Some(Subcommand::ExportBlocks(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, .. } = service::new_partial(&config)?;
				Ok((cmd.run(client, config.database), task_manager))
			})
		},
		Some(Subcommand::ExportState(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, .. } = service::new_partial(&config)?;
				Ok((cmd.run(client, config.chain_spec), task_manager))
			})
		},
		Some(Subcommand::ImportBlocks(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, import_queue, .. } =
					service::new_partial(&config)?;
				Ok((cmd.run(client, import_queue), task_manager))
			})
		},
		Some(Subcommand::PurgeChain(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run(config.database))
		},
		Some(Subcommand::Revert(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, backend, .. } =
					service::new_partial(&config)?;
				let aux_revert = Box::new(|client, _, blocks| {
					sc_consensus_grandpa::revert(client, blocks)?;
					Ok(())
				});
				Ok((cmd.run(client, backend, Some(aux_revert)), task_manager))
			})
		},
		#[cfg(not(feature = "runtime-benchmarks"))]
		Some(Subcommand::Benchmark { .. }) => Err("`benchmark` needs a phr-node built with `--features runtime-benchmarks`: \
		     scripts/benchmark.sh and scripts/measure-weights.sh build one (`phr_bench_node_build` in scripts/env.sh)"
			.into()),
		#[cfg(feature = "runtime-benchmarks")]
		Some(Subcommand::Benchmark(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| match cmd {
				BenchmarkCmd::Pallet(cmd) => {
					cmd.run_with_spec::<sp_runtime::traits::HashingFor<Block>, ()>(Some(config.chain_spec))
				},
				BenchmarkCmd::Block(cmd) => {
					let PartialComponents { client, .. } = service::new_partial(&config)?;
					cmd.run(client)
				},
				BenchmarkCmd::Machine(cmd) => cmd.run(&config, SUBSTRATE_REFERENCE_HARDWARE.clone()),
				// The database's read and write costs over the state at the best block:
				// `rocksdb_weights.rs` for the runtime (scripts/measure-weights.sh).
				// The database handles it needs are exposed only with `runtime-benchmarks`.
				BenchmarkCmd::Storage(cmd) => {
					let PartialComponents { client, backend, .. } = service::new_partial(&config)?;
					let db = backend.expose_db();
					let storage = backend.expose_storage();
					let shared_trie_cache = backend.expose_shared_trie_cache();
					cmd.run(config, client, db, storage, shared_trie_cache)
				},
				// The execution time of an empty block and of one more signed extrinsic:
				// `block_weights.rs` and `extrinsic_weights.rs` for the runtime. Run it on a
				// fresh `--dev` database: the block it builds is block 1, in slot 0.
				BenchmarkCmd::Overhead(cmd) => {
					let PartialComponents { client, .. } = service::new_partial(&config)?;
					let builder = crate::benchmarking::RemarkBuilder::new(client.clone());
					let inherents = crate::benchmarking::inherent_data()?;
					cmd.run(config.chain_spec.name().into(), client, inherents, Vec::new(), &builder, false)
				},
				_ => Err("this benchmark is not supported by phr-node: use `benchmark pallet`, `storage`, \
				          `overhead`, `block` or `machine`"
					.into()),
			})
		},
		Some(Subcommand::ChainInfo(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run::<Block>(&config))
		},
		None => {
			let runner = cli.create_runner(&cli.run)?;
			let phr = cli.phr.clone();
			let node_key = &cli.run.network_params.node_key_params;
			let dev_node_key = cli.run.shared_params.is_dev() && node_key.node_key.is_none() && node_key.node_key_file.is_none();
			runner.run_node_until_exit(|mut config| async move {
				if dev_node_key {
					// The dev preset's one member node is H1's development node key: `--dev` runs
					// as that node, so requests signed for the chain's member node reach it.
					config.network.node_key = development_node_key()?;
				}
				match config.network.network_backend {
					sc_network::config::NetworkBackendType::Libp2p => service::new_full::<
						sc_network::NetworkWorker<Block, <Block as sp_runtime::traits::Block>::Hash>,
					>(config, phr)
					.map_err(sc_cli::Error::Service),
					sc_network::config::NetworkBackendType::Litep2p =>
						service::new_full::<sc_network::Litep2pNetworkBackend>(config, phr)
							.map_err(sc_cli::Error::Service),
				}
			})
		},
	}
}

/// H1's development node key (scripts/local-node-keys), the dev preset's member node.
fn development_node_key() -> Result<sc_network::config::NodeKeyConfig, sc_cli::Error> {
	let hex_key = include_str!("../../scripts/local-node-keys")
		.lines()
		.find_map(|line| line.strip_prefix("H1 "))
		.ok_or_else(|| sc_cli::Error::Input("scripts/local-node-keys lists no H1 key".into()))?;
	let bytes = hex::decode(hex_key.trim()).map_err(|e| sc_cli::Error::Input(format!("H1's development node key: {e}")))?;
	let secret = sc_network::config::ed25519::SecretKey::try_from_bytes(bytes)
		.map_err(|e| sc_cli::Error::Input(format!("H1's development node key: {e}")))?;
	Ok(sc_network::config::NodeKeyConfig::Ed25519(sc_network::config::Secret::Input(secret)))
}
