//! # Consortium Pallet
//!
//! The hospitals that run the PHR chain, the people they vouch for, and the votes by which the
//! consortium changes itself.
//!
//! ## Overview
//!
//! A **member** is a hospital: a [`HospitalId`], its admin accounts, the validator account whose
//! session keys author and finalize blocks, and the libp2p peer id of its node. Members are never
//! edited by hand: a member admin **proposes** a [`ConsortiumAction`], the admins of other members
//! **approve** it, and it executes in the approval that takes it over the threshold:
//! strictly more than [`Config::ApprovalThreshold`] of the current members (more than two thirds in
//! the runtime, the same bound GRANDPA needs to stay safe).
//!
//! Each member's admins register their **staff** (roles and organisational attributes) and
//! **onboard patients**. Only registered accounts (admins, validators, staff of a current member,
//! patients) may transact at all: [`RegisteredSigner`] refuses every other signer in the
//! transaction pool, and bounds how many extrinsics one account may have included per window.
//! There are no fees and no token.
//!
//! ## Lifecycle of a proposal
//!
//! 1. `propose` by an admin of member P: the action is checked against the current state, stored,
//!    and counts P's approval. With a single member it executes at once. P may have at most
//!    [`Config::MaxProposalsPerMember`] proposals open, so no member fills every slot.
//! 2. `approve` by an admin of each other member. When approvals from current members exceed the
//!    threshold, the action executes and the proposal is removed; `Executed` carries the result.
//! 3. A proposal that does not pass within [`Config::ProposalLifetime`] blocks can only be removed
//!    by `prune_expired`; its proposer's admins may `withdraw` it at any time.
//!
//! When a member is removed, its approvals are taken off every open proposal: a removed member
//! loses its vote. A proposal to remove a member is decided by the others: that member's approval
//! neither counts nor is needed ([`Pallet::tally`]), so it cannot block its own removal.
//!
//! `AuthorizeUpgrade` authorizes one runtime blob by its hash (`frame_system`'s
//! `do_authorize_upgrade`, with the version check); anyone enacts it with
//! `System::apply_authorized_upgrade`. Migrations of this pallet are in [`migrations`]. Validator changes take effect through `pallet-session`: this pallet is its
//! `SessionManager` and hands it the members' validators at the next session.
//!
//! ## Safety considerations
//!
//! - A proposal is re-checked when it executes; a stale one (say, removing a member that already
//!   left) fails with its error in `Executed` and is removed, it never half-applies.
//! - The last member can never be removed, so the chain always has a validator.
//! - The admin role is granted only by vote (a member's admin list); an admin cannot make another
//!   admin through the staff registry.
//! - Staff belong to a hospital: when the hospital leaves, its staff lose their registration at once
//!   (checked on every lookup), without an unbounded clean-up in the removal itself.
//! - No personal data: accounts are public keys, attributes are short organisational codes.
//! - A patient is never removed. Offboarding ends its hospital's vouching ([`Standing`]): it may
//!   then sign only the runtime's [`Config::RetainedRights`] (revoking, erasing...), and any
//!   member may onboard it again.
//!
//! ## Calls
//!
//! - Any member admin: `propose`, `approve`, `withdraw` (own hospital's proposals).
//! - A member admin, for its own hospital: `register_staff`, `remove_staff`, `onboard_patient`,
//!   `offboard_patient`.
//! - Any registered account: `prune_expired`.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod extension;
pub mod migrations;
pub mod types;
pub mod weights;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;

pub use extension::RegisteredSigner;
pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

use alloc::vec::Vec;
use frame_support::{
	pallet_prelude::*,
	traits::{BuildGenesisConfig, Contains},
};
use frame_system::pallet_prelude::*;
use phr_primitives::{AttributeCode, HospitalId, NodePeerId, ProposalId, Role, RoleSet};
use sp_runtime::{
	traits::{Dispatchable, Zero},
	PerThing, Perbill, Saturating,
};

const LOG_TARGET: &str = "runtime::consortium";

/// How deeply a proposal's call may nest calls (as `frame_support::MAX_EXTRINSIC_DEPTH` bounds an
/// extrinsic's).
const MAX_CALL_DEPTH: u32 = 32;

#[frame_support::pallet]
pub mod pallet {
	use super::*;

	/// 1 (runtime 105): patients carry their offboarding instead of being removed
	/// ([`migrations::v1`]).
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// Most hospitals the consortium may have.
		#[pallet::constant]
		type MaxMembers: Get<u32>;

		/// Most admin accounts one hospital may have.
		#[pallet::constant]
		type MaxAdminsPerMember: Get<u32>;

		/// Most proposals open at the same time.
		#[pallet::constant]
		type MaxProposals: Get<u32>;

		/// Most proposals one member may have open at the same time, so that no member can fill
		/// every slot and keep the others from proposing (its own removal, say).
		#[pallet::constant]
		type MaxProposalsPerMember: Get<u32>;

		/// Blocks during which a proposal may be approved.
		#[pallet::constant]
		type ProposalLifetime: Get<BlockNumberFor<Self>>;

		/// A proposal passes when its approvals are strictly more than this fraction of the members.
		#[pallet::constant]
		type ApprovalThreshold: Get<Perbill>;

		/// Most extrinsics one account may have included per rate window.
		#[pallet::constant]
		type MaxExtrinsicsPerWindow: Get<u32>;

		/// Length of a rate window, in blocks.
		#[pallet::constant]
		type RateWindowBlocks: Get<BlockNumberFor<Self>>;

		/// The calls an offboarded patient may still sign: those that take exposure back (revoke,
		/// withdraw consent, remove a guardian, re-key, erase). Everything else is refused in the
		/// pool with `tx_error::OFFBOARDED_PATIENT`.
		type RetainedRights: Contains<<Self as frame_system::Config>::RuntimeCall>;

		/// The accounts that have session keys registered (pallet-session's `NextKeys`): a member's
		/// validator whose keys arrive after its set was planned enters at the next session.
		type HasSessionKeys: Contains<Self::AccountId>;

		/// The runtime's origin type (`RuntimeOrigin`): a passed [`ConsortiumAction::Dispatch`]
		/// builds it from [`Origin::Consortium`].
		type OuterOrigin: From<Origin> + Into<<Self as frame_system::Config>::RuntimeOrigin>;

		/// Who may change this pallet's parameters (`set_rate_limit`): in the runtime, the
		/// consortium itself ([`EnsureConsortium`]), that is a passed proposal.
		type AdminOrigin: EnsureOrigin<<Self as frame_system::Config>::RuntimeOrigin>;

