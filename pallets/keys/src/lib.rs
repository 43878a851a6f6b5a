//! # Keys Pallet
//!
//! The public keys that make client-side encryption work, and the rotation of keys over time.
//!
//! ## Overview
//!
//! - **Account keys.** Every account that reads records registers an X25519 public key, to which
//!   data keys are wrapped with HPKE, and an ed25519 public key, which verifies its signed requests
//!   to the blob store. Both form an [`AccountKeys`] with an epoch.
//! - **Data keys.** Each record version is sealed under its own data key. When a reader is revoked,
//!   when the key gets too old, or when it may be compromised, the patient re-encrypts the record
//!   under a fresh data key, uploads the new ciphertext and calls `rotate_data_key`: the record's
//!   ciphertext hash and data-key epoch change (in the records pallet) and `DataKeyRotated` records
//!   why.
//!
//! ## Lifecycle of an account's keys
//!
//! 1. `register_keys`: epoch 0.
//! 2. `rotate_keys`: the new keys get epoch + 1; the old ones are retired, stay queryable forever
//!    with the block they were retired at (`RetiredKeyOf`), so an auditor can tell which key a data
//!    key was wrapped to at any time.
//! 3. A key older than [`Config::MaxKeyAge`] is due for rotation: `KeysApi::keys_due` lists such
//!    accounts, `KeysApi::records_due` a patient's records whose data key is too old.
//!
//! ## Safety considerations
//!
//! - Only public keys are stored; every private key stays on its owner's device.
//! - An all-zero X25519 key (whose shared secrets are all zero) and a malformed or small-order
//!   ed25519 key are refused.
//! - The chain cannot check that a new ciphertext really is the record re-encrypted; it records who
//!   replaced it and when, and only the patient may.
//!
//! ## Calls
//!
//! - Any registered account: `register_keys`, `rotate_keys`.
//! - The patient of the record: `rotate_data_key`.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod weights;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;

pub use pallet::*;
pub use weights::WeightInfo;

use alloc::vec::Vec;
use frame_support::pallet_prelude::*;
use frame_system::pallet_prelude::*;
use phr_primitives::{
	traits::{AuditLog, RecordKeyStore},
	AccountKeys, AuditAction, CiphertextHash, KeyEpoch, KeyRecord, RecordId, RotationReason,
};
use sp_runtime::{traits::Zero, Saturating};

#[frame_support::pallet]
pub mod pallet {
	use super::*;

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// The records whose data keys rotate.
		type Records: RecordKeyStore<Self::AccountId, BlockNumberFor<Self>>;

		/// The patients' audit trail: data-key rotations are appended to it.
		type Audit: AuditLog<Self::AccountId>;

		/// A key older than this many blocks is due for rotation.
		#[pallet::constant]
		type MaxKeyAge: Get<BlockNumberFor<Self>>;

		type WeightInfo: WeightInfo;
	}

	/// Account -> its current keys.
	#[pallet::storage]
	pub type KeyOf<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, KeyRecord<BlockNumberFor<T>>>;

	/// (account, epoch) -> keys a rotation retired.
	#[pallet::storage]
	pub type RetiredKeyOf<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Twox64Concat, KeyEpoch, KeyRecord<BlockNumberFor<T>>>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// `who` registered its first keys.
		KeysRegistered { who: T::AccountId, keys: AccountKeys },
		/// `who` rotated its keys: `epoch` is current, the previous epoch was retired.
		KeysRotated { who: T::AccountId, epoch: KeyEpoch, keys: AccountKeys },
		/// The patient re-encrypted `record` under a fresh data key of epoch `epoch`.
		DataKeyRotated { record: RecordId, epoch: KeyEpoch, reason: RotationReason, by: T::AccountId },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The account already registered keys; rotate them instead.
		AlreadyRegistered,
		/// The account has no keys yet; register them first.
		NoKeys,
		/// The new keys are the current ones.
		KeysUnchanged,
		/// The X25519 key is all zeros.
		InvalidEncryptionKey,
		/// The ed25519 key is malformed or of small order.
		InvalidRequestKey,
	}

	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Keys registered at genesis (epoch 0): the founding hospitals' escrow keys, registered for
		/// their validator accounts, so that break-glass shares can be sealed from the first block.
		pub keys: Vec<(T::AccountId, AccountKeys)>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			for (who, keys) in &self.keys {
				Pallet::<T>::check_keys(keys).expect("genesis keys must be valid");
				assert!(!KeyOf::<T>::contains_key(who), "genesis keys registered twice for one account");
				KeyOf::<T>::insert(who, KeyRecord { keys: keys.clone(), epoch: 0, registered_at: Zero::zero(), retired_at: None });
			}
		}
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Register the caller's first keys (epoch 0). Origin: any registered account.
		///
		/// Emits `KeysRegistered`.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::register_keys())]
		pub fn register_keys(origin: OriginFor<T>, keys: AccountKeys) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(!KeyOf::<T>::contains_key(&who), Error::<T>::AlreadyRegistered);
			Self::check_keys(&keys)?;
			let registered_at = frame_system::Pallet::<T>::block_number();
			KeyOf::<T>::insert(&who, KeyRecord { keys: keys.clone(), epoch: 0, registered_at, retired_at: None });
			Self::deposit_event(Event::KeysRegistered { who, keys });
			Ok(())
		}

		/// Replace the caller's keys with new ones (epoch + 1); the old ones are retired now and
		/// stay queryable. Origin: an account with keys.
		///
		/// Emits `KeysRotated`.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::rotate_keys())]
		pub fn rotate_keys(origin: OriginFor<T>, keys: AccountKeys) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let mut current = KeyOf::<T>::get(&who).ok_or(Error::<T>::NoKeys)?;
			ensure!(current.keys != keys, Error::<T>::KeysUnchanged);
			Self::check_keys(&keys)?;
			let now = frame_system::Pallet::<T>::block_number();
			let epoch = current.epoch.saturating_add(1);
			current.retired_at = Some(now);
			RetiredKeyOf::<T>::insert(&who, current.epoch, current);
			KeyOf::<T>::insert(&who, KeyRecord { keys: keys.clone(), epoch, registered_at: now, retired_at: None });
			Self::deposit_event(Event::KeysRotated { who, epoch, keys });
			Ok(())
		}

		/// Record that the caller re-encrypted `record` under a fresh data key and uploaded the new
		/// ciphertext. Origin: the record's patient.
		///
		/// - `ciphertext_hash`, `size`: of the new ciphertext.
		/// - `reason`: why the data key rotated.
		///
		/// Emits `DataKeyRotated` (and the records pallet's `CiphertextReplaced`).
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::rotate_data_key())]
		pub fn rotate_data_key(
			origin: OriginFor<T>,
			record: RecordId,
			ciphertext_hash: CiphertextHash,
			size: u64,
			reason: RotationReason,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let epoch = T::Records::replace_ciphertext(&who, record, ciphertext_hash, size)?;
			T::Audit::append(&who, &who, AuditAction::DataKeyRotated { record });
			Self::deposit_event(Event::DataKeyRotated { record, epoch, reason, by: who });
			Ok(())
		}
	}
}

