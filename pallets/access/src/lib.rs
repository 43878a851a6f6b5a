//! # Access Pallet
//!
//! Who may read or add which health record, decided by one function the whole system asks, and the
//! audit trail that lets an auditor verify every decision and every read.
//!
//! ## Overview
//!
//! A patient's records are readable by the patient and by whoever the patient's rules admit:
//! - **grants** from the patient (or a guardian acting for the patient) to one account, to every
//!   staff member of a hospital with a role ("any physician at H2"), or to an attribute policy (roles,
//!   departments, facilities, of the hospitals the policy names; "consortium-wide" only when the
//!   patient says so explicitly, since each hospital's admin alone assigns its staff's attributes).
//!   Each grant has a scope (categories and/or records), rights
//!   (read, append), an expiry the chain enforces, and optional conditions (a UTC time-of-day window,
//!   a facility);
//! - **guardians** the patient appointed, with read and/or grant-management powers;
//! - **break-glass**: staff holding the emergency role open access to a patient's records for at
//!   most [`Config::MaxEmergencyDuration`], giving the hash of a justification. The patient is
//!   notified by the `EmergencyAccessOpened` event (and the entry in their audit trail) and the
//!   opening stays flagged until an auditor of ANOTHER hospital reviews it: a hospital never
//!   reviews its own staff's openings;
//! - **research consent**: a patient consents to a purpose code for some categories until an expiry;
//!   researchers read only under such a live consent.
//!
//! [`Pallet::decide`] combines them all. Roles and attributes (RBAC, ABAC) come from the consortium
//! pallet's staff registry. The node's blob store calls `decide` through the `AccessApi` runtime
//! API at the latest finalized block before it serves a byte; the records pallet asks it (through
//! `AppendPermission`) whether staff may add a record.
//!
//! ## Lifecycle of a grant
//!
//! `grant` stores it and indexes it by patient and, for a one-account grant, by grantee. It applies
//! while `now < expires_at`; `amend_expiry` moves the expiry; `revoke` removes it, effective for
//! every reader as soon as the revoking block is final (every node decides at the finalized block).
//!
//! ## Audit
//!
//! Every grant, revocation, expiry change, guardian change, emergency opening and review, consent
//! change, and (appended by the records and keys pallets) every registration, amendment, erasure and
//! data-key rotation goes into the patient's audit trail, in order, paged by index. Nodes anchor the
//! signed requests they served in batches (`anchor_receipts`: a Merkle root and a count); with
//! `phr_primitives::receipts::verify_receipt` anyone can check that a read is in an anchored batch.
//!
//! ## Safety considerations
//!
//! - A decision is a pure function of chain state and the time given: the same at every node.
//! - Denials name the furthest rule that almost applied (expired grant, wrong time of day, ...) so a
//!   clinician knows what to ask for; they never reveal other patients' data.
//! - Per-patient bounds (`MaxGrantsPerPatient`, `MaxGuardians`, `MaxConsents`) bound `decide`'s work;
//!   its worst case is benchmarked at those bounds.
//! - The audit trail is append-only: nothing in this pallet removes an entry.
//!
//! ## Calls
//!
//! - The patient, or a guardian with the grant-management power: `grant`, `revoke`, `amend_expiry`,
//!   `give_consent`, `withdraw_consent`.
//! - Any registered account (a relayer), with each item signed by its patient: `grant_batch`.
//! - The patient: `appoint_guardian`; the patient or the guardian: `remove_guardian`.
//! - Staff with the emergency role: `open_emergency`; an auditor of another hospital than the
//!   opener's: `review_emergency`.
//! - A member hospital's admin or validator account (its node): `anchor_receipts`.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod types;
pub mod weights;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

use alloc::vec::Vec;
use frame_support::{pallet_prelude::*, traits::Time};
use frame_system::pallet_prelude::*;
use phr_primitives::{
	traits::{AppendPermission, AuditLog, ConsortiumDirectory, PatientRegistry, RecordDirectory},
	AuditAction, AuditEntry, Basis, BatchId, Category, CategorySet, Conditions, Decision, Denial,
	EmergencyId, Grant, GrantId, GrantTerms, Grantee, GuardianPowers, HospitalId, Moment, PolicyHospitals,
	PurposeCode, Purpose, ReceiptBatch, RecordId, Right, Role, StaffView,
};
use sp_core::H256;
use sp_runtime::traits::{IdentifyAccount, Verify, Zero};

/// Accounts and signatures for the benchmarks of `grant_batch`.
#[cfg(feature = "runtime-benchmarks")]
pub trait BenchmarkHelper<AccountId, Signature> {
	/// The `n`th account that can sign.
	fn signer(n: u32) -> AccountId;
	/// `who`'s signature over `payload`.
	fn sign(who: &AccountId, payload: &[u8]) -> Signature;
}

#[frame_support::pallet]
pub mod pallet {
	use super::*;

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// Staff roles and attributes, registrations, member accounts.
		type Directory: ConsortiumDirectory<Self::AccountId>;

		/// Who is a patient.
		type Patients: PatientRegistry<Self::AccountId>;

		/// The records decisions are about.
		type Records: RecordDirectory<Self::AccountId>;

		/// Wall-clock time (unix ms): grant expiry, time windows, emergency durations.
		type Time: Time<Moment = Moment>;

		/// Most live grants one patient may have.
		#[pallet::constant]
		type MaxGrantsPerPatient: Get<u32>;

		/// Most guardians one patient may have.
		#[pallet::constant]
		type MaxGuardians: Get<u32>;

		/// Most research consents one patient may have.
		#[pallet::constant]
		type MaxConsents: Get<u32>;

		/// Longest break-glass access, in milliseconds.
		#[pallet::constant]
		type MaxEmergencyDuration: Get<Moment>;

