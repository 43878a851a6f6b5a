//! `phr`: the wallet of the PHR consortium chain, for patients, providers, auditors and hospital
//! admins. Records are encrypted on this machine; the node only ever sees ciphertext.

mod binary;
mod blobs;
mod client;
mod commands;
mod escrow;
mod crypto;
mod error;
mod fhir;
mod fhir_facts;
#[cfg(test)]
mod fhir_samples;
mod files;
mod keyfile;
mod portal;
mod upgrade;
#[cfg(test)]
mod vectors;
mod verified;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
	name = "phr",
	version,
	about = "Wallet of the PHR consortium chain: encrypt, share, read and audit health records.",
	after_help = "Examples:\n  phr keys import //Alice --wallet alice.json\n  phr record add labs.json\n  phr grant --to 5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty --categories observation --expires 1h\n  phr record get 3 -o labs.json\n\nThe passphrase comes from PHR_PASSPHRASE, or is asked for."
)]
pub struct Cli {
	/// The node's JSON-RPC address.
	#[arg(long, global = true, env = "PHR_NODE", default_value = "http://127.0.0.1:9944")]
	pub node: String,
	/// The wallet file.
	#[arg(long, global = true, env = "PHR_WALLET", default_value = "phr-wallet.json")]
	pub wallet: PathBuf,
	/// The consortium's raw chain spec: the root of trust this wallet checks every chain read
	/// against (needed once; what it verified is kept beside the wallet file).
	#[arg(long, global = true, env = "PHR_CHAIN_SPEC")]
	pub chain_spec: Option<PathBuf>,
	/// The oldest latest-finalized block (its age in seconds, by its timestamp) this wallet accepts
	/// from a node: an older one may hide revocations and key changes since.
	#[arg(long, global = true, env = "PHR_MAX_HEAD_AGE", default_value_t = 600)]
	pub max_head_age: u64,
	/// Print machine-readable JSON instead of sentences.
	#[arg(long, global = true)]
	pub json: bool,
	/// No progress bars.
	#[arg(long, short, global = true)]
	pub quiet: bool,
	#[command(subcommand)]
	pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
	/// Account and encryption keys.
	#[command(subcommand)]
	Keys(KeysCommand),
	/// Health records: add, get, list, erase, export.
	#[command(subcommand)]
	Record(RecordCommand),
	/// Grant a person, a hospital role or an attribute policy access to your records.
	#[command(after_help = "Examples:\n  phr grant --to <account> --categories observation,medication --expires 1h\n  phr grant --hospital 2 --role physician --records 4,5 --rights read --expires 7d\n  phr grant --policy-roles nurse --policy-departments cardiology --policy-hospitals 2 --categories all --expires 30d")]
	Grant(GrantArgs),
	/// Revoke a grant; by default the affected records are re-encrypted under new data keys.
	#[command(after_help = "Example:\n  phr revoke 3            # revoke grant 3 and re-key the records it covered\n  phr revoke 3 --no-rekey")]
	Revoke {
		grant: u64,
		/// Only revoke: keep the data keys (the revoked reader may have kept copies of them).
		#[arg(long)]
		no_rekey: bool,
	},
	/// Re-encrypt records under new data keys: with --expired, every version keyed before a grant of
	/// yours expired (an expiry, unlike a revocation, re-keys nothing by itself).
	#[command(after_help = "Example:\n  phr rekey --expired")]
	Rekey {
		#[arg(long)]
		expired: bool,
	},
	/// List the grants on your records (or on --patient's, for a guardian).
	#[command(after_help = "Examples:\n  phr grants --json\n  phr grants --fhir > consents.json")]
	Grants {
		#[arg(long)]
		patient: Option<String>,
		/// Print the grants as FHIR R4 Consent resources (a collection Bundle).
		#[arg(long)]
		fhir: bool,
	},
	/// Appoint or remove a guardian who may act for you.
	#[command(subcommand)]
	Guardian(GuardianCommand),
	/// Consent to research purposes, or withdraw it.
	#[command(subcommand)]
	Consent(ConsentCommand),
	/// Break-glass access for staff with the emergency role.
	#[command(subcommand)]
	Emergency(EmergencyCommand),
	/// A patient's audit trail and read receipts, with every receipt checked against the chain.
	#[command(after_help = "Examples:\n  phr audit 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\n  phr audit <patient> --json --nodes http://h1:9944,http://h2:9944")]
	Audit {
		patient: String,
		/// Nodes to ask for read receipts (each node keeps the receipts it served); default --node.
		#[arg(long, value_delimiter = ',')]
		nodes: Vec<String>,
		/// Print the trail and the verified reads as FHIR R4 AuditEvent resources (a collection Bundle).
		#[arg(long)]
		fhir: bool,
	},
	/// Hospital admins: onboard patients, register staff, vote on members.
	#[command(subcommand)]
	Admin(AdminCommand),
	/// Serve the web portal (the built `web/dist`) on this machine; the browser talks to the nodes
	/// directly and keeps every key.
	#[command(after_help = "Example:\n  phr portal --dir web/dist --listen 127.0.0.1:8080 --nodes ws://127.0.0.1:9944,ws://127.0.0.1:9945")]
	Portal {
		/// The built portal.
		#[arg(long, default_value = "web/dist")]
		dir: PathBuf,
		#[arg(long, default_value = "127.0.0.1:8080")]
		listen: std::net::SocketAddr,
		/// The nodes the portal may talk to (ws:// addresses, optionally NAME=ws://...); default --node.
		#[arg(long, value_delimiter = ',')]
		nodes: Vec<String>,
	},
}

