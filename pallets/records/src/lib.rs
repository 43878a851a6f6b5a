//! # Records Pallet
//!
//! The registry of personal health records: for each record version, whose record it is, the
//! blake2-256 hash and size of its ciphertext, a coarse category, the epoch of its data key, who
//! registered it and when, and the version it amends. The ciphertext itself lives off chain in the
//! nodes' blob stores; the chain only names it by hash.
//!
//! ## Overview
//!
//! Nothing readable is ever stored here: no content, no name, no diagnosis. Every node operator of
//! every hospital can read all chain state, so what the chain holds must be safe for all of them to
//! see. That is also why [`Category`] is coarse (see its docs).
//!
//! ## Lifecycle of a record
//!
//! 1. `register`: the patient, or staff holding an append right on the patient (asked through
//!    [`Config::AppendPermission`], which the runtime wires to the access-control rules), registers
//!    the hash of a ciphertext already uploaded to a blob store. The record gets a new [`RecordId`],
//!    version 1, data-key epoch 0. Once the registering block is final, blob stores pin the bytes.
//! 2. `amend`: a new version with its own id, linked to the one it replaces (`previous`) and to the
//!    first version (`root`). The replaced version becomes `Superseded` and stays readable as history.
//!    Only the latest version may be amended.
//! 3. Re-encryption (through the keys pallet, [`RecordKeyStore::replace_ciphertext`]): the patient
//!    replaces a version's ciphertext with one sealed under a fresh data key; the epoch goes up.
//! 4. `erase`: the patient erases the record, every version of it. The versions stay as tombstones
//!    (`Erased`), `RecordErased` lists every ciphertext hash so every node purges the bytes, and no
//!    rule ever serves them again. Erasure cannot be undone and an erased record cannot be amended.
//!
//! ## Safety considerations
//!
//! - The hash is checked by the blob store on write and on every read: a ciphertext that does not
//!   hash to what the chain registered is never served.
//! - A ciphertext hash names exactly one record version (`RecordByHash`): the same bytes cannot be
//!   registered twice, by the same or another patient.
//! - Per-patient and per-record bounds (`MaxRecordsPerPatient`, `MaxVersions`) keep every call's
//!   cost bounded; the bounds are the benchmarks' components.
//!
//! ## Calls
//!
//! - The patient, or staff with an append right: `register`, `amend`.
//! - The patient only: `erase`.

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
	traits::{AppendPermission, AuditLog, PatientRegistry, RecordAccess, RecordDirectory, RecordKeyStore},
	AuditAction, Category, CiphertextHash, KeyEpoch, RecordId, RecordInfo, RecordStatus,
};

#[frame_support::pallet]
pub mod pallet {
	use super::*;

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// Who is a registered patient.
		type Patients: PatientRegistry<Self::AccountId>;

		/// Whether staff may add records for a patient.
		type AppendPermission: AppendPermission<Self::AccountId>;

		/// The patients' audit trail: registrations, amendments and erasures are appended to it.
		type Audit: AuditLog<Self::AccountId>;

		/// Largest ciphertext a record may name, in bytes.
		#[pallet::constant]
		type MaxCiphertextSize: Get<u64>;

		/// Most record versions one patient may have (erased ones included).
		#[pallet::constant]
		type MaxRecordsPerPatient: Get<u32>;

		/// Most versions of one record.
		#[pallet::constant]
		type MaxVersions: Get<u32>;