		/// The signature a patient puts on a grant that a relayer submits (`grant_batch`); in the
		/// runtime the same `MultiSignature` its extrinsics carry.
		type RelaySignature: Parameter + Verify<Signer = Self::RelaySigner>;

		/// Who makes a [`Config::RelaySignature`]: the patient's account.
		type RelaySigner: IdentifyAccount<AccountId = Self::AccountId>;

		/// Most signed grants in one `grant_batch`.
		#[pallet::constant]
		type MaxGrantBatch: Get<u32>;

		/// Makes signing accounts and their signatures for the benchmarks.
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: BenchmarkHelper<Self::AccountId, Self::RelaySignature>;

		type WeightInfo: WeightInfo;
	}

	pub type SignedGrantOf<T> = SignedGrant<
		<T as frame_system::Config>::AccountId,
		BlockNumberFor<T>,
		<T as Config>::RelaySignature,
	>;

	pub type GrantOfT<T> = Grant<<T as frame_system::Config>::AccountId, BlockNumberFor<T>>;
	pub type AuditEntryOf<T> = AuditEntry<<T as frame_system::Config>::AccountId, BlockNumberFor<T>>;
	pub type ReceiptBatchOf<T> = ReceiptBatch<<T as frame_system::Config>::AccountId, BlockNumberFor<T>>;
	pub type EmergencyOf<T> = EmergencyAccess<<T as frame_system::Config>::AccountId, BlockNumberFor<T>>;

	/// Every live grant.
	#[pallet::storage]
	pub type GrantOf<T: Config> = StorageMap<_, Blake2_128Concat, GrantId, GrantOfT<T>>;

	/// The id the next grant will get.
	#[pallet::storage]
	pub type NextGrantId<T: Config> = StorageValue<_, GrantId, ValueQuery>;

	/// Patient -> its live grants. Agrees with [`GrantOf`].
	#[pallet::storage]
	pub type GrantsByPatient<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, BoundedVec<GrantId, T::MaxGrantsPerPatient>, ValueQuery>;

	/// (grantee account, grant) -> patient, for grants to one account. Agrees with [`GrantOf`].
	#[pallet::storage]
	pub type GrantsToAccount<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Twox64Concat, GrantId, T::AccountId>;

	/// (patient, guardian) -> the guardian's powers.
	#[pallet::storage]
	pub type GuardianOf<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Blake2_128Concat, T::AccountId, GuardianPowers>;

	/// Number of a patient's guardians.
	#[pallet::storage]
	pub type GuardianCount<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, u32, ValueQuery>;

	/// Every break-glass opening.
	#[pallet::storage]
	pub type EmergencyOfId<T: Config> = StorageMap<_, Blake2_128Concat, EmergencyId, EmergencyOf<T>>;

	/// The id the next opening will get.
	#[pallet::storage]
	pub type NextEmergencyId<T: Config> = StorageValue<_, EmergencyId, ValueQuery>;

	/// (opener, patient) -> the opener's latest opening for the patient.
	#[pallet::storage]
	pub type LatestEmergency<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Blake2_128Concat, T::AccountId, EmergencyId>;

	/// (hospital, opening) for openings its auditors have not reviewed yet.
	#[pallet::storage]
	pub type PendingReview<T: Config> =
		StorageDoubleMap<_, Twox64Concat, HospitalId, Twox64Concat, EmergencyId, ()>;

	/// (patient, purpose) -> the patient's research consent.
	#[pallet::storage]
	pub type ConsentOf<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Twox64Concat, PurposeCode, Consent<BlockNumberFor<T>>>;

	/// Number of a patient's consents.
	#[pallet::storage]
	pub type ConsentCount<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, u32, ValueQuery>;

	/// (patient, index) -> audit entry, indexes 0.. in order.
	#[pallet::storage]
	pub type AuditTrail<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Twox64Concat, u32, AuditEntryOf<T>>;

	/// Number of a patient's audit entries.
	#[pallet::storage]
	pub type AuditLength<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, u32, ValueQuery>;

	/// Anchored batches of read receipts.
	#[pallet::storage]
	pub type ReceiptBatchOfId<T: Config> = StorageMap<_, Twox64Concat, BatchId, ReceiptBatchOf<T>>;

	/// The id the next batch will get.
	#[pallet::storage]
	pub type NextBatchId<T: Config> = StorageValue<_, BatchId, ValueQuery>;

	/// Where the sweep of expired grants stopped: the raw storage key of the last grant it looked
	/// at. None: the next sweep starts at the beginning of [`GrantOf`].
	#[pallet::storage]
	pub type ExpirySweepCursor<T: Config> = StorageValue<_, BoundedVec<u8, ConstU32<128>>, OptionQuery>;

	/// Patient -> the nonce its next relayed grant must carry.
	#[pallet::storage]
	pub type RelayNonce<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, u32, ValueQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// `patient` (or guardian `by`) granted access.
		AccessGranted { grant: GrantId, patient: T::AccountId, terms: GrantTerms<T::AccountId>, by: T::AccountId },
		/// The grant was revoked; no node serves under it once this block is final.
		AccessRevoked { grant: GrantId, patient: T::AccountId, by: T::AccountId },
		/// The grant's expiry moved.
		GrantExpiryAmended { grant: GrantId, patient: T::AccountId, expires_at: Moment, by: T::AccountId },
		/// The patient appointed a guardian.
		GuardianAppointed { patient: T::AccountId, guardian: T::AccountId, powers: GuardianPowers },
		/// A guardianship ended, by the patient or the guardian (`by`).
		GuardianRemoved { patient: T::AccountId, guardian: T::AccountId, by: T::AccountId },
		/// Break-glass: `opener` of `hospital` may read `patient`'s records until `expires_at`.
		/// This event is the patient's notification; the opening awaits an auditor's review.
		EmergencyAccessOpened {
			emergency: EmergencyId,
			patient: T::AccountId,
			opener: T::AccountId,
			hospital: HospitalId,
			justification: H256,
			expires_at: Moment,
		},
		/// An auditor of another hospital than the opener's reviewed the opening.
		EmergencyReviewed { emergency: EmergencyId, reviewer: T::AccountId },
		/// The patient consented to research `purpose` for `categories` until `expires_at`.
		ConsentGiven { patient: T::AccountId, purpose: PurposeCode, categories: CategorySet, expires_at: Moment },
		/// The patient withdrew a research consent.
		ConsentWithdrawn { patient: T::AccountId, purpose: PurposeCode },
		/// `hospital`'s node anchored `count` read receipts under `root`.
		ReceiptsAnchored { batch: BatchId, hospital: HospitalId, root: H256, count: u32 },
		/// The grant's expiry passed and the chain dropped it: it no longer counts against
		/// `MaxGrantsPerPatient`. (It stopped granting anything at its expiry already.)
		AccessExpired { grant: GrantId, patient: T::AccountId },
		/// `relayer` submitted signed grants: `granted` applied, `failed` refused (each refusal
		/// has its `RelayedGrantFailed`).
		GrantBatch { relayer: T::AccountId, granted: u32, failed: u32 },
		/// Item `index` of a `grant_batch` was refused with `error`; the others were not affected.
		RelayedGrantFailed { index: u32, patient: T::AccountId, error: DispatchError },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The caller is neither the patient nor a guardian with the grant-management power.
		NotPatientOrGuardian,
		/// Only the patient may do this.
		NotPatient,
		/// The account is not a registered patient.
		UnknownPatient,
		/// No live grant has this id.
		UnknownGrant,
		/// The expiry is not in the future.
		ExpiryInPast,
		/// The rights are empty or name an unknown right.
		InvalidRights,
		/// The scope names neither a category nor a record, or an unknown category.
		InvalidScope,
		/// The time window is empty or outside a day.
		InvalidTimeWindow,
		/// An attribute policy must restrict at least one attribute, with known roles.
		InvalidPolicy,
		/// A patient does not need a grant to their own records.
		GrantToSelf,
		/// The patient has `MaxGrantsPerPatient` live grants.
		TooManyGrants,
		/// The guardian is not a registered account.
		GuardianNotRegistered,
		/// A guardian needs at least one power.
		NoPowers,
		/// The patient has `MaxGuardians` guardians.
		TooManyGuardians,
		/// No such guardianship.
		NotGuardian,
		/// The caller does not hold the emergency role.
		NotEmergencyStaff,
		/// The duration is zero or longer than `MaxEmergencyDuration`.
		InvalidDuration,
		/// No opening has this id.
		UnknownEmergency,
		/// A review must be independent: the caller must hold the auditor role at another hospital
		/// than the opener's (and so cannot be the opener).
		ReviewerNotIndependent,
		/// The opening was already reviewed.
		AlreadyReviewed,
		/// The consent covers no category.
		EmptyConsent,
		/// The patient has `MaxConsents` consents.
		TooManyConsents,
		/// No consent to this purpose.
		UnknownConsent,
		/// The caller is not an admin or validator account of a member.
		NotMemberAccount,
		/// A batch holds at least one receipt.
		EmptyBatch,
		/// An attribute policy must name the hospitals whose staff it admits (or say explicitly
		/// that it admits staff of every member).
		PolicyNamesNoHospital,
		/// A signed grant's last valid block has passed.
		SignedGrantExpired,
		/// A signed grant's nonce is not the patient's next relay nonce (used, or out of order).
		BadRelayNonce,
		/// A signed grant's signature is not its patient's over this chain's grant.
		BadRelaySignature,
		/// A batch holds at least one signed grant.
		EmptyGrantBatch,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		/// Drops expired grants with what is left of the block, at most
		/// [`GRANTS_SWEPT_PER_BLOCK`] looked at (docs/architecture.md, "Expired grants").
		fn on_idle(_n: BlockNumberFor<T>, remaining: Weight) -> Weight {
			Self::sweep_expired_grants(remaining)
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Grant access to `patient`'s records. Origin: the patient, or a guardian with the
		/// grant-management power.
		///
		/// - `terms`: grantee, scope, rights, expiry (unix ms, in the future) and conditions.
		///
		/// Emits `AccessGranted`.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::grant(T::MaxGrantsPerPatient::get()))]
		pub fn grant(origin: OriginFor<T>, patient: T::AccountId, terms: GrantTerms<T::AccountId>) -> DispatchResult {
			let by = ensure_signed(origin)?;
			Self::do_grant(by, patient, terms).map(|_| ())
		}

		/// Revoke a grant. Origin: its patient, or a guardian with the grant-management power.
		///
		/// Emits `AccessRevoked`.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::revoke(T::MaxGrantsPerPatient::get()))]
		pub fn revoke(origin: OriginFor<T>, grant: GrantId) -> DispatchResult {
			let by = ensure_signed(origin)?;
			let info = GrantOf::<T>::get(grant).ok_or(Error::<T>::UnknownGrant)?;
			Self::ensure_manager(&by, &info.patient)?;
			Self::drop_grant(grant, &info);
			Self::append(&info.patient, &by, AuditAction::GrantRevoked { grant });
			Self::deposit_event(Event::AccessRevoked { grant, patient: info.patient, by });
			Ok(())
		}

		/// Move a grant's expiry (shorten or extend it). Origin: its patient, or a guardian with
		/// the grant-management power.
		///
		/// Emits `GrantExpiryAmended`.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::amend_expiry())]
		pub fn amend_expiry(origin: OriginFor<T>, grant: GrantId, expires_at: Moment) -> DispatchResult {
			let by = ensure_signed(origin)?;
			let mut info = GrantOf::<T>::get(grant).ok_or(Error::<T>::UnknownGrant)?;
			Self::ensure_manager(&by, &info.patient)?;
			ensure!(T::Patients::is_patient(&info.patient), Error::<T>::UnknownPatient);
			ensure!(expires_at > T::Time::now(), Error::<T>::ExpiryInPast);
			info.terms.expires_at = expires_at;
			let patient = info.patient.clone();
			GrantOf::<T>::insert(grant, info);
			Self::append(&patient, &by, AuditAction::GrantExpiryAmended { grant, expires_at });
			Self::deposit_event(Event::GrantExpiryAmended { grant, patient, expires_at, by });
			Ok(())
		}

		/// Appoint (or change the powers of) a guardian. Origin: the patient.
		///
		/// Emits `GuardianAppointed`.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::appoint_guardian())]
		pub fn appoint_guardian(origin: OriginFor<T>, guardian: T::AccountId, powers: GuardianPowers) -> DispatchResult {
			let patient = ensure_signed(origin)?;
			ensure!(T::Patients::is_patient(&patient), Error::<T>::UnknownPatient);
			ensure!(T::Directory::is_registered(&guardian) && guardian != patient, Error::<T>::GuardianNotRegistered);
			ensure!(powers.read || powers.manage_grants, Error::<T>::NoPowers);
			if !GuardianOf::<T>::contains_key(&patient, &guardian) {
				let count = GuardianCount::<T>::get(&patient);
				ensure!(count < T::MaxGuardians::get(), Error::<T>::TooManyGuardians);
				GuardianCount::<T>::insert(&patient, count + 1);
			}
			GuardianOf::<T>::insert(&patient, &guardian, powers);
			Self::append(&patient, &patient, AuditAction::GuardianAppointed { guardian: guardian.clone() });
			Self::deposit_event(Event::GuardianAppointed { patient, guardian, powers });
			Ok(())
		}

		/// End a guardianship. Origin: the patient or the guardian.
		///
		/// Emits `GuardianRemoved`.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::remove_guardian())]
		pub fn remove_guardian(origin: OriginFor<T>, patient: T::AccountId, guardian: T::AccountId) -> DispatchResult {
			let by = ensure_signed(origin)?;
			ensure!(by == patient || by == guardian, Error::<T>::NotPatientOrGuardian);
			ensure!(GuardianOf::<T>::take(&patient, &guardian).is_some(), Error::<T>::NotGuardian);
			GuardianCount::<T>::mutate(&patient, |count| *count = count.saturating_sub(1));
			Self::append(&patient, &by, AuditAction::GuardianRemoved { guardian: guardian.clone() });
			Self::deposit_event(Event::GuardianRemoved { patient, guardian, by });
			Ok(())
		}

		/// Break glass: open read access to `patient`'s records for `duration` ms. Origin: staff
		/// holding the emergency role.
		///
		/// - `justification`: hash of the written justification kept by the hospital.
		/// - `duration`: 1..=`MaxEmergencyDuration` milliseconds.
		///
		/// Emits `EmergencyAccessOpened`, the patient's notification.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::open_emergency())]
		pub fn open_emergency(
			origin: OriginFor<T>,
			patient: T::AccountId,
			justification: H256,
			duration: Moment,
		) -> DispatchResult {
			let opener = ensure_signed(origin)?;
			let staff = T::Directory::staff(&opener).ok_or(Error::<T>::NotEmergencyStaff)?;
			ensure!(staff.roles.contains(Role::Emergency), Error::<T>::NotEmergencyStaff);
			ensure!(T::Patients::is_patient(&patient), Error::<T>::UnknownPatient);
			ensure!(duration > 0 && duration <= T::MaxEmergencyDuration::get(), Error::<T>::InvalidDuration);

			let now = T::Time::now();
			let expires_at = now.saturating_add(duration);
			let emergency = NextEmergencyId::<T>::get();
			NextEmergencyId::<T>::put(emergency.saturating_add(1));
			EmergencyOfId::<T>::insert(
				emergency,
				EmergencyAccess {
					patient: patient.clone(),
					opener: opener.clone(),
					hospital: staff.hospital,
					justification,
					opened_at: now,
					expires_at,
					opened_in: frame_system::Pallet::<T>::block_number(),
					reviewed_by: None,
				},
			);
			LatestEmergency::<T>::insert(&opener, &patient, emergency);
			PendingReview::<T>::insert(staff.hospital, emergency, ());
			Self::append(&patient, &opener, AuditAction::EmergencyOpened { emergency });
			Self::deposit_event(Event::EmergencyAccessOpened {
				emergency,
				patient,
				opener,
				hospital: staff.hospital,
				justification,
				expires_at,
			});
			Ok(())
		}

		/// Mark a break-glass opening reviewed. Origin: an auditor of ANOTHER hospital than the
		/// opener's: the hospital whose staff broke the glass never reviews its own opening (nor
		/// does the opener, whatever roles it holds).
		///
		/// Emits `EmergencyReviewed`.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::review_emergency())]
		pub fn review_emergency(origin: OriginFor<T>, emergency: EmergencyId) -> DispatchResult {
			let reviewer = ensure_signed(origin)?;
			let mut opening = EmergencyOfId::<T>::get(emergency).ok_or(Error::<T>::UnknownEmergency)?;
			let staff = T::Directory::staff(&reviewer).ok_or(Error::<T>::ReviewerNotIndependent)?;
			ensure!(
				staff.roles.contains(Role::Auditor) && staff.hospital != opening.hospital && reviewer != opening.opener,
				Error::<T>::ReviewerNotIndependent
			);
			ensure!(opening.reviewed_by.is_none(), Error::<T>::AlreadyReviewed);
			opening.reviewed_by = Some(reviewer.clone());
			PendingReview::<T>::remove(opening.hospital, emergency);
			let patient = opening.patient.clone();
			EmergencyOfId::<T>::insert(emergency, opening);
			Self::append(&patient, &reviewer, AuditAction::EmergencyReviewed { emergency });
			Self::deposit_event(Event::EmergencyReviewed { emergency, reviewer });
			Ok(())
		}

		/// Consent to research `purpose` on records in `categories` until `expires_at` (or replace
		/// that consent). Origin: the patient, or a guardian with the grant-management power.
		///
		/// Emits `ConsentGiven`.
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::give_consent())]
		pub fn give_consent(
			origin: OriginFor<T>,
			patient: T::AccountId,
			purpose: PurposeCode,
			categories: CategorySet,
			expires_at: Moment,
		) -> DispatchResult {
			let by = ensure_signed(origin)?;
			Self::ensure_manager(&by, &patient)?;
			ensure!(T::Patients::is_patient(&patient), Error::<T>::UnknownPatient);
			ensure!(!categories.is_empty() && !categories.has_unknown_bits(), Error::<T>::EmptyConsent);
			ensure!(expires_at > T::Time::now(), Error::<T>::ExpiryInPast);
			if !ConsentOf::<T>::contains_key(&patient, purpose) {
				let count = ConsentCount::<T>::get(&patient);
				ensure!(count < T::MaxConsents::get(), Error::<T>::TooManyConsents);
				ConsentCount::<T>::insert(&patient, count + 1);
			}
			let given_at = frame_system::Pallet::<T>::block_number();
			ConsentOf::<T>::insert(&patient, purpose, Consent { categories, expires_at, given_at });
			Self::append(&patient, &by, AuditAction::ConsentGiven { purpose });
			Self::deposit_event(Event::ConsentGiven { patient, purpose, categories, expires_at });
			Ok(())
		}

		/// Withdraw a research consent. Origin: the patient, or a guardian with the
		/// grant-management power.
		///
		/// Emits `ConsentWithdrawn`.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::withdraw_consent())]
		pub fn withdraw_consent(origin: OriginFor<T>, patient: T::AccountId, purpose: PurposeCode) -> DispatchResult {
			let by = ensure_signed(origin)?;
			Self::ensure_manager(&by, &patient)?;
			ensure!(ConsentOf::<T>::take(&patient, purpose).is_some(), Error::<T>::UnknownConsent);
			ConsentCount::<T>::mutate(&patient, |count| *count = count.saturating_sub(1));
			Self::append(&patient, &by, AuditAction::ConsentWithdrawn { purpose });
			Self::deposit_event(Event::ConsentWithdrawn { patient, purpose });
			Ok(())
		}

		/// Anchor a batch of read receipts served by the caller's hospital's node. Origin: an admin
		/// or validator account of a member.
		///
		/// - `root`: Merkle root of the receipts' hashes (`phr_primitives::receipts::batch_root`).
		/// - `count`: number of receipts in the batch.
		///
		/// Emits `ReceiptsAnchored`.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::anchor_receipts())]
		pub fn anchor_receipts(origin: OriginFor<T>, root: H256, count: u32) -> DispatchResult {
			let submitted_by = ensure_signed(origin)?;
			let hospital = T::Directory::member_account_hospital(&submitted_by).ok_or(Error::<T>::NotMemberAccount)?;
			ensure!(count > 0, Error::<T>::EmptyBatch);
			let batch = NextBatchId::<T>::get();
			NextBatchId::<T>::put(batch.saturating_add(1));
			let anchored_at = frame_system::Pallet::<T>::block_number();
			ReceiptBatchOfId::<T>::insert(batch, ReceiptBatch { hospital, submitted_by, root, count, anchored_at });
			Self::deposit_event(Event::ReceiptsAnchored { batch, hospital, root, count });
			Ok(())
		}

		/// Apply grants signed by their patients, submitted together by a relayer: any registered
		/// account, typically a hospital's gateway, so that many patients' grants share one
		/// extrinsic. Each item is checked on its own: its patient's signature over
		/// [`relayed_grant_payload`] (this chain's genesis hash, the terms, the nonce, the last
		/// valid block), its nonce (the patient's next [`RelayNonce`]) and that block; then it is
		/// applied as `grant` by its patient, with every check `grant` makes. An item that fails is
		/// reported (`RelayedGrantFailed`) and changes nothing; the others still apply. A nonce is
		/// used once the signature verifies, whatever becomes of the grant: the same signed grant
		/// never applies twice, nor later.
		///
		/// Emits `AccessGranted` per applied item and `GrantBatch` for the whole.
		#[pallet::call_index(10)]
		#[pallet::weight(Pallet::<T>::grant_batch_weight(items.len() as u32))]
		pub fn grant_batch(origin: OriginFor<T>, items: BoundedVec<SignedGrantOf<T>, T::MaxGrantBatch>) -> DispatchResult {
			let relayer = ensure_signed(origin)?;
			ensure!(!items.is_empty(), Error::<T>::EmptyGrantBatch);
			let genesis = frame_system::Pallet::<T>::block_hash(BlockNumberFor::<T>::zero());
			let now = frame_system::Pallet::<T>::block_number();
			let (mut granted, mut failed) = (0u32, 0u32);
			for (index, item) in items.into_iter().enumerate() {
				let patient = item.patient.clone();
				match Self::relayed_grant(&genesis, now, item) {
					Ok(_) => granted += 1,
					Err(error) => {
						failed += 1;
						Self::deposit_event(Event::RelayedGrantFailed { index: index as u32, patient, error });
					},
				}
			}
			Self::deposit_event(Event::GrantBatch { relayer, granted, failed });
			Ok(())
		}
	}
}