		/// Most weight of a call that a proposal may dispatch. Charged up front to the approval
		/// that may pass it (refunded when it does not), so it must leave room in a block.
		#[pallet::constant]
		type MaxDispatchWeight: Get<Weight>;

		type WeightInfo: WeightInfo;
	}

	pub type MemberOf<T> =
		MemberInfo<<T as frame_system::Config>::AccountId, BlockNumberFor<T>, <T as Config>::MaxAdminsPerMember>;
	pub type ActionOf<T> =
		ConsortiumAction<<T as frame_system::Config>::AccountId, <T as Config>::MaxAdminsPerMember>;
	/// The consortium as an origin: what a proposal that passed dispatches with.
	#[pallet::origin]
	#[derive(
		Encode, Decode, DecodeWithMemTracking, Clone, PartialEq, Eq, MaxEncodedLen, TypeInfo, Debug,
	)]
	pub enum Origin {
		/// More than [`Config::ApprovalThreshold`] of the members approved.
		Consortium,
	}

	pub type ProposalOf<T> = Proposal<
		<T as frame_system::Config>::AccountId,
		BlockNumberFor<T>,
		<T as Config>::MaxAdminsPerMember,
		<T as Config>::MaxMembers,
	>;
	pub type AdminsOf<T> =
		BoundedVec<<T as frame_system::Config>::AccountId, <T as Config>::MaxAdminsPerMember>;

	/// The hospitals of the consortium.
	#[pallet::storage]
	pub type Members<T: Config> = StorageMap<_, Blake2_128Concat, HospitalId, MemberOf<T>>;

	/// Number of entries in [`Members`].
	#[pallet::storage]
	pub type MemberCount<T: Config> = StorageValue<_, u32, ValueQuery>;

	/// Admin account -> the hospital it administers. Agrees with every member's `admins`.
	#[pallet::storage]
	pub type HospitalOfAdmin<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, HospitalId>;

	/// Validator account -> the hospital whose validator it is. Agrees with every `validator`.
	#[pallet::storage]
	pub type HospitalOfValidator<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, HospitalId>;

	/// Open proposals.
	#[pallet::storage]
	pub type Proposals<T: Config> = StorageMap<_, Blake2_128Concat, ProposalId, ProposalOf<T>>;

	/// Number of entries in [`Proposals`].
	#[pallet::storage]
	pub type ProposalCount<T: Config> = StorageValue<_, u32, ValueQuery>;

	/// The id the next proposal will get.
	#[pallet::storage]
	pub type NextProposalId<T: Config> = StorageValue<_, ProposalId, ValueQuery>;

	/// Hospital -> number of open proposals it made. Agrees with every proposal's `proposer`.
	#[pallet::storage]
	pub type OpenProposalsOf<T: Config> = StorageMap<_, Blake2_128Concat, HospitalId, u32, ValueQuery>;

	/// Staff account -> hospital, roles and attributes.
	#[pallet::storage]
	pub type StaffOf<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, StaffInfo<BlockNumberFor<T>>>;

	/// Patient account -> who onboarded it, and whether it was offboarded. Never removed: a
	/// patient's rights over its records outlive its hospital's vouching.
	#[pallet::storage]
	pub type PatientOf<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, PatientInfo<BlockNumberFor<T>>>;

	/// Set when a member's validator changed; the next session planning hands the new set over.
	#[pallet::storage]
	pub type ValidatorsChanged<T: Config> = StorageValue<_, bool, ValueQuery>;

	/// The members' validators that had session keys when the validator set was last handed to
	/// pallet-session (which leaves out a validator without keys): when this changes, the set is
	/// handed over again.
	#[pallet::storage]
	pub type PlannedWithKeys<T: Config> =
		StorageValue<_, BoundedVec<T::AccountId, T::MaxMembers>, ValueQuery>;

	/// Account -> extrinsics it had included in the current rate window.
	#[pallet::storage]
	pub type RateWindowOf<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, RateWindow<BlockNumberFor<T>>>;

	/// The rate window set by the consortium; `None`: the runtime's defaults.
	#[pallet::storage]
	pub type RateLimitSet<T: Config> = StorageValue<_, RateLimit<BlockNumberFor<T>>>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// An admin of `proposer` proposed `action`.
		Proposed { proposal: ProposalId, proposer: HospitalId, by: T::AccountId, action: ActionOf<T> },
		/// An admin of `hospital` approved; `approvals` of `needed` so far.
		Approved { proposal: ProposalId, hospital: HospitalId, by: T::AccountId, approvals: u32, needed: u32 },
		/// The proposal passed and was carried out with `result`.
		Executed { proposal: ProposalId, result: DispatchResult },
		/// The proposing hospital withdrew the proposal.
		Withdrawn { proposal: ProposalId, by: T::AccountId },
		/// The proposal's lifetime ran out and it was removed.
		Expired { proposal: ProposalId },
		/// A hospital joined the consortium.
		MemberAdded { hospital: HospitalId, validator: T::AccountId, node: NodePeerId },
		/// A hospital left the consortium.
		MemberRemoved { hospital: HospitalId },
		/// A hospital's validator account or node changed; effective from the next session.
		ValidatorChanged { hospital: HospitalId, validator: T::AccountId, node: NodePeerId },
		/// A hospital's admin accounts were replaced.
		AdminsChanged { hospital: HospitalId, admins: AdminsOf<T> },
		/// A hospital registered a member of staff.
		StaffRegistered { who: T::AccountId, hospital: HospitalId, roles: RoleSet, department: AttributeCode, facility: AttributeCode },
		/// A hospital changed a staff member's roles or attributes.
		StaffUpdated { who: T::AccountId, hospital: HospitalId, roles: RoleSet, department: AttributeCode, facility: AttributeCode },
		/// A hospital removed a member of staff.
		StaffRemoved { who: T::AccountId, hospital: HospitalId },
		/// A hospital onboarded a patient account.
		PatientOnboarded { patient: T::AccountId, hospital: HospitalId },
		/// A hospital offboarded a patient account.
		PatientOffboarded { patient: T::AccountId, hospital: HospitalId },
		/// The next session's validator set was planned.
		ValidatorSetPlanned { session: u32, validators: u32 },
		/// The consortium set the rate window.
		RateLimitChanged { max_per_window: u32, window_blocks: BlockNumberFor<T> },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The caller is not an admin of any member hospital.
		NotAdmin,
		/// No member has this hospital id.
		UnknownHospital,
		/// A member with this hospital id already exists.
		HospitalExists,
		/// The consortium already has `MaxMembers` hospitals.
		TooManyMembers,
		/// `MaxProposals` proposals are already open.
		TooManyProposals,
		/// The caller's hospital already has `MaxProposalsPerMember` proposals open: withdraw one
		/// or wait for them to pass or expire.
		TooManyProposalsOfMember,
		/// No open proposal has this id.
		UnknownProposal,
		/// This hospital already approved the proposal.
		AlreadyApproved,
		/// The proposal's lifetime ran out; prune it and propose again.
		ProposalExpired,
		/// The proposal is still within its lifetime.
		ProposalNotExpired,
		/// Only admins of the proposing hospital may withdraw a proposal.
		NotProposer,
		/// A member needs at least one admin.
		NoAdmins,
		/// The same account appears twice in an admin list.
		DuplicateAdmin,
		/// The account already administers another hospital.
		AdminOfAnotherMember,
		/// The account is already another hospital's validator.
		ValidatorInUse,
		/// The node's peer id is empty.
		EmptyNodeId,
		/// The last member cannot be removed: the chain would have no validator.
		LastMember,
		/// A staff member needs at least one role.
		NoRoles,
		/// The admin role is granted only by consortium vote (a member's admin list).
		AdminRoleByVote,
		/// The role set has bits that name no role.
		UnknownRole,
		/// The account is staff of another hospital; that hospital must remove it first.
		StaffOfAnotherHospital,
		/// The account is not staff of the caller's hospital.
		NotStaff,
		/// The account is already a patient.
		AlreadyPatient,
		/// The account is not an active patient onboarded by the caller's hospital.
		NotPatient,
		/// The runtime's hash type cannot hold a 32-byte code hash.
		InvalidCodeHash,
		/// The proposal's call does not decode as a call of this runtime.
		UndecodableCall,
		/// The proposal's call weighs more than `MaxDispatchWeight`.
		CallTooHeavy,
		/// A rate window needs a positive length and admits at least one extrinsic.
		InvalidRateLimit,
	}

	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Founding members: (hospital, admins, validator account, node peer id bytes).
		pub members: Vec<(HospitalId, Vec<T::AccountId>, T::AccountId, Vec<u8>)>,
		/// Staff: (account, hospital, roles, department, facility).
		pub staff: Vec<(T::AccountId, HospitalId, Vec<Role>, Vec<u8>, Vec<u8>)>,
		/// Patients: (account, onboarding hospital).
		pub patients: Vec<(T::AccountId, HospitalId)>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			for (hospital, admins, validator, node) in &self.members {
				let admins: AdminsOf<T> =
					admins.clone().try_into().expect("genesis member has more than MaxAdminsPerMember admins");
				let node: NodePeerId =
					node.clone().try_into().expect("genesis member's node peer id is too long");
				Pallet::<T>::check_new_member(*hospital, &admins, validator, &node)
					.expect("genesis members must be valid and distinct");
				Pallet::<T>::insert_member(*hospital, admins, validator.clone(), node);
			}
			for (who, hospital, roles, department, facility) in &self.staff {
				assert!(Members::<T>::contains_key(hospital), "genesis staff of an unknown hospital");
				let info = StaffInfo {
					hospital: *hospital,
					roles: RoleSet::from_roles(roles),
					department: department.clone().try_into().expect("genesis department too long"),
					facility: facility.clone().try_into().expect("genesis facility too long"),
					registered_at: Zero::zero(),
				};
				Pallet::<T>::check_roles(info.roles).expect("genesis staff roles must be valid");
				assert!(!StaffOf::<T>::contains_key(who), "genesis staff registered twice");
				StaffOf::<T>::insert(who, info);
				frame_system::Pallet::<T>::inc_providers(who);
			}
			for (who, hospital) in &self.patients {
				assert!(Members::<T>::contains_key(hospital), "genesis patient of an unknown hospital");
				assert!(!PatientOf::<T>::contains_key(who), "genesis patient onboarded twice");
				let info = PatientInfo { onboarded_by: *hospital, onboarded_at: Zero::zero(), offboarded: None };
				PatientOf::<T>::insert(who, info);
				frame_system::Pallet::<T>::inc_providers(who);
			}
		}
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}

		fn integrity_test() {
			assert!(T::MaxMembers::get() > 0, "MaxMembers must be positive");
			assert!(T::MaxAdminsPerMember::get() > 0, "MaxAdminsPerMember must be positive");
			assert!(!T::RateWindowBlocks::get().is_zero(), "RateWindowBlocks must be positive");
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Propose a change to the consortium. Origin: an admin of a member hospital.
		///
		/// - `action`: what to change; checked against the current state now and again when it
		///   executes.
		///
		/// Emits `Proposed`, then `Approved` for the proposer's own approval, and `Executed` when
		/// that approval already passes the threshold (a consortium of one).
		///
		/// Charged for a dispatched call of up to `MaxDispatchWeight` (a consortium of one carries
		/// it out at once); what the proposal does not dispatch is refunded.
		#[pallet::call_index(0)]
		#[pallet::weight(Pallet::<T>::with_dispatch(T::WeightInfo::propose(T::MaxMembers::get(), T::MaxProposals::get())))]
		pub fn propose(origin: OriginFor<T>, action: ActionOf<T>) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let hospital = Self::admin_hospital(&who)?;
			ensure!(ProposalCount::<T>::get() < T::MaxProposals::get(), Error::<T>::TooManyProposals);
			let open_of_member = OpenProposalsOf::<T>::get(hospital);
			ensure!(open_of_member < T::MaxProposalsPerMember::get(), Error::<T>::TooManyProposalsOfMember);
			Self::check_action(&action)?;

			let proposal = NextProposalId::<T>::get();
			NextProposalId::<T>::put(proposal.wrapping_add(1));
			let expires_at =
				frame_system::Pallet::<T>::block_number().saturating_add(T::ProposalLifetime::get());
			Proposals::<T>::insert(
				proposal,
				ProposalOf::<T> { proposer: hospital, action: action.clone(), approvals: BoundedVec::new(), expires_at },
			);
			ProposalCount::<T>::mutate(|count| *count = count.saturating_add(1));
			OpenProposalsOf::<T>::insert(hospital, open_of_member.saturating_add(1));
			Self::deposit_event(Event::Proposed { proposal, proposer: hospital, by: who.clone(), action });
			let dispatched = Self::record_approval(proposal, hospital, who)?;
			Ok(Some(T::WeightInfo::propose(T::MaxMembers::get(), T::MaxProposals::get()).saturating_add(dispatched)).into())
		}

		/// Approve an open proposal. Origin: an admin of a member hospital that has not approved it.
		///
		/// - `proposal`: the id from `Proposed`.
		///
		/// Emits `Approved`, and `Executed` when this approval passes the threshold.
		///
		/// Charged for a dispatched call of up to `MaxDispatchWeight`; refunded when this approval
		/// does not pass a `Dispatch` proposal.
		#[pallet::call_index(1)]
		#[pallet::weight(Pallet::<T>::with_dispatch(T::WeightInfo::approve(T::MaxMembers::get(), T::MaxProposals::get())))]
		pub fn approve(origin: OriginFor<T>, proposal: ProposalId) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let hospital = Self::admin_hospital(&who)?;
			let open = Proposals::<T>::get(proposal).ok_or(Error::<T>::UnknownProposal)?;
			ensure!(
				frame_system::Pallet::<T>::block_number() <= open.expires_at,
				Error::<T>::ProposalExpired
			);
			ensure!(open.approvals.binary_search(&hospital).is_err(), Error::<T>::AlreadyApproved);
			let dispatched = Self::record_approval(proposal, hospital, who)?;
			Ok(Some(T::WeightInfo::approve(T::MaxMembers::get(), T::MaxProposals::get()).saturating_add(dispatched)).into())
		}

		/// Withdraw an open proposal. Origin: an admin of the hospital that proposed it.
		///
		/// Emits `Withdrawn`.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::withdraw())]
		pub fn withdraw(origin: OriginFor<T>, proposal: ProposalId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let hospital = Self::admin_hospital(&who)?;
			let open = Proposals::<T>::get(proposal).ok_or(Error::<T>::UnknownProposal)?;
			ensure!(open.proposer == hospital, Error::<T>::NotProposer);
			Self::remove_proposal(proposal);
			Self::deposit_event(Event::Withdrawn { proposal, by: who });
			Ok(())
		}

		/// Remove a proposal whose lifetime ran out. Origin: any signed account (the transaction
		/// pool admits only registered ones).
		///
		/// Emits `Expired`.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::prune_expired())]
		pub fn prune_expired(origin: OriginFor<T>, proposal: ProposalId) -> DispatchResult {
			ensure_signed(origin)?;
			let open = Proposals::<T>::get(proposal).ok_or(Error::<T>::UnknownProposal)?;
			ensure!(
				frame_system::Pallet::<T>::block_number() > open.expires_at,
				Error::<T>::ProposalNotExpired
			);
			Self::remove_proposal(proposal);
			Self::deposit_event(Event::Expired { proposal });
			Ok(())
		}

		/// Register a member of staff at the caller's hospital, or update one already registered
		/// there. Origin: an admin of a member hospital.
		///
		/// - `who`: the staff member's account.
		/// - `roles`: at least one role; never `Admin` (granted only by consortium vote).
		/// - `department`, `facility`: organisational codes used by attribute-based grants.
		///
		/// Emits `StaffRegistered`, or `StaffUpdated` when `who` was already staff here.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::register_staff())]
		pub fn register_staff(
			origin: OriginFor<T>,
			who: T::AccountId,
			roles: RoleSet,
			department: AttributeCode,
			facility: AttributeCode,
		) -> DispatchResult {
			let admin = ensure_signed(origin)?;
			let hospital = Self::admin_hospital(&admin)?;
			Self::check_roles(roles)?;
			let now = frame_system::Pallet::<T>::block_number();
			match StaffOf::<T>::get(&who) {
				Some(existing) if existing.hospital != hospital &&
					Members::<T>::contains_key(existing.hospital) =>
					return Err(Error::<T>::StaffOfAnotherHospital.into()),
				Some(existing) if existing.hospital == hospital => {
					let info = StaffInfo { roles, department: department.clone(), facility: facility.clone(), ..existing };
					StaffOf::<T>::insert(&who, info);
					Self::deposit_event(Event::StaffUpdated { who, hospital, roles, department, facility });
				},
				// Either new, or left behind by a hospital that is no longer a member: take it over.
				previous => {
					let info = StaffInfo { hospital, roles, department: department.clone(), facility: facility.clone(), registered_at: now };
					StaffOf::<T>::insert(&who, info);
					if previous.is_none() {
						frame_system::Pallet::<T>::inc_providers(&who);
					}
					Self::deposit_event(Event::StaffRegistered { who, hospital, roles, department, facility });
				},
			}
			Ok(())
		}

		/// Remove a member of staff from the caller's hospital. Origin: an admin of that hospital.
		///
		/// Emits `StaffRemoved`.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::remove_staff())]
		pub fn remove_staff(origin: OriginFor<T>, who: T::AccountId) -> DispatchResult {
			let admin = ensure_signed(origin)?;
			let hospital = Self::admin_hospital(&admin)?;
			let staff = StaffOf::<T>::get(&who).ok_or(Error::<T>::NotStaff)?;
			ensure!(staff.hospital == hospital, Error::<T>::NotStaff);
			StaffOf::<T>::remove(&who);
			Self::release_provider(&who);
			Self::deposit_event(Event::StaffRemoved { who, hospital });
			Ok(())
		}

		/// Onboard a patient: the account becomes registered and may transact (register records,
		/// grant and revoke access). Origin: an admin of a member hospital.
		///
		/// A patient another hospital offboarded, or whose onboarding hospital left the
		/// consortium, moves to the caller's hospital with its records, grants and trail.
		///
		/// Emits `PatientOnboarded`.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::onboard_patient())]
		pub fn onboard_patient(origin: OriginFor<T>, patient: T::AccountId) -> DispatchResult {
			let admin = ensure_signed(origin)?;
			let hospital = Self::admin_hospital(&admin)?;
			let previous = PatientOf::<T>::get(&patient);
			if let Some(info) = &previous {
				let vouched = info.is_active() && Members::<T>::contains_key(info.onboarded_by);
				ensure!(!vouched, Error::<T>::AlreadyPatient);
			}
			let now = frame_system::Pallet::<T>::block_number();
			PatientOf::<T>::insert(&patient, PatientInfo { onboarded_by: hospital, onboarded_at: now, offboarded: None });
			if previous.is_none() {
				frame_system::Pallet::<T>::inc_providers(&patient);
			}
			Self::deposit_event(Event::PatientOnboarded { patient, hospital });
			Ok(())
		}

		/// Offboard an active patient onboarded by the caller's hospital. The patient can no
		/// longer add records or grant access; it keeps its records, its grants until it revokes
		/// them, and every right that takes exposure back (`Config::RetainedRights`). Another
		/// member may onboard it again. Origin: an admin of that hospital.
		///
		/// Emits `PatientOffboarded`.
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::offboard_patient())]
		pub fn offboard_patient(origin: OriginFor<T>, patient: T::AccountId) -> DispatchResult {
			let admin = ensure_signed(origin)?;
			let hospital = Self::admin_hospital(&admin)?;
			let mut info = PatientOf::<T>::get(&patient).ok_or(Error::<T>::NotPatient)?;
			ensure!(info.onboarded_by == hospital && info.is_active(), Error::<T>::NotPatient);
			let at = frame_system::Pallet::<T>::block_number();
			info.offboarded = Some(Offboarding { by: hospital, at });
			PatientOf::<T>::insert(&patient, info);
			Self::deposit_event(Event::PatientOffboarded { patient, hospital });
			Ok(())
		}

		/// Set the rate window: at most `max_per_window` extrinsics of one account included per
		/// `window_blocks` blocks. Origin: [`Config::AdminOrigin`] (the consortium, by a passed
		/// `Dispatch` proposal). In force from the next block; an account's count in the current
		/// window is kept.
		///
		/// Emits `RateLimitChanged`.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::set_rate_limit())]
		pub fn set_rate_limit(
			origin: OriginFor<T>,
			max_per_window: u32,
			window_blocks: BlockNumberFor<T>,
		) -> DispatchResult {
			T::AdminOrigin::ensure_origin(origin)?;
			ensure!(max_per_window > 0 && !window_blocks.is_zero(), Error::<T>::InvalidRateLimit);
			RateLimitSet::<T>::put(RateLimit { max_per_window, window_blocks });
			Self::deposit_event(Event::RateLimitChanged { max_per_window, window_blocks });
			Ok(())
		}
	}
}