impl<T: Config> Pallet<T> {
	fn check_keys(keys: &AccountKeys) -> Result<(), Error<T>> {
		ensure!(keys.encryption != [0u8; 32], Error::<T>::InvalidEncryptionKey);
		let request_key = ed25519_dalek::VerifyingKey::from_bytes(&keys.request_signing)
			.map_err(|_| Error::<T>::InvalidRequestKey)?;
		ensure!(!request_key.is_weak(), Error::<T>::InvalidRequestKey);
		Ok(())
	}

	fn too_old(since: BlockNumberFor<T>) -> bool {
		frame_system::Pallet::<T>::block_number().saturating_sub(since) > T::MaxKeyAge::get()
	}

	/// The keys `who` has at `epoch`, current or retired.
	pub fn key_at(who: &T::AccountId, epoch: KeyEpoch) -> Option<KeyRecord<BlockNumberFor<T>>> {
		KeyOf::<T>::get(who).filter(|k| k.epoch == epoch).or_else(|| RetiredKeyOf::<T>::get(who, epoch))
	}

	/// Accounts whose current key is older than `MaxKeyAge`, after `start_after` in storage order.
	pub fn keys_due(start_after: Option<T::AccountId>, limit: u32) -> Vec<T::AccountId> {
		let iter = match start_after {
			Some(after) => KeyOf::<T>::iter_from(KeyOf::<T>::hashed_key_for(after)),
			None => KeyOf::<T>::iter(),
		};
		iter.filter(|(_, key)| Self::too_old(key.registered_at))
			.map(|(who, _)| who)
			.take(limit as usize)
			.collect()
	}

	/// Of `patient`'s records at positions `from..from + limit`, those with a data key older than
	/// `MaxKeyAge`.
	pub fn records_due(patient: &T::AccountId, from: u32, limit: u32) -> Vec<RecordId> {
		T::Records::patient_records(patient, from, limit)
			.into_iter()
			.filter(|record| T::Records::key_state(*record).is_some_and(|(_, _, set_at)| Self::too_old(set_at)))
			.collect()
	}

	/// Checks that current and retired keys agree.
	#[cfg(any(feature = "try-runtime", test))]
	pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
		for (who, current) in KeyOf::<T>::iter() {
			ensure!(current.retired_at.is_none(), "a current key is marked retired");
			for epoch in 0..current.epoch {
				let retired = RetiredKeyOf::<T>::get(&who, epoch).ok_or("a retired epoch is missing")?;
				ensure!(retired.epoch == epoch, "a retired key is filed under another epoch");
				ensure!(retired.retired_at.is_some(), "a retired key has no retirement block");
			}
		}
		for (who, epoch, _) in RetiredKeyOf::<T>::iter() {
			let current = KeyOf::<T>::get(&who).ok_or("retired keys without current keys")?;
			ensure!(epoch < current.epoch, "a retired epoch is not older than the current one");
		}
		Ok(())
	}
}