/// Most grants one block's sweep looks at: a full sweep of 100,000 live grants takes under half an
/// hour of blocks, and an idle block spends well under a millisecond on it.
pub const GRANTS_SWEPT_PER_BLOCK: u32 = 128;

impl<T: Config> Pallet<T> {
	/// Looks at up to [`GRANTS_SWEPT_PER_BLOCK`] grants from where the last sweep stopped (in
	/// storage order, wrapping around) and drops those whose expiry has passed, within `limit`.
	/// Charged by its benchmarks: `sweep_live` (grants looked at) and `sweep_expired` (grants
	/// dropped, with their indexes and trail entries). Returns the weight used.
	pub fn sweep_expired_grants(limit: Weight) -> Weight {
		let base = T::WeightInfo::sweep_live(0);
		let per_grant = T::WeightInfo::sweep_live(1).saturating_sub(base);
		let per_drop = T::WeightInfo::sweep_expired(1).saturating_sub(T::WeightInfo::sweep_live(1));
		if limit.any_lt(base.saturating_add(per_grant).saturating_add(per_drop)) {
			return Weight::zero();
		}
		let now = T::Time::now();
		let mut used = base;
		let start = ExpirySweepCursor::<T>::get();
		let mut grants = match &start {
			Some(key) => GrantOf::<T>::iter_from(key.to_vec()),
			None => GrantOf::<T>::iter(),
		};
		let (mut expired, mut last, mut looked) = (Vec::new(), None, 0u32);
		let mut reached_end = false;
		while looked < GRANTS_SWEPT_PER_BLOCK &&
			used.saturating_add(per_grant).saturating_add(per_drop).all_lte(limit)
		{
			let Some((id, grant)) = grants.next() else {
				reached_end = true;
				break;
			};
			used = used.saturating_add(per_grant);
			looked += 1;
			last = Some(id);
			if grant.terms.expires_at <= now {
				used = used.saturating_add(per_drop);
				expired.push((id, grant));
			}
		}
		drop(grants);
		for (id, grant) in expired {
			Self::drop_grant(id, &grant);
			Self::append(&grant.patient, &grant.patient, AuditAction::GrantExpired { grant: id });
			Self::deposit_event(Event::AccessExpired { grant: id, patient: grant.patient });
		}
		match (reached_end, last) {
			(false, Some(id)) => match BoundedVec::try_from(GrantOf::<T>::hashed_key_for(id)) {
				Ok(key) => ExpirySweepCursor::<T>::put(key),
				Err(_) => ExpirySweepCursor::<T>::kill(),
			},
			_ => ExpirySweepCursor::<T>::kill(),
		}
		used
	}

