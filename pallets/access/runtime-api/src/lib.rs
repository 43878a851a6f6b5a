//! Runtime API of the access pallet: the one access decision, and what auditors read.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use codec::Codec;
use phr_primitives::{
	AuditEntry, BatchId, Decision, Grant, GrantId, Moment, Purpose, ReceiptBatch, RecordId, Right,
};

sp_api::decl_runtime_apis! {
	#[api_version(1)]
	pub trait AccessApi<AccountId: Codec, BlockNumber: Codec> {
		/// May `who` exercise `right` on `record` for `purpose` at `now` (unix ms)?
		fn decide(who: AccountId, record: RecordId, right: Right, purpose: Purpose, now: Moment) -> Decision;
		/// `patient`'s audit trail from index `from`, at most `limit` entries, in order.
		fn audit_trail(patient: AccountId, from: u32, limit: u32) -> Vec<AuditEntry<AccountId, BlockNumber>>;
		/// Number of entries in `patient`'s audit trail.
		fn audit_length(patient: AccountId) -> u32;
		/// `patient`'s live grants.
		fn grants_of(patient: AccountId) -> Vec<(GrantId, Grant<AccountId, BlockNumber>)>;
		/// Live grants naming `who` as their one account, with their patients.
		fn grants_to(who: AccountId) -> Vec<(GrantId, AccountId)>;
		/// An anchored batch of read receipts.
		fn receipt_batch(batch: BatchId) -> Option<ReceiptBatch<AccountId, BlockNumber>>;
	}
}
