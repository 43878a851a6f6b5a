//! The structs the access pallet keeps in storage.

use codec::{Decode, Encode, MaxEncodedLen};
use phr_primitives::{CategorySet, HospitalId, Moment};
use scale_info::TypeInfo;
use sp_core::H256;

/// A break-glass opening.
#[derive(Clone, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug)]
pub struct EmergencyAccess<AccountId, BlockNumber> {
	pub patient: AccountId,
	/// Staff with the emergency role who opened it.
	pub opener: AccountId,
	/// The opener's hospital, whose auditors review it.
	pub hospital: HospitalId,
	/// Hash of the written justification the hospital keeps.
	pub justification: H256,
	pub opened_at: Moment,
	pub expires_at: Moment,
	pub opened_in: BlockNumber,
	/// The auditor who reviewed it; `None` while it is flagged for review.
	pub reviewed_by: Option<AccountId>,
}

/// A patient's consent to a research purpose.
#[derive(Clone, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug)]
pub struct Consent<BlockNumber> {
	pub categories: CategorySet,
	pub expires_at: Moment,
	pub given_at: BlockNumber,
}