#[derive(Subcommand)]
pub enum KeysCommand {
	/// Create a wallet with a new account (prints its mnemonic once).
	#[command(after_help = "Example:\n  phr keys new --wallet me.json")]
	New,
	/// Create a wallet for an existing account: a mnemonic, a secret URI (//Alice) or a 0x seed.
	#[command(after_help = "Examples:\n  phr keys import //Bob --wallet bob.json\n  phr keys import \"bottom drive obey lake ...\"")]
	Import { secret: String },
	/// Show the account, the public keys and what the chain has registered.
	#[command(after_help = "Example:\n  phr keys show --json")]
	Show,
	/// Register the wallet's encryption and request keys on chain (once, after onboarding).
	#[command(after_help = "Example:\n  phr keys register")]
	Register,
	/// New encryption and request keys on chain (epoch + 1); your records' data keys are
	/// re-wrapped for the new key.
	#[command(after_help = "Example:\n  phr keys rotate")]
	Rotate,
}

#[derive(Subcommand)]
pub enum RecordCommand {
	/// Encrypt and add a file; a FHIR R4 Bundle becomes one record per resource.
	#[command(after_help = "Examples:\n  phr record add labs.json                 # a FHIR Bundle: one record per resource\n  phr record add scan.dcm --category imaging\n  phr record add note.pdf --for <patient>   # staff with an append grant")]
	Add {
		file: PathBuf,
		/// The category, when it is not FHIR (observation, condition, medication, immunization,
		/// allergy, procedure, imaging, document, other).
		#[arg(long)]
		category: Option<String>,
		/// The patient the record is for (staff); default: yourself.
		#[arg(long = "for")]
		patient: Option<String>,
	},
	/// Fetch, check and decrypt a record.
	#[command(after_help = "Examples:\n  phr record get 3 -o labs.json\n  phr record get 3 -o labs.json --purpose emergency")]
	Get {
		record: u64,
		#[arg(short, long)]
		output: PathBuf,
		/// treatment (default), emergency, or research:<code>.
		#[arg(long, default_value = "treatment")]
		purpose: String,
	},
	/// List your records (or a patient's).
	#[command(after_help = "Example:\n  phr record list --json")]
	List {
		#[arg(long)]
		patient: Option<String>,
	},
	/// Erase a record and all its versions: every node purges the ciphertext.
	#[command(after_help = "Example:\n  phr record erase 3")]
	Erase { record: u64 },
	/// Export your FHIR records as one collection Bundle, or rebuild one Bundle you added (its type,
	/// identifier, fullUrls and requests) with --bundle <its manifest record>.
	#[command(after_help = "Examples:\n  phr record export -o all.json\n  phr record export --bundle 12 -o visit.json")]
	Export {
		#[arg(short, long)]
		output: PathBuf,
		#[arg(long)]
		patient: Option<String>,
		/// The manifest record `phr record add` reported for a Bundle.
		#[arg(long)]
		bundle: Option<u64>,
	},
}