	/// Stores a grant of `patient` made by `by` (the patient, or a guardian that may manage its
	/// grants), with its indexes, trail entry and event.
	fn do_grant(by: T::AccountId, patient: T::AccountId, terms: GrantTerms<T::AccountId>) -> Result<GrantId, DispatchError> {
		Self::ensure_manager(&by, &patient)?;
		// An offboarded patient keeps what takes exposure back, not the power to widen it.
		ensure!(T::Patients::is_patient(&patient), Error::<T>::UnknownPatient);
		Self::check_terms(&patient, &terms)?;

		let grant = NextGrantId::<T>::get();
		GrantsByPatient::<T>::try_mutate(&patient, |grants| grants.try_push(grant))
			.map_err(|_| Error::<T>::TooManyGrants)?;
		NextGrantId::<T>::put(grant.saturating_add(1));
		if let Grantee::Account(grantee) = &terms.grantee {
			GrantsToAccount::<T>::insert(grantee, grant, &patient);
		}
		let granted_at = frame_system::Pallet::<T>::block_number();
		GrantOf::<T>::insert(grant, Grant { patient: patient.clone(), terms: terms.clone(), granted_by: by.clone(), granted_at });
		Self::append(&patient, &by, AuditAction::GrantAdded { grant });
		Self::deposit_event(Event::AccessGranted { grant, patient, terms, by });
		Ok(grant)
	}

