//! # The PHR consortium runtime
//!
//! The state transition function that every hospital's node runs: block production by Aura,
//! finality by GRANDPA, a validator set that `pallet-session` takes from the consortium pallet, and
//! the PHR pallets. Compiled to WebAssembly and stored on chain, so that an upgrade is itself a
//! consortium decision.
//!
//! Layout: this file holds the types, the version and the pallet list; `configs/` configures each
//! area; `apis.rs` implements the runtime APIs; `genesis_config_presets.rs` the chain presets.

#![cfg_attr(not(feature = "std"), no_std)]
// `construct_runtime` and `impl_runtime_apis` expand to large amounts of code.
#![recursion_limit = "256"]

#[cfg(feature = "std")]
include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));

extern crate alloc;

pub mod apis;
pub mod configs;
pub mod genesis_config_presets;
pub mod weights;

use alloc::{borrow::Cow, vec::Vec};
use sp_runtime::{
	generic, impl_opaque_keys,
	traits::{BlakeTwo256, IdentifyAccount, Verify},
	MultiAddress, MultiSignature,
};
use sp_version::RuntimeVersion;

pub use frame_system::Call as SystemCall;
pub use pallet_consortium::Call as ConsortiumCall;
#[cfg(any(feature = "std", test))]
pub use sp_runtime::BuildStorage;

/// Types the node handles without knowing the runtime's extrinsic format.
pub mod opaque {
	use super::*;
	pub use sp_runtime::OpaqueExtrinsic as UncheckedExtrinsic;

	pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
	pub type Block = generic::Block<Header, UncheckedExtrinsic>;
	pub type Hash = <BlakeTwo256 as sp_runtime::traits::Hash>::Output;
}

impl_opaque_keys! {
	/// The keys a validator registers with `Session::set_keys`.
	pub struct SessionKeys {
		pub aura: Aura,
		pub grandpa: Grandpa,
	}
}

#[sp_version::runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
	spec_name: Cow::Borrowed("phr-consortium"),
	impl_name: Cow::Borrowed("phr-consortium"),
	authoring_version: 1,
	spec_version: 106,
	impl_version: 1,
	apis: apis::RUNTIME_API_VERSIONS,
	transaction_version: 1,
	system_version: 1,
};

/// Block time. A consortium network is a handful of hospitals on dedicated links, with round trips
/// of a few milliseconds, so a block every 2 s leaves Aura's author most of the slot to build a
/// full block and GRANDPA a full round per block. See docs/architecture.md#block-time.
pub const MILLISECS_PER_BLOCK: u64 = 2_000;

/// Aura's slot. Fixed for the life of the chain: changing it would stall block production.
pub const SLOT_DURATION: u64 = MILLISECS_PER_BLOCK;

pub const MINUTES: BlockNumber = 60_000 / (MILLISECS_PER_BLOCK as BlockNumber);
pub const HOURS: BlockNumber = MINUTES * 60;
pub const DAYS: BlockNumber = HOURS * 24;

/// Signatures of extrinsics: sr25519, ed25519 or ecdsa keys.
pub type Signature = MultiSignature;
/// An account is its public key.
pub type AccountId = <<Signature as Verify>::Signer as IdentifyAccount>::AccountId;
/// Balances exist only because pallet-session's key deposit needs a currency: nobody holds any.
pub type Balance = u128;
pub type Nonce = u32;
pub type Hash = sp_core::H256;
pub type BlockNumber = u32;
pub type Address = MultiAddress<AccountId, ()>;
pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
pub type Block = generic::Block<Header, UncheckedExtrinsic>;

/// The checks every signed extrinsic passes. `RegisteredSigner` comes before `CheckNonce` so that an
/// unregistered signer gets its own error rather than the nonce check's.
pub type TxExtension = (
	frame_system::CheckNonZeroSender<Runtime>,
	frame_system::CheckSpecVersion<Runtime>,
	frame_system::CheckTxVersion<Runtime>,
	frame_system::CheckGenesis<Runtime>,
	frame_system::CheckEra<Runtime>,
	pallet_consortium::RegisteredSigner<Runtime>,
	frame_system::CheckNonce<Runtime>,
	frame_system::CheckWeight<Runtime>,
);