#[derive(Args)]
pub struct GrantArgs {
	/// Grant one account.
	#[arg(long, conflicts_with_all = ["hospital", "policy_roles"])]
	pub to: Option<String>,
	/// Grant staff of this hospital holding --role.
	#[arg(long, requires = "role")]
	pub hospital: Option<u32>,
	#[arg(long)]
	pub role: Option<String>,
	/// Grant staff holding one of these roles (attribute policy)...
	#[arg(long, value_delimiter = ',')]
	pub policy_roles: Vec<String>,
	/// ...in one of these departments...
	#[arg(long, value_delimiter = ',')]
	pub policy_departments: Vec<String>,
	/// ...at one of these facilities...
	#[arg(long, value_delimiter = ',')]
	pub policy_facilities: Vec<String>,
	/// ...of these hospitals (a policy names the hospitals whose admins it trusts to assign the
	/// roles and attributes it matches)...
	#[arg(long, value_delimiter = ',', conflicts_with = "consortium_wide")]
	pub policy_hospitals: Vec<u32>,
	/// ...or of EVERY member hospital, present and future (asks for confirmation).
	#[arg(long)]
	pub consortium_wide: bool,
	/// Confirm a consortium-wide policy without asking.
	#[arg(long, requires = "consortium_wide")]
	pub yes: bool,
	/// Categories in scope (or "all").
	#[arg(long, value_delimiter = ',')]
	pub categories: Vec<String>,
	/// Records in scope.
	#[arg(long, value_delimiter = ',')]
	pub records: Vec<u64>,
	/// read, append, or both.
	#[arg(long, value_delimiter = ',', default_value = "read")]
	pub rights: Vec<String>,
	/// How long: 30m, 1h, 7d.
	#[arg(long)]
	pub expires: String,
	/// Only between these UTC times, e.g. 08:00-18:00.
	#[arg(long)]
	pub hours: Option<String>,
	/// Only for staff at this facility.
	#[arg(long)]
	pub facility: Option<String>,
	/// Grant for this patient (a guardian); default: yourself.
	#[arg(long)]
	pub patient: Option<String>,
	/// Sign the grant for a relayer instead of sending it as an extrinsic of its own: it travels in
	/// an `Access::grant_batch` (here, a batch of one sent by this wallet; a hospital's gateway
	/// batches many patients' grants). The patient's own grants only.
	#[arg(long)]
	pub relayed: bool,
}

#[derive(Subcommand)]
pub enum GuardianCommand {
	/// Appoint a guardian.
	#[command(after_help = "Example:\n  phr guardian add <account> --read --manage-grants")]
	Add {
		guardian: String,
		#[arg(long)]
		read: bool,
		#[arg(long)]
		manage_grants: bool,
	},
	/// Remove a guardian.
	#[command(after_help = "Example:\n  phr guardian remove <account>")]
	Remove {
		guardian: String,
		#[arg(long)]
		patient: Option<String>,
	},
}

#[derive(Subcommand)]
pub enum ConsentCommand {
	/// Consent to a research purpose for some categories until an expiry.
	#[command(after_help = "Example:\n  phr consent add 4711 --categories observation,condition --expires 365d")]
	Add {
		purpose: u32,
		#[arg(long, value_delimiter = ',')]
		categories: Vec<String>,
		#[arg(long)]
		expires: String,
	},
	/// Withdraw a consent.
	#[command(after_help = "Example:\n  phr consent remove 4711")]
	Remove { purpose: u32 },
}

#[derive(Subcommand)]
pub enum EmergencyCommand {
	/// Open break-glass access to a patient's records (emergency role); the patient is notified
	/// and an auditor of your hospital must review it.
	#[command(after_help = "Example:\n  phr emergency open <patient> --reason \"unconscious, ER admission 02:14\" --minutes 60")]
	Open {
		patient: String,
		#[arg(long)]
		reason: String,
		#[arg(long, default_value_t = 60)]
		minutes: u64,
	},
	/// Mark a break-glass opening reviewed (auditor of the hospital).
	#[command(after_help = "Example:\n  phr emergency review 0")]
	Review { emergency: u64 },
}

