//! The consortium: members, votes, staff, patients, and the permissioned transaction pool.

use crate::{BlockNumber, Runtime, RuntimeCall, RuntimeOrigin, DAYS};
use frame_support::{
	parameter_types,
	traits::{ConstU32, Contains},
	weights::Weight,
};
use sp_runtime::Perbill;

/// Most member hospitals (and so validators).
pub const MAX_MEMBERS: u32 = 32;

parameter_types! {
	/// Strictly more than two thirds of the members must approve: the same supermajority that
	/// GRANDPA needs, so no proposal passes without the hospitals that keep the chain final.
	pub const MoreThanTwoThirds: Perbill = Perbill::from_parts(666_666_667);
	/// A proposal may be approved for a week.
	pub const ProposalLifetime: BlockNumber = 7 * DAYS;
	/// Rate window: 30 blocks (one minute).
	pub const RateWindowBlocks: BlockNumber = 30;
	/// A proposal may dispatch a call of up to a tenth of a block's execution time.
	pub MaxDispatchWeight: Weight = super::system::RuntimeBlockWeights::get().max_block / 10;
}

impl pallet_consortium::Config for Runtime {
	type MaxMembers = ConstU32<MAX_MEMBERS>;
	type MaxAdminsPerMember = ConstU32<8>;
	type MaxProposals = ConstU32<64>;
	/// Four open proposals per member: enough for an upgrade, a membership change and a key
	/// change at once; 32 members cannot be shut out by one (64 slots).
	type MaxProposalsPerMember = ConstU32<4>;
	type ProposalLifetime = ProposalLifetime;
	type ApprovalThreshold = MoreThanTwoThirds;
	/// 600 extrinsics per account per minute (10 per second on average): far above what a patient's
	/// wallet or a hospital's integration sends, far below a full block (several thousand).
	type MaxExtrinsicsPerWindow = ConstU32<600>;
	type RateWindowBlocks = RateWindowBlocks;
	type RetainedRights = PatientRights;
	type HasSessionKeys = SessionKeysRegistered;
	type OuterOrigin = RuntimeOrigin;
	/// The consortium's own parameters change only by a passed proposal.
	type AdminOrigin = pallet_consortium::EnsureConsortium;
	type MaxDispatchWeight = MaxDispatchWeight;
	type WeightInfo = pallet_consortium::weights::SubstrateWeight<Runtime>;
}

/// Accounts with session keys registered in pallet-session.
pub struct SessionKeysRegistered;

impl Contains<crate::AccountId> for SessionKeysRegistered {
	fn contains(who: &crate::AccountId) -> bool {
		pallet_session::NextKeys::<Runtime>::contains_key(who)
	}
}

/// What a patient may still sign after its hospital offboarded it: every call that takes exposure
/// back. Revoking, withdrawing a consent, ending a guardianship, rotating its own keys and re-keying
/// its records (the second half of a revocation), erasing a record. Not: new records, new grants,
/// longer grants, new consents, new guardians (docs/threat-model.md, C9).
pub struct PatientRights;

impl Contains<RuntimeCall> for PatientRights {
	fn contains(call: &RuntimeCall) -> bool {
		use pallet_access::Call as Access;
		use pallet_keys::Call as Keys;
		use pallet_records::Call as Records;
		matches!(
			call,
			RuntimeCall::Access(Access::revoke { .. } | Access::withdraw_consent { .. } | Access::remove_guardian { .. }) |
				RuntimeCall::Keys(Keys::rotate_keys { .. } | Keys::rotate_data_key { .. }) |
				RuntimeCall::Records(Records::erase { .. })
		)
	}
}