		type WeightInfo: WeightInfo;
	}

	pub type RecordOfT<T> = RecordInfo<<T as frame_system::Config>::AccountId, BlockNumberFor<T>>;
	pub type VersionsT<T> = BoundedVec<RecordId, <T as Config>::MaxVersions>;

	/// Every record version, by id.
	#[pallet::storage]
	pub type RecordOf<T: Config> = StorageMap<_, Blake2_128Concat, RecordId, RecordOfT<T>>;

	/// The id the next record version will get.
	#[pallet::storage]
	pub type NextRecordId<T: Config> = StorageValue<_, RecordId, ValueQuery>;

	/// (patient, position) -> record version, positions 0.. in registration order, for paging.
	#[pallet::storage]
	pub type RecordsByPatient<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Twox64Concat, u32, RecordId>;

	/// Number of entries of a patient in [`RecordsByPatient`].
	#[pallet::storage]
	pub type RecordCountOf<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, u32, ValueQuery>;

	/// Root record -> all its versions, oldest first.
	#[pallet::storage]
	pub type VersionsOf<T: Config> = StorageMap<_, Blake2_128Concat, RecordId, VersionsT<T>, ValueQuery>;

	/// Ciphertext hash -> the record version that names it. The key is already a hash.
	#[pallet::storage]
	pub type RecordByHash<T: Config> = StorageMap<_, Identity, CiphertextHash, RecordId>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A record was registered; blob stores pin `ciphertext_hash` once this is final.
		RecordRegistered {
			record: RecordId,
			patient: T::AccountId,
			author: T::AccountId,
			category: Category,
			ciphertext_hash: CiphertextHash,
			size: u64,
		},
		/// `record` amends `previous`; both belong to the record `root`.
		RecordAmended {
			record: RecordId,
			previous: RecordId,
			root: RecordId,
			version: u32,
			author: T::AccountId,
			ciphertext_hash: CiphertextHash,
			size: u64,
		},
		/// A version's ciphertext was replaced by a re-encryption under data-key `key_epoch`; blob
		/// stores pin the new bytes and purge the old.
		CiphertextReplaced { record: RecordId, old_hash: CiphertextHash, new_hash: CiphertextHash, key_epoch: KeyEpoch },
		/// The patient erased the record `root` and all its versions: every node purges these
		/// ciphertexts and never serves them again.
		RecordErased { root: RecordId, patient: T::AccountId, ciphertext_hashes: BoundedVec<CiphertextHash, T::MaxVersions> },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The account the record is for is not a registered patient.
		NotPatient,
		/// The caller is neither the patient nor staff with an append right on the patient.
		NotAllowed,
		/// Only the patient may do this.
		NotOwner,
		/// A ciphertext has at least one byte.
		EmptyCiphertext,
		/// The ciphertext is larger than `MaxCiphertextSize`.
		CiphertextTooLarge,
		/// This ciphertext hash is already registered.
		DuplicateCiphertext,
		/// No record has this id.
		UnknownRecord,
		/// The record was erased.
		RecordErased,
		/// Only the latest version of a record may be amended.
		NotLatestVersion,
		/// The patient has `MaxRecordsPerPatient` record versions.
		TooManyRecords,
		/// The record has `MaxVersions` versions.
		TooManyVersions,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}

		fn integrity_test() {
			assert!(T::MaxVersions::get() > 0, "MaxVersions must be positive");
			assert!(T::MaxRecordsPerPatient::get() > 0, "MaxRecordsPerPatient must be positive");
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Register a new record for `patient`. Origin: the patient, or staff with an append right
		/// on the patient for `category`.
		///
		/// - `ciphertext_hash`: blake2-256 of the ciphertext uploaded to a blob store.
		/// - `size`: its length in bytes, 1..=`MaxCiphertextSize`.
		/// - `category`: the coarse kind of record.
		///
		/// Emits `RecordRegistered`.
		///
		/// Charged for staff's append check over every grant of the patient; the patient's own
		/// registration is refunded that part.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::register().saturating_add(T::AppendPermission::can_append_weight()))]
		pub fn register(
			origin: OriginFor<T>,
			patient: T::AccountId,
			ciphertext_hash: CiphertextHash,
			size: u64,
			category: Category,
		) -> DispatchResultWithPostInfo {
			let author = ensure_signed(origin)?;
			ensure!(T::Patients::is_patient(&patient), Error::<T>::NotPatient);
			let by_patient = author == patient;
			ensure!(
				by_patient || T::AppendPermission::can_append(&author, &patient, category, None),
				Error::<T>::NotAllowed
			);
			Self::check_ciphertext(&ciphertext_hash, size)?;

			let record = Self::insert_version(&patient, &author, ciphertext_hash, size, category, None)?;
			T::Audit::append(&patient, &author, AuditAction::RecordRegistered { record });
			Self::deposit_event(Event::RecordRegistered { record, patient, author, category, ciphertext_hash, size });
			Ok(by_patient.then(T::WeightInfo::register).into())
		}

		/// Amend a record: register a new version linked to `record`, its latest version.
		/// Origin: the patient, or staff with an append right on the patient for the record.
		///
		/// Emits `RecordAmended`.
		///
		/// Charged as `register` is: staff's append check included, refunded to the patient.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::amend(T::MaxVersions::get()).saturating_add(T::AppendPermission::can_append_weight()))]
		pub fn amend(
			origin: OriginFor<T>,
			record: RecordId,
			ciphertext_hash: CiphertextHash,
			size: u64,
		) -> DispatchResultWithPostInfo {
			let author = ensure_signed(origin)?;
			let previous = RecordOf::<T>::get(record).ok_or(Error::<T>::UnknownRecord)?;
			ensure!(!previous.is_erased(), Error::<T>::RecordErased);
			ensure!(previous.status == RecordStatus::Current, Error::<T>::NotLatestVersion);
			let by_patient = author == previous.patient;
			ensure!(
				by_patient ||
					T::AppendPermission::can_append(&author, &previous.patient, previous.category, Some(previous.root)),
				Error::<T>::NotAllowed
			);
			Self::check_ciphertext(&ciphertext_hash, size)?;

			let new = Self::insert_version(
				&previous.patient,
				&author,
				ciphertext_hash,
				size,
				previous.category,
				Some((record, &previous)),
			)?;
			RecordOf::<T>::mutate(record, |r| {
				if let Some(r) = r {
					r.status = RecordStatus::Superseded { by: new };
				}
			});
			T::Audit::append(&previous.patient, &author, AuditAction::RecordAmended { record: new, previous: record });
			Self::deposit_event(Event::RecordAmended {
				record: new,
				previous: record,
				root: previous.root,
				version: previous.version.saturating_add(1),
				author,
				ciphertext_hash,
				size,
			});
			Ok(by_patient.then(|| T::WeightInfo::amend(T::MaxVersions::get())).into())
		}

		/// Erase a record and every version of it, for good. Origin: the patient.
		///
		/// - `record`: any version of the record.
		///
		/// Emits `RecordErased` with every version's ciphertext hash, which makes every node purge
		/// the bytes.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::erase(T::MaxVersions::get()))]
		pub fn erase(origin: OriginFor<T>, record: RecordId) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let info = RecordOf::<T>::get(record).ok_or(Error::<T>::UnknownRecord)?;
			ensure!(info.patient == who, Error::<T>::NotOwner);
			ensure!(!info.is_erased(), Error::<T>::RecordErased);

			let now = frame_system::Pallet::<T>::block_number();
			let versions = VersionsOf::<T>::get(info.root);
			let mut hashes = BoundedVec::<CiphertextHash, T::MaxVersions>::new();
			for version in versions.iter() {
				RecordOf::<T>::mutate(version, |r| {
					if let Some(r) = r {
						r.status = RecordStatus::Erased { at: now };
						// Cannot fail: there are at most MaxVersions versions.
						let _ = hashes.try_push(r.ciphertext_hash);
					}
				});
			}
			let erased = versions.len() as u32;
			T::Audit::append(&who, &who, AuditAction::RecordErased { root: info.root });
			Self::deposit_event(Event::RecordErased { root: info.root, patient: who, ciphertext_hashes: hashes });
			Ok(Some(T::WeightInfo::erase(erased)).into())
		}
	}
}

