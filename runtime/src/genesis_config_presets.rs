//! Genesis presets: `dev` (one hospital, one validator), `local-consortium` (four hospitals on one
//! machine) and `deployment-template` (the shape of a real consortium's genesis, with placeholders).
//!
//! Chain specs in chain-spec/ are generated from these by `scripts/gen-chain-specs.sh`.

use crate::{AccountId, RuntimeGenesisConfig, SessionKeys};
use alloc::{vec, vec::Vec};
use frame_support::build_struct_json_patch;
use pallet_grandpa::AuthorityId as GrandpaId;
use phr_primitives::{AccountKeys, HospitalId, Role};
use serde_json::Value;
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_genesis_builder::{PresetId, DEV_RUNTIME_PRESET};
use sp_keyring::{Ed25519Keyring, Sr25519Keyring};

/// The four-hospital network that `scripts/run-consortium.sh` starts on one machine.
pub const LOCAL_CONSORTIUM_PRESET: &str = "local-consortium";
/// A real deployment's genesis, to copy and fill in (see docs/operator.md).
pub const DEPLOYMENT_TEMPLATE_PRESET: &str = "deployment-template";

/// The ed25519 public keys of the local consortium's node keys. Each node's secret is
/// `blake2b-256("phr-local-consortium-node-H<n>")`, passed with `--node-key` by
/// `scripts/run-consortium.sh`; a node test checks that secrets and public keys agree.
/// Development secrets: never use them outside the local network.
pub const LOCAL_NODE_PUBLIC_KEYS: [[u8; 32]; 4] = [
	hex_literal("4f0fbc92176d4264a56306ebcb1878bf39d6ec9da438e3f5e9b2bc1e6942ccc2"),
	hex_literal("397a45c09066377686ab821adfc25bd980ad1b384e798a0ccae34ff3b572bf9e"),
	hex_literal("2aeef1042733ecbd5b175e609dbb8c6fc8075aa24edd8bd234355dd80d9ec68b"),
	hex_literal("2707584ec2bd7788672554c903c8dd27d6974f962a54f4c15883aa6b59e3ac72"),
];

/// The X25519 public keys of the local consortium's escrow keys (break-glass shares). Each
/// hospital's secret is `blake2b-256("phr-local-consortium-escrow-H<n>")`, in
/// scripts/local-escrow-keys, passed with `--escrow-key-file`; a node test checks that secrets and
/// public keys agree. Development secrets: never use them outside the local network.
pub const LOCAL_ESCROW_PUBLIC_KEYS: [[u8; 32]; 4] = [
	hex_literal("2fa442d4e74bf460fe5503edc6fd9f2a935c4204951ff1362465a542ec901e78"),
	hex_literal("734b5dfd4229e7502d36633cc6e9f00a5bb78f1ecc25d3bd69dcfacc982c9411"),
	hex_literal("1d05493e9c2460b33618815e4dd20636325c1d5251901e3e6146af5c1a679433"),
	hex_literal("5788b4d98ecbea2b3e32c975c1c36c715c4dd9164978d207a0b135f46d09d21b"),
];

/// The X25519 public key of the dev chain's escrow key, the one `--dev` derives from the dev seed
/// (`blake2b-256("phr-development-escrow-key//Alice")`; checked by a node test).
pub const DEV_ESCROW_PUBLIC_KEY: [u8; 32] = hex_literal("6a41e65857970ea5db21496457aabdb78eb3f34e0f90427ea62cbf5bb3f71f42");

/// The libp2p peer id of an ed25519 node key: the identity multihash (0x00, length 36) of the
/// protobuf-encoded public key (type ed25519 = 1, 32 bytes of key).
pub fn ed25519_peer_id(public: &[u8; 32]) -> Vec<u8> {
	let mut peer = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
	peer.extend_from_slice(public);
	peer
}

const fn hex_literal(hex: &str) -> [u8; 32] {
	const fn nibble(c: u8) -> u8 {
		match c {
			b'0'..=b'9' => c - b'0',
			b'a'..=b'f' => c - b'a' + 10,
			_ => panic!("not a lowercase hex digit"),
		}
	}
	let bytes = hex.as_bytes();
	assert!(bytes.len() == 64, "expected 32 bytes of hex");
	let mut out = [0u8; 32];
	let mut i = 0;
	while i < 32 {
		out[i] = nibble(bytes[2 * i]) << 4 | nibble(bytes[2 * i + 1]);
		i += 1;
	}
	out
}

/// One founding hospital of a preset.
struct Founder {
	hospital: HospitalId,
	admins: Vec<AccountId>,
	validator: AccountId,
	aura: AuraId,
	grandpa: GrandpaId,
	node: Vec<u8>,
	/// The hospital's escrow key, registered for its validator account at genesis (with the
	/// validator's ed25519 key as the account's request key), or none: its node registers it.
	escrow: Option<AccountKeys>,
}

fn founder(hospital: HospitalId, admin: Sr25519Keyring, validator: Sr25519Keyring, grandpa: Ed25519Keyring, node: Vec<u8>) -> Founder {
	Founder {
		hospital,
		admins: vec![admin.to_account_id()],
		validator: validator.to_account_id(),
		aura: validator.public().into(),
		grandpa: grandpa.public().into(),
		node,
		escrow: None,
	}
}