impl<T: Config> Pallet<T> {
	/// The hospital `who` administers, or `NotAdmin`.
	pub fn admin_hospital(who: &T::AccountId) -> Result<HospitalId, Error<T>> {
		HospitalOfAdmin::<T>::get(who).ok_or(Error::<T>::NotAdmin)
	}

	/// Whether `who` may transact at all: [`Standing::Registered`] or, for an offboarded patient,
	/// [`Standing::RetainedRights`].
	pub fn is_registered(who: &T::AccountId) -> bool {
		Self::standing(who) != Standing::Unregistered
	}

	/// What `who` may sign: everything (an admin or validator of a member, staff of a current
	/// member, an active patient), only its retained rights (an offboarded patient), or nothing.
	pub fn standing(who: &T::AccountId) -> Standing {
		let patient = PatientOf::<T>::get(who);
		if patient.as_ref().is_some_and(|p| p.is_active()) ||
			Self::staff_of(who).is_some() ||
			HospitalOfAdmin::<T>::contains_key(who) ||
			HospitalOfValidator::<T>::contains_key(who)
		{
			return Standing::Registered;
		}
		if patient.is_some() {
			Standing::RetainedRights
		} else {
			Standing::Unregistered
		}
	}

	/// `who`'s staff entry, if its hospital is still a member.
	pub fn staff_of(who: &T::AccountId) -> Option<StaffInfo<BlockNumberFor<T>>> {
		StaffOf::<T>::get(who).filter(|staff| Members::<T>::contains_key(staff.hospital))
	}