impl<T: Config> Pallet<T> {
	fn check_ciphertext(hash: &CiphertextHash, size: u64) -> Result<(), Error<T>> {
		ensure!(size > 0, Error::<T>::EmptyCiphertext);
		ensure!(size <= T::MaxCiphertextSize::get(), Error::<T>::CiphertextTooLarge);
		ensure!(!RecordByHash::<T>::contains_key(hash), Error::<T>::DuplicateCiphertext);
		Ok(())
	}

	/// Stores a new version (a new record when `previous` is `None`) and its indexes.
	fn insert_version(
		patient: &T::AccountId,
		author: &T::AccountId,
		ciphertext_hash: CiphertextHash,
		size: u64,
		category: Category,
		previous: Option<(RecordId, &RecordOfT<T>)>,
	) -> Result<RecordId, DispatchError> {
		let count = RecordCountOf::<T>::get(patient);
		ensure!(count < T::MaxRecordsPerPatient::get(), Error::<T>::TooManyRecords);

		let id = NextRecordId::<T>::get();
		let (root, version) = match previous {
			Some((_, prev)) => (prev.root, prev.version.saturating_add(1)),
			None => (id, 1),
		};
		VersionsOf::<T>::try_mutate(root, |versions| versions.try_push(id))
			.map_err(|_| Error::<T>::TooManyVersions)?;

		let now = frame_system::Pallet::<T>::block_number();
		RecordOf::<T>::insert(
			id,
			RecordInfo {
				patient: patient.clone(),
				ciphertext_hash,
				size,
				category,
				key_epoch: 0,
				key_set_at: now,
				author: author.clone(),
				registered_at: now,
				previous: previous.map(|(prev_id, _)| prev_id),
				root,
				version,
				status: RecordStatus::Current,
			},
		);
		NextRecordId::<T>::put(id.saturating_add(1));
		RecordsByPatient::<T>::insert(patient, count, id);
		RecordCountOf::<T>::insert(patient, count.saturating_add(1));
		RecordByHash::<T>::insert(ciphertext_hash, id);
		Ok(id)
	}

