//! The structs the access pallet keeps in storage, and the signed grant a relayer carries.

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use phr_primitives::{CategorySet, GrantTerms, HospitalId, Moment};
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

/// A grant signed by its patient, which any registered account (a hospital's gateway, say) may
/// submit with others in one `grant_batch`. The patient's signature covers
/// [`relayed_grant_payload`]: the chain, the grant, the nonce and the last valid block.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub struct SignedGrant<AccountId, BlockNumber, Signature> {
	pub patient: AccountId,
	pub terms: GrantTerms<AccountId>,
	/// The patient's relay nonce this grant uses ([`crate::RelayNonce`]): each nonce once, in order.
	pub nonce: u32,
	/// The last block in which the grant may be applied; after it, the signed grant is void.
	pub valid_until: BlockNumber,
	pub signature: Signature,
}

/// What distinguishes a relayed grant's signature from any other the patient makes.
pub const RELAYED_GRANT_TAG: &[u8; 20] = b"phr/relayed-grant/v1";

/// The bytes a patient signs for a relayed grant: the tag, the chain's genesis hash, the patient,
/// the terms, the nonce and the last valid block, SCALE-encoded.
pub fn relayed_grant_payload<AccountId: Encode, BlockNumber: Encode, Hash: Encode>(
	genesis: &Hash,
	patient: &AccountId,
	terms: &GrantTerms<AccountId>,
	nonce: u32,
	valid_until: &BlockNumber,
) -> Vec<u8> {
	(RELAYED_GRANT_TAG, genesis, patient, terms, nonce, valid_until).encode()
}