	/// The roles `who` holds and at which hospital: staff roles, plus `Admin` for a member's admin.
	pub fn roles_of(who: &T::AccountId) -> Option<(HospitalId, RoleSet)> {
		let admin_of = HospitalOfAdmin::<T>::get(who);
		match (Self::staff_of(who), admin_of) {
			(Some(staff), Some(hospital)) if staff.hospital == hospital => {
				let mut roles = staff.roles;
				roles.insert(Role::Admin);
				Some((hospital, roles))
			},
			(Some(staff), _) => Some((staff.hospital, staff.roles)),
			(None, Some(hospital)) => Some((hospital, RoleSet::from_roles(&[Role::Admin]))),
			(None, None) => None,
		}
	}

	/// The approvals that count for `proposal` and how many it needs. Only current members count,
	/// and a proposal to remove a member is decided by the others: the member's own approval
	/// neither counts nor is needed, so no member can block its own removal.
	pub fn tally(proposal: &ProposalOf<T>) -> (u32, u32) {
		let subject = match proposal.action {
			ConsortiumAction::RemoveMember { hospital } => Members::<T>::contains_key(hospital).then_some(hospital),
			_ => None,
		};
		let approvals = proposal
			.approvals
			.iter()
			.filter(|h| Some(**h) != subject && Members::<T>::contains_key(*h))
			.count() as u32;
		let voters = MemberCount::<T>::get().saturating_sub(subject.map_or(0, |_| 1));
		(approvals, Self::approvals_needed(voters))
	}

