//! Runtime API of the records pallet: what wallets, blob stores and auditors read about records.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use codec::Codec;
use phr_primitives::{CiphertextHash, RecordId, RecordInfo};

sp_api::decl_runtime_apis! {
	#[api_version(1)]
	pub trait RecordsApi<AccountId: Codec, BlockNumber: Codec> {
		/// One record version.
		fn record(id: RecordId) -> Option<RecordInfo<AccountId, BlockNumber>>;
		/// A patient's record versions from position `from`, at most `limit`, in registration order.
		fn patient_records(patient: AccountId, from: u32, limit: u32) -> Vec<(RecordId, RecordInfo<AccountId, BlockNumber>)>;
		/// Every version of the record `id` belongs to, oldest first.
		fn versions(id: RecordId) -> Vec<RecordId>;
		/// The record version whose ciphertext has this hash.
		fn record_by_hash(hash: CiphertextHash) -> Option<RecordId>;
	}
}
