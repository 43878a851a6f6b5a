//! The structs the consortium pallet keeps in storage and carries in proposals.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{traits::{ConstU32, Get}, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound};
use phr_primitives::{AttributeCode, HospitalId, NodePeerId, RoleSet};
use scale_info::TypeInfo;

/// A hospital of the consortium.
#[derive(Encode, Decode, Clone, PartialEq, Eq, MaxEncodedLen, TypeInfo, Debug)]
#[scale_info(skip_type_params(MaxAdmins))]
pub struct MemberInfo<AccountId, BlockNumber, MaxAdmins: Get<u32>> {
	/// Accounts that manage this hospital's staff and patients. Never empty.
	pub admins: BoundedVec<AccountId, MaxAdmins>,
	/// The account whose session keys (Aura, GRANDPA) make this hospital's node a validator.
	pub validator: AccountId,
	/// The libp2p peer id of the hospital's node: only member nodes may peer.
	pub node: NodePeerId,
	/// Block at which the consortium voted the hospital in (0 for founding members).
	pub joined_at: BlockNumber,
}

/// A change to the consortium that members vote on.
#[derive(
	Encode, Decode, DecodeWithMemTracking, CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound,
	MaxEncodedLen, TypeInfo,
)]
#[scale_info(skip_type_params(MaxAdmins))]
pub enum ConsortiumAction<AccountId: Clone + PartialEq + Eq + core::fmt::Debug, MaxAdmins: Get<u32>> {
	/// Admit a hospital with its admins, validator account and node.
	AddMember {
		hospital: HospitalId,
		admins: BoundedVec<AccountId, MaxAdmins>,
		validator: AccountId,
		node: NodePeerId,
	},
	/// Expel a hospital: its admins, validator and staff lose their registration and its vote.
	RemoveMember { hospital: HospitalId },
	/// Move a hospital's validator to another account and/or node (key compromise, new hardware).
	ChangeValidator { hospital: HospitalId, validator: AccountId, node: NodePeerId },
	/// Replace a hospital's admin accounts.
	ChangeAdmins { hospital: HospitalId, admins: BoundedVec<AccountId, MaxAdmins> },
	/// Authorize a runtime upgrade to the WASM blob with this blake2-256 hash. Anyone may then
	/// enact it with `System::apply_authorized_upgrade(code)`, which checks the hash, that the spec
	/// name is unchanged and that the spec version grows. The blob is never stored in a proposal.
	AuthorizeUpgrade { code_hash: [u8; 32] },
	/// Dispatch a call (SCALE-encoded `RuntimeCall`) with the consortium's own origin,
	/// [`crate::Origin::Consortium`], which only a passed proposal has: how the consortium uses the
	/// privileged calls of the runtime's pallets (their `AdminOrigin`). The call must decode and
	/// weigh at most [`crate::Config::MaxDispatchWeight`], checked when proposed and again when it
	/// passes; a call that then fails is reported in `Executed` and changes nothing.
	Dispatch { call: EncodedCall },
}

/// Most bytes of a call a proposal may carry.
pub const MAX_ENCODED_CALL: u32 = 4 * 1024;

/// A SCALE-encoded runtime call carried by a proposal.
pub type EncodedCall = BoundedVec<u8, ConstU32<MAX_ENCODED_CALL>>;

/// The rate window in force: how many extrinsics one account may have included per window, and
/// the window's length in blocks. Set by the consortium (`set_rate_limit`); until it is, the
/// runtime's defaults ([`crate::Config::MaxExtrinsicsPerWindow`], [`crate::Config::RateWindowBlocks`]).
#[derive(Encode, Decode, DecodeWithMemTracking, Clone, Copy, PartialEq, Eq, MaxEncodedLen, TypeInfo, Debug)]
pub struct RateLimit<BlockNumber> {
	pub max_per_window: u32,
	pub window_blocks: BlockNumber,
}

/// An open proposal and the members that approved it so far.
#[derive(Encode, Decode, Clone, PartialEq, Eq, MaxEncodedLen, TypeInfo, Debug)]
#[scale_info(skip_type_params(MaxAdmins, MaxMembers))]
pub struct Proposal<
	AccountId: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber,
	MaxAdmins: Get<u32>,
	MaxMembers: Get<u32>,
> {
	/// The hospital whose admin proposed it.
	pub proposer: HospitalId,
	pub action: ConsortiumAction<AccountId, MaxAdmins>,
	/// Hospitals that approved, sorted, no duplicates. Only current members count.
	pub approvals: BoundedVec<HospitalId, MaxMembers>,
	/// After this block the proposal can no longer be approved, only pruned.
	pub expires_at: BlockNumber,
}

/// A registered member of a hospital's staff.
#[derive(Encode, Decode, Clone, PartialEq, Eq, MaxEncodedLen, TypeInfo, Debug)]
pub struct StaffInfo<BlockNumber> {
	pub hospital: HospitalId,
	/// Never contains [`phr_primitives::Role::Admin`]: that role comes from the member's admin list.
	pub roles: RoleSet,
	pub department: AttributeCode,
	pub facility: AttributeCode,
	pub registered_at: BlockNumber,
}

/// A patient onboarded by a hospital. The patient belongs to the consortium, not to that hospital:
/// the record stays when the hospital leaves, and so do the patient's rights over it.
#[derive(Encode, Decode, Clone, PartialEq, Eq, MaxEncodedLen, TypeInfo, Debug)]
pub struct PatientInfo<BlockNumber> {
	pub onboarded_by: HospitalId,
	pub onboarded_at: BlockNumber,
	/// Set when `onboarded_by` offboarded the patient. An offboarded patient can no longer add
	/// records or grant access, but keeps every right that takes exposure back (revoke, withdraw
	/// consent, remove a guardian, re-key, erase) and may be onboarded by another member.
	pub offboarded: Option<Offboarding<BlockNumber>>,
}

/// When and by which hospital a patient was offboarded.
#[derive(Encode, Decode, Clone, Copy, PartialEq, Eq, MaxEncodedLen, TypeInfo, Debug)]
pub struct Offboarding<BlockNumber> {
	pub by: HospitalId,
	pub at: BlockNumber,
}

impl<BlockNumber> PatientInfo<BlockNumber> {
	pub fn is_active(&self) -> bool {
		self.offboarded.is_none()
	}
}

/// What a signer may do, as the transaction pool sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Standing {
	/// An admin or validator of a member, staff of a current member, or an active patient.
	Registered,
	/// An offboarded patient: only the calls the runtime keeps for them (`Config::RetainedRights`).
	RetainedRights,
	/// Unknown to the consortium.
	Unregistered,
}

/// Extrinsics an account has had included in the current rate-limit window.
#[derive(Encode, Decode, Clone, Copy, PartialEq, Eq, Default, MaxEncodedLen, TypeInfo, Debug)]
pub struct RateWindow<BlockNumber> {
	/// First block of the window.
	pub start: BlockNumber,
	pub used: u32,
}