	/// Approvals needed for a proposal to pass with `members` members: strictly more than
	/// `ApprovalThreshold` of them, at least one and at most all.
	pub fn approvals_needed(members: u32) -> u32 {
		let parts = T::ApprovalThreshold::get().deconstruct() as u64;
		let floor = (members as u64 * parts / Perbill::ACCURACY as u64) as u32;
		floor.saturating_add(1).clamp(1, members.max(1))
	}

	/// The members' validator accounts, ordered by hospital id.
	pub fn validators() -> Vec<T::AccountId> {
		let mut members: Vec<_> = Members::<T>::iter().map(|(id, m)| (id, m.validator)).collect();
		members.sort_by_key(|(id, _)| *id);
		members.into_iter().map(|(_, validator)| validator).collect()
	}

	/// Up to `limit` staff of member hospitals with their registration, in storage order, after
	/// `start_after` (for paging). Wallets use it to deliver data keys to the staff a hospital+role
	/// or policy grant names, and to emergency-role staff for break-glass access.
	pub fn staff_page(start_after: Option<T::AccountId>, limit: u32) -> Vec<(T::AccountId, phr_primitives::StaffView)> {
		let iter = match start_after {
			Some(after) => StaffOf::<T>::iter_from(StaffOf::<T>::hashed_key_for(after)),
			None => StaffOf::<T>::iter(),
		};
		iter.filter_map(|(who, _)| <Self as phr_primitives::traits::ConsortiumDirectory<T::AccountId>>::staff(&who).map(|view| (who, view)))
			.take(limit as usize)
			.collect()
	}

	/// The peer ids of the members' nodes, ordered by hospital id.
	/// Every member with its validator account and node, by hospital id.
	pub fn members() -> Vec<(HospitalId, T::AccountId, NodePeerId)> {
		let mut members: Vec<_> = Members::<T>::iter().map(|(id, m)| (id, m.validator, m.node)).collect();
		members.sort_by_key(|(id, ..)| *id);
		members
	}

	pub fn member_nodes() -> Vec<NodePeerId> {
		let mut members: Vec<_> = Members::<T>::iter().map(|(id, m)| (id, m.node)).collect();
		members.sort_by_key(|(id, _)| *id);
		members.into_iter().map(|(_, node)| node).collect()
	}