	/// A record version.
	pub fn record(id: RecordId) -> Option<RecordOfT<T>> {
		RecordOf::<T>::get(id)
	}

	/// The ids of `patient`'s record versions at positions `from..from + limit`.
	fn record_ids(patient: &T::AccountId, from: u32, limit: u32) -> impl Iterator<Item = RecordId> + '_ {
		let end = RecordCountOf::<T>::get(patient).min(from.saturating_add(limit));
		(from..end).filter_map(move |position| RecordsByPatient::<T>::get(patient, position))
	}

	/// `patient`'s record versions from position `from`, at most `limit`, in registration order.
	pub fn patient_records(patient: &T::AccountId, from: u32, limit: u32) -> Vec<(RecordId, RecordOfT<T>)> {
		Self::record_ids(patient, from, limit)
			.filter_map(|id| RecordOf::<T>::get(id).map(|record| (id, record)))
			.collect()
	}

	/// Every version of the record that `id` belongs to, oldest first.
	pub fn versions(id: RecordId) -> Vec<RecordId> {
		RecordOf::<T>::get(id).map(|r| VersionsOf::<T>::get(r.root).into_inner()).unwrap_or_default()
	}

	/// Checks that the indexes agree with the records.
	#[cfg(any(feature = "try-runtime", test))]
	pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
		let next = NextRecordId::<T>::get();
		let mut records = 0u64;
		for (id, record) in RecordOf::<T>::iter() {
			records += 1;
			ensure!(id < next, "a record id was never issued");
			ensure!(RecordByHash::<T>::get(record.ciphertext_hash) == Some(id), "RecordByHash misses a record");
			let versions = VersionsOf::<T>::get(record.root);
			ensure!(
				versions.get(record.version as usize - 1) == Some(&id),
				"a record is not at its version's place in VersionsOf"
			);
			ensure!(record.previous.is_none() == (record.root == id), "only a root has no previous version");
			let latest = versions.last() == Some(&id);
			match record.status {
				RecordStatus::Current => ensure!(latest, "a Current record is not the latest version"),
				RecordStatus::Superseded { by } =>
					ensure!(RecordOf::<T>::get(by).and_then(|r| r.previous) == Some(id), "Superseded points at a stranger"),
				RecordStatus::Erased { .. } => {},
			}
		}
		ensure!(records == next, "record ids are not dense");
		ensure!(RecordByHash::<T>::iter().count() as u64 == records, "RecordByHash has stale entries");
		let mut listed = 0u64;
		for (patient, count) in RecordCountOf::<T>::iter() {
			for position in 0..count {
				let id = RecordsByPatient::<T>::get(&patient, position).ok_or("a position is missing")?;
				ensure!(RecordOf::<T>::get(id).map(|r| r.patient) == Some(patient.clone()), "listed under another patient");
				listed += 1;
			}
		}
		ensure!(listed == records, "RecordsByPatient does not list every record exactly once");
		ensure!(RecordsByPatient::<T>::iter().count() as u64 == listed, "RecordsByPatient has stale entries");
		Ok(())
	}
}