	/// One item of a `grant_batch`: checked, its nonce used, then applied in a storage layer of
	/// its own (a refused grant leaves nothing behind but the used nonce).
	fn relayed_grant(genesis: &T::Hash, now: BlockNumberFor<T>, item: SignedGrantOf<T>) -> Result<GrantId, DispatchError> {
		ensure!(now <= item.valid_until, Error::<T>::SignedGrantExpired);
		let nonce = RelayNonce::<T>::get(&item.patient);
		ensure!(item.nonce == nonce, Error::<T>::BadRelayNonce);
		let payload = relayed_grant_payload(genesis, &item.patient, &item.terms, item.nonce, &item.valid_until);
		ensure!(item.signature.verify(&payload[..], &item.patient), Error::<T>::BadRelaySignature);
		RelayNonce::<T>::insert(&item.patient, nonce.saturating_add(1));
		frame_support::storage::with_storage_layer(|| Self::do_grant(item.patient.clone(), item.patient, item.terms))
	}

	/// A batch of `n` signed grants: the benchmark's items (each a patient's first grant), plus
	/// what a grant costs more when its patient already has the most grants.
	pub fn grant_batch_weight(n: u32) -> Weight {
		let fullest = T::WeightInfo::grant(T::MaxGrantsPerPatient::get())
			.saturating_sub(T::WeightInfo::grant(0));
		T::WeightInfo::grant_batch(n).saturating_add(fullest.saturating_mul(n.into()))
	}