pub type UncheckedExtrinsic = generic::UncheckedExtrinsic<Address, RuntimeCall, Signature, TxExtension>;
pub type SignedPayload = generic::SignedPayload<RuntimeCall, TxExtension>;

/// What a signature commits to besides the call and the nonce: the chain and the runtime version.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug)]
pub struct SigningContext {
	pub genesis: Hash,
	pub spec_version: u32,
	pub transaction_version: u32,
}

/// An immortal signed extrinsic calling `call` from `signer` with `nonce`; `sign` signs the payload
/// bytes (the node's keystore, a wallet, a test keyring).
#[cfg(feature = "std")]
pub fn signed_extrinsic(
	context: &SigningContext,
	call: RuntimeCall,
	signer: AccountId,
	nonce: Nonce,
	sign: impl FnOnce(&[u8]) -> Signature,
) -> UncheckedExtrinsic {
	use codec::Encode;
	let extension: TxExtension = (
		frame_system::CheckNonZeroSender::<Runtime>::new(),
		frame_system::CheckSpecVersion::<Runtime>::new(),
		frame_system::CheckTxVersion::<Runtime>::new(),
		frame_system::CheckGenesis::<Runtime>::new(),
		frame_system::CheckEra::<Runtime>::from(generic::Era::Immortal),
		pallet_consortium::RegisteredSigner::<Runtime>::new(),
		frame_system::CheckNonce::<Runtime>::from(nonce),
		frame_system::CheckWeight::<Runtime>::new(),
	);
	let implicit = ((), context.spec_version, context.transaction_version, context.genesis, context.genesis, (), (), ());
	let payload = SignedPayload::from_raw(call.clone(), extension.clone(), implicit);
	let signature = payload.using_encoded(sign);
	UncheckedExtrinsic::new_signed(call, MultiAddress::Id(signer), signature, extension)
}

/// Storage migrations run by the upgrade that enacts this runtime, each guarded by its pallet's
/// storage version (a migration already applied is skipped). docs/operator.md, "Runtime upgrades".
pub type Migrations = (pallet_consortium::migrations::v1::MigrateV0ToV1<Runtime>,);

pub type Executive = frame_executive::Executive<
	Runtime,
	Block,
	frame_system::ChainContext<Runtime>,
	Runtime,
	AllPalletsWithSystem,
	Migrations,
>;

#[frame_support::runtime]
mod runtime {
	#[runtime::runtime]
	#[runtime::derive(
		RuntimeCall,
		RuntimeEvent,
		RuntimeError,
		RuntimeOrigin,
		RuntimeFreezeReason,
		RuntimeHoldReason,
		RuntimeSlashReason,
		RuntimeLockId,
		RuntimeTask,
		RuntimeViewFunction
	)]
	pub struct Runtime;

	#[runtime::pallet_index(0)]
	pub type System = frame_system;

	#[runtime::pallet_index(1)]
	pub type Timestamp = pallet_timestamp;

	#[runtime::pallet_index(2)]
	pub type Balances = pallet_balances;

	// Built before Session at genesis: Session asks it for the first validator set.
	#[runtime::pallet_index(3)]
	pub type Consortium = pallet_consortium;

	#[runtime::pallet_index(4)]
	pub type Session = pallet_session;

	#[runtime::pallet_index(5)]
	pub type Aura = pallet_aura;

	#[runtime::pallet_index(6)]
	pub type Grandpa = pallet_grandpa;

	#[runtime::pallet_index(10)]
	pub type Records = pallet_records;

	#[runtime::pallet_index(11)]
	pub type Keys = pallet_keys;

	#[runtime::pallet_index(12)]
	pub type Access = pallet_access;
}