impl Founder {
	fn with_escrow(mut self, escrow: [u8; 32], request_key: Ed25519Keyring) -> Founder {
		self.escrow = Some(AccountKeys { encryption: escrow, request_signing: request_key.public().0 });
		self
	}
}

fn genesis(
	founders: Vec<Founder>,
	staff: Vec<(AccountId, HospitalId, Vec<Role>, Vec<u8>, Vec<u8>)>,
	patients: Vec<(AccountId, HospitalId)>,
) -> Value {
	let keys: Vec<_> = founders.iter().filter_map(|f| f.escrow.clone().map(|keys| (f.validator.clone(), keys))).collect();
	let session_keys: Vec<_> = founders
		.iter()
		.map(|f| {
			(f.validator.clone(), f.validator.clone(), SessionKeys { aura: f.aura.clone(), grandpa: f.grandpa.clone() })
		})
		.collect();
	let members: Vec<_> = founders
		.into_iter()
		.map(|f| (f.hospital, f.admins, f.validator, f.node))
		.collect();
	build_struct_json_patch!(RuntimeGenesisConfig {
		consortium: pallet_consortium::GenesisConfig { members, staff, patients },
		session: pallet_session::GenesisConfig { keys: session_keys },
		keys: pallet_keys::GenesisConfig { keys },
	})
}

/// One hospital, H1: Alice is its admin and validator. Bob is a patient, Charlie a physician and
/// emergency doctor at H1, Dave an auditor at H1.
fn dev() -> Value {
	let node = ed25519_peer_id(&LOCAL_NODE_PUBLIC_KEYS[0]);
	genesis(
		vec![founder(1, Sr25519Keyring::Alice, Sr25519Keyring::Alice, Ed25519Keyring::Alice, node)
			.with_escrow(DEV_ESCROW_PUBLIC_KEY, Ed25519Keyring::Alice)],
		vec![
			(Sr25519Keyring::Charlie.to_account_id(), 1, vec![Role::Physician, Role::Emergency], b"cardiology".to_vec(), b"H1".to_vec()),
			(Sr25519Keyring::Dave.to_account_id(), 1, vec![Role::Auditor], b"compliance".to_vec(), b"H1".to_vec()),
		],
		vec![(Sr25519Keyring::Bob.to_account_id(), 1)],
	)
}

/// Four hospitals H1..H4 with validators Alice, Bob, Charlie, Dave (each also its hospital's admin)
/// and the node keys of [`LOCAL_NODE_PUBLIC_KEYS`]. GRANDPA needs three of the four to finalize, so
/// one hospital may be down. No staff or patients: the demo onboards them by extrinsic.
fn local_consortium() -> Value {
	let keys = [
		(Sr25519Keyring::Alice, Ed25519Keyring::Alice),
		(Sr25519Keyring::Bob, Ed25519Keyring::Bob),
		(Sr25519Keyring::Charlie, Ed25519Keyring::Charlie),
		(Sr25519Keyring::Dave, Ed25519Keyring::Dave),
	];
	let founders = keys
		.into_iter()
		.zip(LOCAL_NODE_PUBLIC_KEYS.iter())
		.enumerate()
		.map(|(i, ((sr, ed), node))| {
			founder(i as HospitalId + 1, sr, sr, ed, ed25519_peer_id(node)).with_escrow(LOCAL_ESCROW_PUBLIC_KEYS[i], ed)
		})
		.collect();
	genesis(founders, vec![], vec![])
}

/// The shape of a real deployment: each hospital has admin accounts separate from its validator
/// account. The keyring accounts here are placeholders: replace every account, session key and
/// node peer id with the hospitals' own before generating a chain spec (docs/operator.md).
fn deployment_template() -> Value {
	let founders = [
		(Sr25519Keyring::Eve, Sr25519Keyring::Alice, Ed25519Keyring::Alice),
		(Sr25519Keyring::Ferdie, Sr25519Keyring::Bob, Ed25519Keyring::Bob),
		(Sr25519Keyring::One, Sr25519Keyring::Charlie, Ed25519Keyring::Charlie),
		(Sr25519Keyring::Two, Sr25519Keyring::Dave, Ed25519Keyring::Dave),
	]
	.into_iter()
	.zip(LOCAL_NODE_PUBLIC_KEYS.iter())
	.enumerate()
	.map(|(i, ((admin, validator, grandpa), node))| founder(i as HospitalId + 1, admin, validator, grandpa, ed25519_peer_id(node)))
	.collect();
	genesis(founders, vec![], vec![])
}

/// The preset called `id`, as JSON.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_ref() {
		DEV_RUNTIME_PRESET => dev(),
		LOCAL_CONSORTIUM_PRESET => local_consortium(),
		DEPLOYMENT_TEMPLATE_PRESET => deployment_template(),
		_ => return None,
	};
	Some(
		serde_json::to_string(&patch)
			.expect("serialization to json is expected to work. qed.")
			.into_bytes(),
	)
}

/// The names of the presets.
pub fn preset_names() -> Vec<PresetId> {
	vec![
		PresetId::from(DEV_RUNTIME_PRESET),
		PresetId::from(LOCAL_CONSORTIUM_PRESET),
		PresetId::from(DEPLOYMENT_TEMPLATE_PRESET),
	]
}
