//! Runtime API of the keys pallet: accounts' encryption keys past and present, and what is due for
//! rotation under the runtime's maximum key age.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use codec::Codec;
use phr_primitives::{KeyEpoch, KeyRecord, RecordId};

sp_api::decl_runtime_apis! {
	#[api_version(1)]
	pub trait KeysApi<AccountId: Codec, BlockNumber: Codec> {
		/// The account's current keys and epoch.
		fn current_key(who: AccountId) -> Option<KeyRecord<BlockNumber>>;
		/// The account's keys at `epoch`, current or retired (with the block it was retired at).
		fn key_at(who: AccountId, epoch: KeyEpoch) -> Option<KeyRecord<BlockNumber>>;
		/// Accounts whose current key is older than the maximum key age, after `start_after`
		/// (exclusive, in storage order), at most `limit`.
		fn keys_due(start_after: Option<AccountId>, limit: u32) -> Vec<AccountId>;
		/// Of `patient`'s records at positions `from..from + limit`, those whose data key is older
		/// than the maximum key age.
		fn records_due(patient: AccountId, from: u32, limit: u32) -> Vec<RecordId>;
	}
}