	pub(crate) fn check_roles(roles: RoleSet) -> Result<(), Error<T>> {
		ensure!(!roles.has_unknown_bits(), Error::<T>::UnknownRole);
		ensure!(!roles.is_empty(), Error::<T>::NoRoles);
		ensure!(!roles.contains(Role::Admin), Error::<T>::AdminRoleByVote);
		Ok(())
	}

	fn check_admins(hospital: HospitalId, admins: &AdminsOf<T>) -> Result<(), Error<T>> {
		ensure!(!admins.is_empty(), Error::<T>::NoAdmins);
		for (i, admin) in admins.iter().enumerate() {
			ensure!(!admins[..i].contains(admin), Error::<T>::DuplicateAdmin);
			if let Some(other) = HospitalOfAdmin::<T>::get(admin) {
				ensure!(other == hospital, Error::<T>::AdminOfAnotherMember);
			}
		}
		Ok(())
	}

	fn check_validator(hospital: HospitalId, validator: &T::AccountId, node: &NodePeerId) -> Result<(), Error<T>> {
		ensure!(!node.is_empty(), Error::<T>::EmptyNodeId);
		if let Some(other) = HospitalOfValidator::<T>::get(validator) {
			ensure!(other == hospital, Error::<T>::ValidatorInUse);
		}
		Ok(())
	}

	pub(crate) fn check_new_member(
		hospital: HospitalId,
		admins: &AdminsOf<T>,
		validator: &T::AccountId,
		node: &NodePeerId,
	) -> Result<(), Error<T>> {
		ensure!(!Members::<T>::contains_key(hospital), Error::<T>::HospitalExists);
		ensure!(MemberCount::<T>::get() < T::MaxMembers::get(), Error::<T>::TooManyMembers);
		Self::check_admins(hospital, admins)?;
		Self::check_validator(hospital, validator, node)
	}

	/// Whether `action` could be carried out on the current state.
	fn check_action(action: &ActionOf<T>) -> Result<(), Error<T>> {
		match action {
			ConsortiumAction::AddMember { hospital, admins, validator, node } =>
				Self::check_new_member(*hospital, admins, validator, node),
			ConsortiumAction::RemoveMember { hospital } => {
				ensure!(Members::<T>::contains_key(hospital), Error::<T>::UnknownHospital);
				ensure!(MemberCount::<T>::get() > 1, Error::<T>::LastMember);
				Ok(())
			},
			ConsortiumAction::ChangeValidator { hospital, validator, node } => {
				ensure!(Members::<T>::contains_key(hospital), Error::<T>::UnknownHospital);
				Self::check_validator(*hospital, validator, node)
			},
			ConsortiumAction::ChangeAdmins { hospital, admins } => {
				ensure!(Members::<T>::contains_key(hospital), Error::<T>::UnknownHospital);
				Self::check_admins(*hospital, admins)
			},
			ConsortiumAction::AuthorizeUpgrade { code_hash } => Self::code_hash(code_hash).map(|_| ()),
			ConsortiumAction::Dispatch { call } => Self::decode_call(call).map(|_| ()),
		}
	}

	/// The call a `Dispatch` proposal carries, if it decodes (nesting bounded) and weighs at most
	/// `MaxDispatchWeight`.
	pub fn decode_call(call: &EncodedCall) -> Result<<T as frame_system::Config>::RuntimeCall, Error<T>> {
		use codec::DecodeLimit;
		let call = <T as frame_system::Config>::RuntimeCall::decode_all_with_depth_limit(
			MAX_CALL_DEPTH,
			&mut &call[..],
		)
		.map_err(|_| Error::<T>::UndecodableCall)?;
		let weight = frame_support::dispatch::GetDispatchInfo::get_dispatch_info(&call).call_weight;
		ensure!(weight.all_lte(T::MaxDispatchWeight::get()), Error::<T>::CallTooHeavy);
		Ok(call)
	}

	/// `weight` plus the most a passing `Dispatch` proposal may dispatch.
	pub fn with_dispatch(weight: Weight) -> Weight {
		weight.saturating_add(T::MaxDispatchWeight::get())
	}

	/// The rate window in force: the consortium's, or the runtime's defaults.
	pub fn rate_limit() -> RateLimit<BlockNumberFor<T>> {
		RateLimitSet::<T>::get().unwrap_or_else(|| RateLimit {
			max_per_window: T::MaxExtrinsicsPerWindow::get(),
			window_blocks: T::RateWindowBlocks::get(),
		})
	}

	fn code_hash(bytes: &[u8; 32]) -> Result<T::Hash, Error<T>> {
		T::Hash::decode(&mut &bytes[..]).map_err(|_| Error::<T>::InvalidCodeHash)
	}

	/// Adds `hospital`'s approval and executes the proposal when it passes. Returns the weight of
	/// the call it dispatched, if any.
	fn record_approval(proposal: ProposalId, hospital: HospitalId, by: T::AccountId) -> Result<Weight, DispatchError> {
		let mut open = Proposals::<T>::get(proposal).ok_or(Error::<T>::UnknownProposal)?;
		let at = open.approvals.binary_search(&hospital).err().ok_or(Error::<T>::AlreadyApproved)?;
		// Bounded by MaxMembers, and only members approve: cannot overflow.
		open.approvals.try_insert(at, hospital).map_err(|_| Error::<T>::TooManyMembers)?;

		let (approvals, needed) = Self::tally(&open);
		Self::deposit_event(Event::Approved { proposal, hospital, by, approvals, needed });

		let mut dispatched = Weight::zero();
		if approvals >= needed {
			Self::remove_proposal(proposal);
			let result = Self::check_action(&open.action).map_err(DispatchError::from).and_then(|()| {
				if let ConsortiumAction::Dispatch { call } = &open.action {
					// Checked just above: it decodes and is within MaxDispatchWeight.
					let call = Self::decode_call(call)?;
					dispatched = frame_support::dispatch::GetDispatchInfo::get_dispatch_info(&call).call_weight;
					let origin: <T as frame_system::Config>::RuntimeOrigin = T::OuterOrigin::from(Origin::Consortium).into();
					// Each call runs in its own storage layer: one that fails leaves no change.
					return call.dispatch(origin).map(|_| ()).map_err(|e| e.error);
				}
				Self::execute(open.action.clone())
			});
			if let Err(error) = result {
				log::warn!(target: LOG_TARGET, "proposal {proposal} passed but failed: {error:?}");
			}
			Self::deposit_event(Event::Executed { proposal, result });
		} else {
			Proposals::<T>::insert(proposal, open);
		}
		Ok(dispatched)
	}