	/// Removes a grant and its indexes.
	fn drop_grant(id: GrantId, grant: &GrantOfT<T>) {
		GrantOf::<T>::remove(id);
		GrantsByPatient::<T>::mutate(&grant.patient, |grants| grants.retain(|g| *g != id));
		if let Grantee::Account(grantee) = &grant.terms.grantee {
			GrantsToAccount::<T>::remove(grantee, id);
		}
	}

	/// `by` may manage `patient`'s grants and consents: the patient (active or offboarded), or a
	/// guardian with the power. Calls that widen access also check that the patient is active.
	fn ensure_manager(by: &T::AccountId, patient: &T::AccountId) -> Result<(), Error<T>> {
		if by == patient {
			ensure!(T::Patients::has_rights(patient), Error::<T>::UnknownPatient);
			return Ok(());
		}
		let powers = GuardianOf::<T>::get(patient, by).ok_or(Error::<T>::NotPatientOrGuardian)?;
		ensure!(powers.manage_grants, Error::<T>::NotPatientOrGuardian);
		Ok(())
	}

	fn check_terms(patient: &T::AccountId, terms: &GrantTerms<T::AccountId>) -> Result<(), Error<T>> {
		ensure!(terms.rights.is_valid(), Error::<T>::InvalidRights);
		ensure!(!terms.scope.is_empty() && !terms.scope.categories.has_unknown_bits(), Error::<T>::InvalidScope);
		ensure!(terms.expires_at > T::Time::now(), Error::<T>::ExpiryInPast);
		if let Some(window) = terms.conditions.time_window {
			ensure!(window.is_valid(), Error::<T>::InvalidTimeWindow);
		}
		match &terms.grantee {
			Grantee::Account(who) => ensure!(who != patient, Error::<T>::GrantToSelf),
			Grantee::HospitalRole { role, .. } => ensure!(*role != Role::Admin, Error::<T>::InvalidPolicy),
			Grantee::Policy(policy) => {
				// A policy names the hospitals it admits (their admins assign the attributes it
				// matches); a consortium-wide one must still restrict some attribute.
				let restricts = match &policy.hospitals {
					PolicyHospitals::Only(hospitals) => {
						ensure!(!hospitals.is_empty(), Error::<T>::PolicyNamesNoHospital);
						true
					},
					PolicyHospitals::ConsortiumWide =>
						!policy.roles.is_empty() || !policy.departments.is_empty() || !policy.facilities.is_empty(),
				};
				ensure!(restricts && !policy.roles.has_unknown_bits(), Error::<T>::InvalidPolicy);
			},
		}
		Ok(())
	}

