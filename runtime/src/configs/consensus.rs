//! Aura (block production), GRANDPA (finality) and the sessions that hand both their validators.

use crate::{AccountId, Balances, Consortium, Runtime, RuntimeEvent, SessionKeys, SLOT_DURATION};
use frame_support::{
	parameter_types,
	traits::{ConstBool, ConstU128, ConstU32, ConstU64},
};
use sp_consensus_aura::sr25519::AuthorityId as AuraId;

/// Most validators: one per member hospital.
pub type MaxValidators = ConstU32<{ super::MAX_MEMBERS }>;

parameter_types! {
	/// A session lasts 10 blocks (20 s): a validator change voted by the consortium is live within
	/// two sessions, under a minute.
	pub const SessionPeriod: crate::BlockNumber = 10;
	pub const SessionOffset: crate::BlockNumber = 0;
}

impl pallet_aura::Config for Runtime {
	type AuthorityId = AuraId;
	type DisabledValidators = ();
	type MaxAuthorities = MaxValidators;
	type AllowMultipleBlocksPerSlot = ConstBool<false>;
	type SlotDuration = ConstU64<SLOT_DURATION>;
}

impl pallet_grandpa::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type WeightInfo = ();
	type MaxAuthorities = MaxValidators;
	type MaxNominators = ConstU32<0>;
	type MaxSetIdSessionEntries = ConstU64<0>;
	// No equivocation reports: a misbehaving hospital is dealt with by consortium vote.
	type KeyOwnerProof = sp_core::Void;
	type EquivocationReportSystem = ();
}

impl pallet_session::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type ValidatorId = AccountId;
	/// Only a member's validator account may set session keys.
	type ValidatorIdOf = pallet_consortium::MemberValidator<Runtime>;
	type ShouldEndSession = pallet_session::PeriodicSessions<SessionPeriod, SessionOffset>;
	type NextSessionRotation = pallet_session::PeriodicSessions<SessionPeriod, SessionOffset>;
	type SessionManager = Consortium;
	type SessionHandler = <SessionKeys as sp_runtime::traits::OpaqueKeys>::KeyTypeIdProviders;
	type Keys = SessionKeys;
	type DisablingStrategy = ();
	type WeightInfo = pallet_session::weights::SubstrateWeight<Runtime>;
	type Currency = Balances;
	/// No deposit: there is no token; setting keys is limited to member validators instead.
	type KeyDeposit = ConstU128<0>;
}
