//! Command line: the standard Substrate node CLI plus the PHR node's own flags.

use sc_cli::RunCmd;

#[derive(Debug, clap::Parser)]
#[command(
	about = "A node of the PHR hospital consortium chain: Aura block production, GRANDPA finality, \
	         permissioned by on-chain consortium membership.",
	after_help = "Examples:\n  phr-node --dev --tmp\n  phr-node --chain local-consortium --validator --base-path /var/lib/phr/h1\n  phr-node key insert --chain local-consortium --base-path /var/lib/phr/h1 --key-type aura --scheme sr25519 --suri //Alice"
)]
pub struct Cli {
	#[command(subcommand)]
	pub subcommand: Option<Subcommand>,

	#[clap(flatten)]
	pub run: RunCmd,

	#[clap(flatten)]
	pub phr: PhrParams,
}

/// Flags of the PHR node itself.
#[derive(Debug, Clone, clap::Args)]
pub struct PhrParams {
	/// Peer with any node, not only the consortium members' nodes registered on chain.
	/// For development only: a hospital's node must never run with this.
	#[arg(long)]
	pub open_network: bool,

	/// Largest ciphertext this node's blob store accepts, in bytes (the chain's own limit is 4 GiB).
	#[arg(long, value_name = "BYTES", default_value_t = 1 << 30)]
	pub blob_max_size: u64,

	/// How long an uploaded ciphertext waits for the extrinsic registering it to be final before
	/// it is deleted, in seconds.
	#[arg(long, value_name = "SECONDS", default_value_t = 3600)]
	pub blob_pending_ttl: u64,

	/// Most uploads in progress at once on this node (the node's own replication not counted).
	#[arg(long, value_name = "COUNT", default_value_t = 64)]
	pub blob_max_uploads: usize,

	/// Most uploads in progress at once by one account.
	#[arg(long, value_name = "COUNT", default_value_t = 4)]
	pub blob_max_uploads_per_account: usize,

	/// Most bytes one account may hold on this node unregistered: its uploads in progress and its
	/// uploads not yet registered on chain, together (at least --blob-max-size, so that one
	/// largest record fits).
	#[arg(long, value_name = "BYTES", default_value_t = 2 << 30)]
	pub blob_max_pending_per_account: u64,

	/// Seconds an upload may receive nothing before it is abandoned (its slot and chunks freed).
	#[arg(long, value_name = "SECONDS", default_value_t = 300)]
	pub blob_upload_idle: u64,

	/// Seconds a registered ciphertext that no member node holds is asked for before the node
	/// gives up on it (status "missing").
	#[arg(long, value_name = "SECONDS", default_value_t = 3600)]
	pub blob_fetch_give_up: u64,

	/// Port of the binary endpoint, where ciphertext travels as raw bytes beside JSON-RPC
	/// (`PUT /upload/<token>`, `GET /session/<token>`; docs/blob-store.md). 0: any free port (the
	/// node logs it and names it in `phr_storeStatus`).
	#[arg(long, value_name = "PORT", default_value_t = 9955)]
	pub blob_http_port: u16,

	/// Listen for the binary endpoint on every interface, not only on localhost. It serves only
	/// what a signed, checked `phr_` call opened, so exposing it is as safe as exposing `phr_`.
	#[arg(long)]
	pub blob_http_external: bool,

	/// Run no binary endpoint: ciphertext then travels over JSON-RPC only (base64).
	#[arg(long, conflicts_with_all = ["blob_http_port", "blob_http_external"])]
	pub no_blob_http: bool,

	/// The hospital's escrow key for break-glass: a file holding an X25519 secret key (64 hex
	/// characters). The node keeps it (and every earlier one) under its base path, registers its
	/// public key on chain for the hospital's validator account (its `phrn` key) and releases its
	/// share of a record's data key only to the opener of a FINAL emergency opening. `--dev` uses a
	/// development key.
	#[arg(long, value_name = "PATH")]
	pub escrow_key_file: Option<std::path::PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Subcommand {
	/// Key management: generate, inspect and insert keys (session keys into the keystore).
	#[command(subcommand)]
	Key(sc_cli::KeySubcommand),

	/// Build a chain specification (JSON) from a preset: dev, local-consortium, deployment-template.
	BuildSpec(sc_cli::BuildSpecCmd),

	/// Validate blocks.
	CheckBlock(sc_cli::CheckBlockCmd),

	/// Export blocks.
	ExportBlocks(sc_cli::ExportBlocksCmd),

	/// Export the state of a given block into a chain spec.
	ExportState(sc_cli::ExportStateCmd),

	/// Import blocks.
	ImportBlocks(sc_cli::ImportBlocksCmd),

	/// Remove the whole chain database of this node.
	PurgeChain(sc_cli::PurgeChainCmd),

	/// Revert the chain to a previous state.
	Revert(sc_cli::RevertCmd),

	/// Benchmarks of the runtime, the database and the machine.
	#[cfg(feature = "runtime-benchmarks")]
	#[command(subcommand)]
	Benchmark(frame_benchmarking_cli::BenchmarkCmd),

	/// Benchmarks need a phr-node built with `--features runtime-benchmarks`.
	#[cfg(not(feature = "runtime-benchmarks"))]
	#[command(disable_help_flag = true)]
	Benchmark {
		#[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
		args: Vec<String>,
	},

	/// Database column information.
	ChainInfo(sc_cli::ChainInfoCmd),
}
