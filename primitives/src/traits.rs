//! How the PHR pallets ask each other, so that the runtime (not a pallet) wires who answers.

use crate::{
	access::AuditAction,
	consortium::{HospitalId, StaffView},
	records::{Category, CiphertextHash, KeyEpoch, RecordId},
};
use alloc::vec::Vec;
use sp_runtime::DispatchError;

/// Who is a registered patient (answered by the consortium pallet).
pub trait PatientRegistry<AccountId> {
	/// An active patient: may add records and grant access.
	fn is_patient(who: &AccountId) -> bool;

	/// A patient the consortium onboarded, active or since offboarded: keeps the rights that take
	/// exposure back (revoke, withdraw consent, erase).
	fn has_rights(who: &AccountId) -> bool {
		Self::is_patient(who)
	}

	/// Makes `who` a patient, for benchmarks that need one.
	#[cfg(feature = "runtime-benchmarks")]
	fn register_patient_for_benchmark(who: &AccountId);
}

/// Whether `author` may add records for `patient` (answered by the access-control pallet).
pub trait AppendPermission<AccountId> {
	/// `root` is the record being amended, `None` for a new record.
	fn can_append(author: &AccountId, patient: &AccountId, category: Category, root: Option<RecordId>) -> bool;

	/// The most one `can_append` costs (its benchmarked worst case): a call that asks it is charged
	/// this on top of its own weight.
	fn can_append_weight() -> sp_runtime::Weight;
}

/// Nobody but the patient may append.
impl<AccountId> AppendPermission<AccountId> for () {
	fn can_append(_: &AccountId, _: &AccountId, _: Category, _: Option<RecordId>) -> bool {
		false
	}

	fn can_append_weight() -> sp_runtime::Weight {
		sp_runtime::Weight::zero()
	}
}

/// A record's data key, as the keys pallet needs it (answered by the records pallet).
pub trait RecordKeyStore<AccountId, BlockNumber> {
	/// The patient, data-key epoch and the block the key was set at, of a record not erased.
	fn key_state(record: RecordId) -> Option<(AccountId, KeyEpoch, BlockNumber)>;
	/// Replaces the record's ciphertext after its patient `who` re-encrypted it under a fresh data
	/// key; returns the new epoch.
	fn replace_ciphertext(
		who: &AccountId,
		record: RecordId,
		ciphertext_hash: CiphertextHash,
		size: u64,
	) -> Result<KeyEpoch, DispatchError>;
	/// The ids of `patient`'s records from position `from`, at most `limit`, oldest first.
	fn patient_records(patient: &AccountId, from: u32, limit: u32) -> Vec<RecordId>;

	/// Creates a record of `patient` (made a patient if needed), for benchmarks that need one.
	#[cfg(feature = "runtime-benchmarks")]
	fn record_for_benchmark(patient: &AccountId) -> RecordId;
}

/// Who the consortium knows (answered by the consortium pallet).
pub trait ConsortiumDirectory<AccountId> {
	/// Whether `who` may transact at all.
	fn is_registered(who: &AccountId) -> bool;
	/// `who`'s hospital, roles and attributes, if staff of a current member or a member's admin.
	fn staff(who: &AccountId) -> Option<StaffView>;
	/// The member hospital whose admin or validator account `who` is.
	fn member_account_hospital(who: &AccountId) -> Option<HospitalId>;

	/// Makes `who` staff with `view`, for benchmarks that need one.
	#[cfg(feature = "runtime-benchmarks")]
	fn register_staff_for_benchmark(who: &AccountId, view: StaffView);

	/// An admin or validator account of a member, for benchmarks that need one.
	#[cfg(feature = "runtime-benchmarks")]
	fn member_account_for_benchmark() -> AccountId;
}

/// Appends to a patient's audit trail (answered by the access-control pallet).
pub trait AuditLog<AccountId> {
	fn append(patient: &AccountId, actor: &AccountId, action: AuditAction<AccountId>);
}

/// No audit trail (tests of pallets that do not care).
impl<AccountId> AuditLog<AccountId> for () {
	fn append(_: &AccountId, _: &AccountId, _: AuditAction<AccountId>) {}
}

/// What access rules need to know about a record (answered by the records pallet).
#[derive(Clone, PartialEq, Eq, codec::Encode, codec::Decode, Debug)]
pub struct RecordAccess<AccountId> {
	pub patient: AccountId,
	pub category: Category,
	/// The record's first version: grants name roots.
	pub root: RecordId,
	pub erased: bool,
}

/// Looks records up for the access rules.
pub trait RecordDirectory<AccountId> {
	fn record_access(record: RecordId) -> Option<RecordAccess<AccountId>>;

	/// Creates a record of `patient` (made a patient if needed), for benchmarks that need one.
	#[cfg(feature = "runtime-benchmarks")]
	fn record_of_category_for_benchmark(patient: &AccountId, category: Category) -> RecordId;
}