impl<T: Config> RecordKeyStore<T::AccountId, BlockNumberFor<T>> for Pallet<T> {
	fn key_state(record: RecordId) -> Option<(T::AccountId, KeyEpoch, BlockNumberFor<T>)> {
		RecordOf::<T>::get(record).filter(|r| !r.is_erased()).map(|r| (r.patient, r.key_epoch, r.key_set_at))
	}

	fn replace_ciphertext(
		who: &T::AccountId,
		record: RecordId,
		ciphertext_hash: CiphertextHash,
		size: u64,
	) -> Result<KeyEpoch, DispatchError> {
		let mut info = RecordOf::<T>::get(record).ok_or(Error::<T>::UnknownRecord)?;
		ensure!(&info.patient == who, Error::<T>::NotOwner);
		ensure!(!info.is_erased(), Error::<T>::RecordErased);
		Self::check_ciphertext(&ciphertext_hash, size)?;

		let old_hash = info.ciphertext_hash;
		info.key_epoch = info.key_epoch.saturating_add(1);
		info.key_set_at = frame_system::Pallet::<T>::block_number();
		info.ciphertext_hash = ciphertext_hash;
		info.size = size;
		let key_epoch = info.key_epoch;
		RecordOf::<T>::insert(record, info);
		RecordByHash::<T>::remove(old_hash);
		RecordByHash::<T>::insert(ciphertext_hash, record);
		Self::deposit_event(Event::CiphertextReplaced { record, old_hash, new_hash: ciphertext_hash, key_epoch });
		Ok(key_epoch)
	}

	fn patient_records(patient: &T::AccountId, from: u32, limit: u32) -> Vec<RecordId> {
		Self::record_ids(patient, from, limit).collect()
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn record_for_benchmark(patient: &T::AccountId) -> RecordId {
		<Self as RecordDirectory<_>>::record_of_category_for_benchmark(patient, Category::Other)
	}
}

impl<T: Config> RecordDirectory<T::AccountId> for Pallet<T> {
	fn record_access(record: RecordId) -> Option<RecordAccess<T::AccountId>> {
		RecordOf::<T>::get(record).map(|r| RecordAccess {
			erased: r.is_erased(),
			patient: r.patient,
			category: r.category,
			root: r.root,
		})
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn record_of_category_for_benchmark(patient: &T::AccountId, category: Category) -> RecordId {
		T::Patients::register_patient_for_benchmark(patient);
		let hash = <sp_runtime::traits::BlakeTwo256 as sp_runtime::traits::Hash>::hash_of(&NextRecordId::<T>::get());
		Self::insert_version(patient, patient, hash, 1_000, category, None)
			.expect("a fresh patient has room for a record")
	}
}