	fn remove_proposal(proposal: ProposalId) {
		if let Some(removed) = Proposals::<T>::take(proposal) {
			ProposalCount::<T>::mutate(|count| *count = count.saturating_sub(1));
			OpenProposalsOf::<T>::mutate_exists(removed.proposer, |open| {
				*open = open.map(|n| n.saturating_sub(1)).filter(|n| *n > 0);
			});
		}
	}

	/// Carries out a checked action.
	fn execute(action: ActionOf<T>) -> DispatchResult {
		match action {
			ConsortiumAction::AddMember { hospital, admins, validator, node } => {
				Self::insert_member(hospital, admins, validator.clone(), node.clone());
				Self::deposit_event(Event::MemberAdded { hospital, validator, node });
			},
			ConsortiumAction::RemoveMember { hospital } => {
				let member = Members::<T>::take(hospital).ok_or(Error::<T>::UnknownHospital)?;
				MemberCount::<T>::mutate(|count| *count = count.saturating_sub(1));
				for admin in &member.admins {
					HospitalOfAdmin::<T>::remove(admin);
					Self::release_provider(admin);
				}
				HospitalOfValidator::<T>::remove(&member.validator);
				Self::release_provider(&member.validator);
				// A removed member loses its vote on everything still open.
				let open: Vec<(ProposalId, ProposalOf<T>)> = Proposals::<T>::iter().collect();
				for (id, mut proposal) in open {
					if let Ok(at) = proposal.approvals.binary_search(&hospital) {
						proposal.approvals.remove(at);
						Proposals::<T>::insert(id, proposal);
					}
				}
				ValidatorsChanged::<T>::put(true);
				Self::deposit_event(Event::MemberRemoved { hospital });
			},
			ConsortiumAction::ChangeValidator { hospital, validator, node } => {
				Members::<T>::try_mutate(hospital, |member| -> DispatchResult {
					let member = member.as_mut().ok_or(Error::<T>::UnknownHospital)?;
					if member.validator != validator {
						HospitalOfValidator::<T>::remove(&member.validator);
						Self::release_provider(&member.validator);
						HospitalOfValidator::<T>::insert(&validator, hospital);
						frame_system::Pallet::<T>::inc_providers(&validator);
						member.validator = validator.clone();
					}
					member.node = node.clone();
					Ok(())
				})?;
				ValidatorsChanged::<T>::put(true);
				Self::deposit_event(Event::ValidatorChanged { hospital, validator, node });
			},
			ConsortiumAction::ChangeAdmins { hospital, admins } => {
				Members::<T>::try_mutate(hospital, |member| -> DispatchResult {
					let member = member.as_mut().ok_or(Error::<T>::UnknownHospital)?;
					for old in member.admins.iter().filter(|old| !admins.contains(old)) {
						HospitalOfAdmin::<T>::remove(old);
						Self::release_provider(old);
					}
					for new in admins.iter().filter(|new| !member.admins.contains(new)) {
						HospitalOfAdmin::<T>::insert(new, hospital);
						frame_system::Pallet::<T>::inc_providers(new);
					}
					member.admins = admins.clone();
					Ok(())
				})?;
				Self::deposit_event(Event::AdminsChanged { hospital, admins });
			},
			ConsortiumAction::AuthorizeUpgrade { code_hash } => {
				// Emits `System::UpgradeAuthorized`; `apply_authorized_upgrade` checks the version.
				frame_system::Pallet::<T>::do_authorize_upgrade(Self::code_hash(&code_hash)?, true);
			},
			// Dispatched by `record_approval`, which knows its weight.
			ConsortiumAction::Dispatch { .. } => {},
		}
		Ok(())
	}

	pub(crate) fn insert_member(
		hospital: HospitalId,
		admins: AdminsOf<T>,
		validator: T::AccountId,
		node: NodePeerId,
	) {
		for admin in &admins {
			HospitalOfAdmin::<T>::insert(admin, hospital);
			frame_system::Pallet::<T>::inc_providers(admin);
		}
		HospitalOfValidator::<T>::insert(&validator, hospital);
		frame_system::Pallet::<T>::inc_providers(&validator);
		let joined_at = frame_system::Pallet::<T>::block_number();
		Members::<T>::insert(hospital, MemberInfo { admins, validator, node, joined_at });
		MemberCount::<T>::mutate(|count| *count = count.saturating_add(1));
		ValidatorsChanged::<T>::put(true);
	}

	/// Gives back the provider reference one registration took. Fails only while the account
	/// still has consumers (a validator with session keys set): the reference then stays, which
	/// keeps the keys' storage alive until they are purged; the registration itself is gone.
	fn release_provider(who: &T::AccountId) {
		if let Err(error) = frame_system::Pallet::<T>::dec_providers(who) {
			log::debug!(target: LOG_TARGET, "provider of {who:?} kept: {error:?}");
		}
	}

	/// Those of `validators` that have session keys (at most `MaxMembers`: one per member).
	fn with_session_keys(validators: &[T::AccountId]) -> BoundedVec<T::AccountId, T::MaxMembers> {
		let with_keys: Vec<T::AccountId> = validators.iter().filter(|v| T::HasSessionKeys::contains(v)).cloned().collect();
		BoundedVec::truncate_from(with_keys)
	}

	/// Checks that every index agrees with the members it is derived from. Compiled into the
	/// native runtime too, so that the node's tests check a live network's state with it.
	#[cfg(any(feature = "try-runtime", feature = "std", test))]
	pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
		let members: Vec<(HospitalId, MemberOf<T>)> = Members::<T>::iter().collect();
		ensure!(members.len() as u32 == MemberCount::<T>::get(), "MemberCount disagrees with Members");
		ensure!(!members.is_empty(), "the consortium has no member");
		let mut admins = 0u32;
		for (hospital, member) in &members {
			ensure!(!member.admins.is_empty(), "a member has no admin");
			for admin in &member.admins {
				ensure!(HospitalOfAdmin::<T>::get(admin) == Some(*hospital), "HospitalOfAdmin misses an admin");
				admins += 1;
			}
			ensure!(
				HospitalOfValidator::<T>::get(&member.validator) == Some(*hospital),
				"HospitalOfValidator misses a validator"
			);
		}
		ensure!(HospitalOfAdmin::<T>::iter().count() as u32 == admins, "HospitalOfAdmin has stale entries");
		ensure!(
			HospitalOfValidator::<T>::iter().count() == members.len(),
			"HospitalOfValidator has stale entries"
		);
		let proposals: Vec<_> = Proposals::<T>::iter().collect();
		ensure!(proposals.len() as u32 == ProposalCount::<T>::get(), "ProposalCount disagrees with Proposals");
		let mut open_of: alloc::collections::BTreeMap<HospitalId, u32> = Default::default();
		for (_, proposal) in &proposals {
			*open_of.entry(proposal.proposer).or_default() += 1;
		}
		let counted: alloc::collections::BTreeMap<HospitalId, u32> = OpenProposalsOf::<T>::iter().collect();
		ensure!(counted == open_of, "OpenProposalsOf disagrees with the proposals' proposers");
		for (id, proposal) in proposals {
			ensure!(id < NextProposalId::<T>::get(), "a proposal id was never issued");
			ensure!(proposal.approvals.windows(2).all(|w| w[0] < w[1]), "approvals not sorted and unique");
			ensure!(
				proposal.approvals.iter().all(|h| Members::<T>::contains_key(h)),
				"a removed member's approval is still counted"
			);
		}
		for (_, staff) in StaffOf::<T>::iter() {
			ensure!(!staff.roles.contains(Role::Admin), "staff holds the admin role");
		}
		Ok(())
	}
}