#[derive(Subcommand)]
pub enum AdminCommand {
	/// Onboard a patient at your hospital (also one another hospital offboarded, or whose
	/// hospital left the consortium: it moves to yours with its records).
	#[command(after_help = "Example:\n  phr admin onboard <account>")]
	Onboard { patient: String },
	/// Offboard a patient of your hospital: it keeps its records and may still revoke, withdraw
	/// consent and erase, but no longer add records or grant access.
	#[command(after_help = "Example:\n  phr admin offboard <account>")]
	Offboard { patient: String },
	/// Register staff at your hospital.
	#[command(after_help = "Example:\n  phr admin staff <account> --roles physician,emergency --department cardiology --facility H2")]
	Staff {
		account: String,
		#[arg(long, value_delimiter = ',')]
		roles: Vec<String>,
		#[arg(long, default_value = "")]
		department: String,
		#[arg(long, default_value = "")]
		facility: String,
	},
	/// Approve a pending consortium proposal.
	#[command(after_help = "Example:\n  phr admin approve 2")]
	Approve { proposal: u32 },
	/// Propose a new member hospital: its id, admin account, validator account and node peer id.
	#[command(after_help = "Example:\n  phr admin propose-member 5 --admin <account> --validator <account> --peer-id 12D3KooW...")]
	ProposeMember {
		hospital: u32,
		#[arg(long)]
		admin: String,
		#[arg(long)]
		validator: String,
		#[arg(long)]
		peer_id: String,
	},
	/// Propose removing a member hospital.
	#[command(after_help = "Example:\n  phr admin propose-removal 4")]
	ProposeRemoval { hospital: u32 },
	/// Propose a new validator account and/or node for a member hospital (key compromise, new
	/// hardware); effective from the session after the one in which it passes.
	#[command(after_help = "Example:\n  phr admin propose-validator 2 --validator <account> --peer-id 12D3KooW...")]
	ProposeValidator {
		hospital: u32,
		#[arg(long)]
		validator: String,
		#[arg(long)]
		peer_id: String,
	},
	/// Validators: generate new session keys (Aura, GRANDPA) in the keystore of the node given with
	/// --node (your validator's own node; its unsafe RPC, open on its loopback) and register them
	/// on chain for this wallet's account, the hospital's validator account, with the proof that
	/// the node holds them. In force from the session after next.
	#[command(after_help = "Example:\n  phr admin session-keys --node http://127.0.0.1:9944 --wallet validator.json")]
	SessionKeys,
	/// Propose a runtime upgrade to this WASM blob: the vote authorizes its hash, the blob itself
	/// is not stored on chain until it is applied. Checked first against the chain's runtime.
	#[command(after_help = "Example:\n  phr admin propose-upgrade target/release/wbuild/phr-runtime/phr_runtime.compact.compressed.wasm")]
	ProposeUpgrade { wasm: std::path::PathBuf },
	/// Propose a new rate window for the transaction pool: at most MAX extrinsics of one account
	/// included per WINDOW blocks. Carried out with the consortium's origin once the members
	/// approve (`Consortium::set_rate_limit`, dispatched by the proposal).
	#[command(after_help = "Example:\n  phr admin propose-rate-limit --max 1200 --window 30")]
	ProposeRateLimit {
		#[arg(long)]
		max: u32,
		#[arg(long)]
		window: u32,
	},
	/// Propose any call of the runtime (SCALE-encoded, hex), to be dispatched with the
	/// consortium's origin once the members approve: the privileged calls of the runtime's pallets.
	/// The call is decoded and shown before it is proposed.
	#[command(after_help = "Example:\n  phr admin propose-call 0x0308640000001e000000")]
	ProposeCall { call: String },
	/// Enact an upgrade the consortium authorized: submits the blob (any account, or none, may).
	#[command(after_help = "Example:\n  phr admin apply-upgrade target/release/wbuild/phr-runtime/phr_runtime.compact.compressed.wasm")]
	ApplyUpgrade { wasm: std::path::PathBuf },
}

fn main() {
	let started = std::time::Instant::now();
	let cli = Cli::parse();
	if let Err(error) = commands::run(cli) {
		eprintln!("error: {error}");
		std::process::exit(error.exit_code());
	}
	// What verified reads cost this command (the wallet benchmark reads it).
	if std::env::var_os("PHR_TIMING").is_some() {
		eprintln!("timing: {:.1} ms in all, {:.1} ms verifying", started.elapsed().as_secs_f64() * 1e3, verified::verifying_ms());
	}
}