	fn append(patient: &T::AccountId, actor: &T::AccountId, action: AuditAction<T::AccountId>) {
		let index = AuditLength::<T>::get(patient);
		let at = frame_system::Pallet::<T>::block_number();
		AuditTrail::<T>::insert(patient, index, AuditEntry { at, actor: actor.clone(), action });
		AuditLength::<T>::insert(patient, index.saturating_add(1));
	}

	fn check_conditions(grant: GrantId, conditions: &Conditions, staff: Option<&StaffView>, now: Moment) -> Result<(), Denial> {
		if let Some(window) = conditions.time_window {
			ensure!(window.contains(now), Denial::OutsideTimeWindow(grant));
		}
		if let Some(facility) = &conditions.facility {
			ensure!(staff.is_some_and(|s| &s.facility == facility), Denial::WrongFacility(grant));
		}
		Ok(())
	}

	/// The first of `patient`'s grants that lets `who` exercise `right` on a record of `category`
	/// and `root` at `now`, or the furthest any grant got.
	fn match_grants(
		who: &T::AccountId,
		staff: Option<&StaffView>,
		patient: &T::AccountId,
		category: Category,
		root: RecordId,
		right: Right,
		now: Moment,
	) -> Result<GrantId, Denial> {
		let mut best = Denial::NoGrant;
		for id in GrantsByPatient::<T>::get(patient) {
			let Some(grant) = GrantOf::<T>::get(id) else { continue };
			let terms = &grant.terms;
			if !terms.grantee.names(who, staff) {
				continue;
			}
			let outcome = if !terms.rights.contains(right) {
				Err(Denial::RightNotGranted(id))
			} else if !terms.scope.covers(category, root) {
				Err(Denial::OutOfScope(id))
			} else if now >= terms.expires_at {
				Err(Denial::Expired(id))
			} else {
				Self::check_conditions(id, &terms.conditions, staff, now)
			};
			match outcome {
				Ok(()) => return Ok(id),
				Err(denial) if denial.depth() > best.depth() => best = denial,
				Err(_) => {},
			}
		}
		Err(best)
	}

	/// The one decision: may `who` exercise `right` on `record` for `purpose` at `now` (unix ms)?
	/// Allowed with its basis, or denied with the furthest rule that almost applied.
	pub fn decide(who: &T::AccountId, record: RecordId, right: Right, purpose: Purpose, now: Moment) -> Decision {
		match Self::evaluate(who, record, right, purpose, now) {
			Ok(basis) => Decision::Allowed(basis),
			Err(denial) => Decision::Denied(denial),
		}
	}