/// The consortium as an `EnsureOrigin`: passes only [`Origin::Consortium`], the origin of a call
/// dispatched by a proposal that more than [`Config::ApprovalThreshold`] of the members approved.
/// Pallets with privileged calls take it as their `AdminOrigin`.
pub struct EnsureConsortium;

impl<O: Into<Result<Origin, O>> + From<Origin>> EnsureOrigin<O> for EnsureConsortium {
	type Success = ();

	fn try_origin(outer: O) -> Result<(), O> {
		outer.into().map(|Origin::Consortium| ())
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn try_successful_origin() -> Result<O, ()> {
		Ok(O::from(Origin::Consortium))
	}
}

/// The consortium decides the validator set: `pallet-session` asks at every session rotation.
///
/// It hands over the members' validators when the members voted a change, and again when a member's
/// validator got its session keys after that (a hospital voted in registers its keys only once it
/// is a member, and pallet-session leaves out a validator without keys). Otherwise it answers
/// `None`: every `Some` makes GRANDPA start a new authority set.
impl<T: Config> pallet_session::SessionManager<T::AccountId> for Pallet<T> {
	fn new_session(new_index: u32) -> Option<Vec<T::AccountId>> {
		let validators = Self::validators();
		let with_keys = Self::with_session_keys(&validators);
		if !ValidatorsChanged::<T>::take() && PlannedWithKeys::<T>::get() == with_keys {
			return None;
		}
		PlannedWithKeys::<T>::put(with_keys);
		Self::deposit_event(Event::ValidatorSetPlanned { session: new_index, validators: validators.len() as u32 });
		Some(validators)
	}

	fn new_session_genesis(_new_index: u32) -> Option<Vec<T::AccountId>> {
		ValidatorsChanged::<T>::kill();
		let validators = Self::validators();
		PlannedWithKeys::<T>::put(Self::with_session_keys(&validators));
		Some(validators)
	}

	fn end_session(_end_index: u32) {}

	fn start_session(_start_index: u32) {}
}

/// `pallet-session`'s `ValidatorIdOf`: an account is a validator id only while it is a member's
/// validator, so no other account can register session keys.
pub struct MemberValidator<T>(core::marker::PhantomData<T>);

impl<T: Config> sp_runtime::traits::Convert<T::AccountId, Option<T::AccountId>> for MemberValidator<T> {
	fn convert(who: T::AccountId) -> Option<T::AccountId> {
		HospitalOfValidator::<T>::contains_key(&who).then_some(who)
	}
}

impl<T: Config> phr_primitives::traits::PatientRegistry<T::AccountId> for Pallet<T> {
	fn is_patient(who: &T::AccountId) -> bool {
		PatientOf::<T>::get(who).is_some_and(|p| p.is_active())
	}

	fn has_rights(who: &T::AccountId) -> bool {
		PatientOf::<T>::contains_key(who)
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn register_patient_for_benchmark(who: &T::AccountId) {
		if !PatientOf::<T>::contains_key(who) {
			let onboarded_at = frame_system::Pallet::<T>::block_number();
			PatientOf::<T>::insert(who, PatientInfo { onboarded_by: 0, onboarded_at, offboarded: None });
			frame_system::Pallet::<T>::inc_providers(who);
		}
	}
}

impl<T: Config> phr_primitives::traits::ConsortiumDirectory<T::AccountId> for Pallet<T> {
	/// Only full standing: an offboarded patient cannot, say, be appointed a guardian.
	fn is_registered(who: &T::AccountId) -> bool {
		Pallet::<T>::standing(who) == Standing::Registered
	}

	fn staff(who: &T::AccountId) -> Option<phr_primitives::StaffView> {
		let (hospital, roles) = Self::roles_of(who)?;
		let (department, facility) = Self::staff_of(who)
			.filter(|staff| staff.hospital == hospital)
			.map(|staff| (staff.department, staff.facility))
			.unwrap_or_default();
		Some(phr_primitives::StaffView { hospital, roles, department, facility })
	}

	fn member_account_hospital(who: &T::AccountId) -> Option<HospitalId> {
		HospitalOfAdmin::<T>::get(who).or_else(|| HospitalOfValidator::<T>::get(who))
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn register_staff_for_benchmark(who: &T::AccountId, view: phr_primitives::StaffView) {
		// Staff count only while their hospital is a member: a benchmark's hospital joins first
		// (on the dev chain only H1 is one; an independent review needs staff of a second).
		if !Members::<T>::contains_key(view.hospital) {
			let admin: T::AccountId = frame_benchmarking::account("benchmark-admin", view.hospital, 0);
			let admins: AdminsOf<T> = alloc::vec![admin].try_into().expect("one admin fits");
			let validator: T::AccountId = frame_benchmarking::account("benchmark-validator", view.hospital, 0);
			let node: NodePeerId = alloc::vec![view.hospital as u8; 38].try_into().expect("38 bytes fit a peer id");
			Self::insert_member(view.hospital, admins, validator, node);
		}
		let mut roles = view.roles;
		roles.0 &= !RoleSet::from_roles(&[Role::Admin]).0;
		let info = StaffInfo {
			hospital: view.hospital,
			roles,
			department: view.department,
			facility: view.facility,
			registered_at: frame_system::Pallet::<T>::block_number(),
		};
		if StaffOf::<T>::get(who).is_none() {
			frame_system::Pallet::<T>::inc_providers(who);
		}
		StaffOf::<T>::insert(who, info);
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn member_account_for_benchmark() -> T::AccountId {
		Self::validators().into_iter().next().expect("the consortium always has a member")
	}
}