	fn evaluate(who: &T::AccountId, record: RecordId, right: Right, purpose: Purpose, now: Moment) -> Result<Basis, Denial> {
		let info = T::Records::record_access(record).ok_or(Denial::UnknownRecord)?;
		ensure!(!info.erased, Denial::Erased);
		if *who == info.patient {
			return Ok(Basis::Owner);
		}
		ensure!(T::Directory::is_registered(who), Denial::Unregistered);
		if right == Right::Read && GuardianOf::<T>::get(&info.patient, who).is_some_and(|p| p.read) {
			return Ok(Basis::Guardian);
		}
		let staff = T::Directory::staff(who);
		match purpose {
			Purpose::Treatment =>
				Self::match_grants(who, staff.as_ref(), &info.patient, info.category, info.root, right, now)
					.map(Basis::Grant),
			Purpose::Emergency => {
				ensure!(right == Right::Read, Denial::NoEmergencyAccess);
				ensure!(staff.as_ref().is_some_and(|s| s.roles.contains(Role::Emergency)), Denial::NoEmergencyAccess);
				let id = LatestEmergency::<T>::get(who, &info.patient).ok_or(Denial::NoEmergencyAccess)?;
				let opening = EmergencyOfId::<T>::get(id).ok_or(Denial::NoEmergencyAccess)?;
				ensure!(now < opening.expires_at, Denial::EmergencyExpired(id));
				Ok(Basis::Emergency(id))
			},
			Purpose::Research(code) => {
				ensure!(right == Right::Read, Denial::NoConsent);
				ensure!(staff.as_ref().is_some_and(|s| s.roles.contains(Role::Researcher)), Denial::NotResearcher);
				let consent = ConsentOf::<T>::get(&info.patient, code).ok_or(Denial::NoConsent)?;
				ensure!(now < consent.expires_at && consent.categories.contains(info.category), Denial::NoConsent);
				Ok(Basis::Consent(code))
			},
		}
	}

	/// `patient`'s audit entries from index `from`, at most `limit`, in order.
	pub fn audit_trail(patient: &T::AccountId, from: u32, limit: u32) -> Vec<AuditEntryOf<T>> {
		let end = AuditLength::<T>::get(patient).min(from.saturating_add(limit));
		(from..end).filter_map(|index| AuditTrail::<T>::get(patient, index)).collect()
	}

	/// `patient`'s live grants.
	pub fn grants_of(patient: &T::AccountId) -> Vec<(GrantId, GrantOfT<T>)> {
		GrantsByPatient::<T>::get(patient)
			.into_iter()
			.filter_map(|id| GrantOf::<T>::get(id).map(|grant| (id, grant)))
			.collect()
	}

	/// Live grants naming `who` as their one account, with their patients.
	pub fn grants_to(who: &T::AccountId) -> Vec<(GrantId, T::AccountId)> {
		GrantsToAccount::<T>::iter_prefix(who).collect()
	}

	/// Openings by `hospital`'s staff not yet reviewed.
	pub fn pending_reviews(hospital: HospitalId) -> Vec<(EmergencyId, EmergencyOf<T>)> {
		PendingReview::<T>::iter_key_prefix(hospital)
			.filter_map(|id| EmergencyOfId::<T>::get(id).map(|opening| (id, opening)))
			.collect()
	}

	/// Checks that the grant indexes agree with each other.
	#[cfg(any(feature = "try-runtime", test))]
	pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
		let mut indexed = 0usize;
		for (patient, grants) in GrantsByPatient::<T>::iter() {
			for id in grants.iter() {
				let grant = GrantOf::<T>::get(id).ok_or("GrantsByPatient lists a grant that does not exist")?;
				ensure!(grant.patient == patient, "a grant is listed under another patient");
				indexed += 1;
			}
		}
		ensure!(GrantOf::<T>::iter().count() == indexed, "a grant is missing from GrantsByPatient");
		let mut to_accounts = 0usize;
		for (id, grant) in GrantOf::<T>::iter() {
			ensure!(id < NextGrantId::<T>::get(), "a grant id was never issued");
			if let Grantee::Account(grantee) = &grant.terms.grantee {
				ensure!(
					GrantsToAccount::<T>::get(grantee, id) == Some(grant.patient.clone()),
					"GrantsToAccount misses a grant"
				);
				to_accounts += 1;
			}
		}
		ensure!(GrantsToAccount::<T>::iter().count() == to_accounts, "GrantsToAccount has stale entries");
		for (patient, count) in GuardianCount::<T>::iter() {
			ensure!(GuardianOf::<T>::iter_prefix(&patient).count() as u32 == count, "GuardianCount disagrees");
		}
		for (patient, count) in ConsentCount::<T>::iter() {
			ensure!(ConsentOf::<T>::iter_prefix(&patient).count() as u32 == count, "ConsentCount disagrees");
		}
		for (patient, length) in AuditLength::<T>::iter() {
			ensure!(AuditTrail::<T>::iter_prefix(&patient).count() as u32 == length, "AuditLength disagrees");
		}
		for (hospital, id, ()) in PendingReview::<T>::iter() {
			let opening = EmergencyOfId::<T>::get(id).ok_or("a pending review names no opening")?;
			ensure!(opening.hospital == hospital && opening.reviewed_by.is_none(), "a pending review is stale");
		}
		Ok(())
	}
}

impl<T: Config> AuditLog<T::AccountId> for Pallet<T> {
	fn append(patient: &T::AccountId, actor: &T::AccountId, action: AuditAction<T::AccountId>) {
		Pallet::<T>::append(patient, actor, action)
	}
}

/// Staff may add a record when a grant of the patient gives them the append right over its
/// category (or, when amending, over the record) now.
impl<T: Config> AppendPermission<T::AccountId> for Pallet<T> {
	fn can_append(author: &T::AccountId, patient: &T::AccountId, category: Category, root: Option<RecordId>) -> bool {
		if !T::Directory::is_registered(author) {
			return false;
		}
		let staff = T::Directory::staff(author);
		let root = root.unwrap_or(RecordId::MAX);
		Self::match_grants(author, staff.as_ref(), patient, category, root, Right::Append, T::Time::now()).is_ok()
	}

	/// `decide` over a patient's `MaxGrantsPerPatient` grants, each evaluated to its last
	/// condition: the same grant matching as `can_append`'s worst case, plus the record's lookup.
	fn can_append_weight() -> Weight {
		T::WeightInfo::decide(T::MaxGrantsPerPatient::get())
	}
}
