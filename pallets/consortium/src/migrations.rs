//! Storage migrations of the consortium pallet, one module per storage version.
//!
//! Each is a [`VersionedMigration`]: it runs only when the pallet's on-chain version is the one it
//! migrates from, then bumps it, so listing it in the runtime's migrations is safe across several
//! upgrades. Its checks (`pre_upgrade` / `post_upgrade` under `try-runtime`) are also plain
//! functions, so that a native test runs them against a snapshot of a running network's state
//! (see docs/operator.md, "Runtime upgrades").

use crate::{Config, Pallet, PatientInfo, PatientOf, Proposals};
use alloc::vec::Vec;
use codec::{Decode, Encode};
use frame_support::{
	migrations::VersionedMigration,
	traits::{Get, GetStorageVersion, UncheckedOnRuntimeUpgrade},
	weights::Weight,
};
use frame_system::pallet_prelude::BlockNumberFor;
use phr_primitives::HospitalId;
use sp_runtime::TryRuntimeError;

pub mod v1 {
	use super::*;

	/// A patient as stored until storage version 1: an offboarded patient was removed.
	#[derive(Encode, Decode, Clone, PartialEq, Eq, Debug)]
	pub struct PatientInfoV0<BlockNumber> {
		pub onboarded_by: HospitalId,
		pub onboarded_at: BlockNumber,
	}

	/// Version 0 -> 1 (runtime 104 -> 105): every stored patient gains `offboarded: None` (all
	/// stored patients were active: version 0 removed offboarded ones).
	///
	/// One read and one write per patient, in the upgrade's block: at this machine's measured
	/// RocksDB costs (docs/benchmarks.md) well under a second for 100,000 patients. A consortium
	/// far beyond that would run it as a multi-block migration (`pallet-migrations`) instead.
	pub struct InnerMigrateV0ToV1<T>(core::marker::PhantomData<T>);

	impl<T: Config> UncheckedOnRuntimeUpgrade for InnerMigrateV0ToV1<T> {
		fn on_runtime_upgrade() -> Weight {
			let mut patients = 0u64;
			PatientOf::<T>::translate::<PatientInfoV0<BlockNumberFor<T>>, _>(|_, old| {
				patients += 1;
				Some(PatientInfo { onboarded_by: old.onboarded_by, onboarded_at: old.onboarded_at, offboarded: None })
			});
			log::info!(target: crate::LOG_TARGET, "migrated {patients} patients to v1");
			T::DbWeight::get().reads_writes(patients, patients)
		}

		#[cfg(feature = "try-runtime")]
		fn pre_upgrade() -> Result<Vec<u8>, TryRuntimeError> {
			Ok(before::<T>())
		}

		#[cfg(feature = "try-runtime")]
		fn post_upgrade(state: Vec<u8>) -> Result<(), TryRuntimeError> {
			after::<T>(state)
		}
	}

	/// Runs [`InnerMigrateV0ToV1`] only while the on-chain storage version is 0, then sets 1.
	pub type MigrateV0ToV1<T> = VersionedMigration<
		0,
		1,
		InnerMigrateV0ToV1<T>,
		Pallet<T>,
		<T as frame_system::Config>::DbWeight,
	>;

	/// What the migration must keep, taken before it runs: every patient as version 0 stored it,
	/// and the number of open proposals.
	#[cfg(any(feature = "try-runtime", feature = "std"))]
	pub fn before<T: Config>() -> Vec<u8> {
		let patients: Vec<(T::AccountId, PatientInfoV0<BlockNumberFor<T>>)> = PatientOf::<T>::iter_keys()
			.filter_map(|who| {
				let raw = frame_support::storage::unhashed::get_raw(&PatientOf::<T>::hashed_key_for(&who))?;
				Some((who, PatientInfoV0::decode(&mut &raw[..]).ok()?))
			})
			.collect();
		(patients, Proposals::<T>::iter_keys().count() as u32).encode()
	}

	/// Checks the migrated state against [`before`]'s: the same patients, onboarded by the same
	/// hospitals at the same blocks, all active; the same proposals, counted per proposer; and
	/// every invariant of the pallet.
	#[cfg(any(feature = "try-runtime", feature = "std"))]
	pub fn after<T: Config>(state: Vec<u8>) -> Result<(), TryRuntimeError> {
		type Before<T> = (Vec<(<T as frame_system::Config>::AccountId, PatientInfoV0<BlockNumberFor<T>>)>, u32);
		let (patients, proposals) =
			Before::<T>::decode(&mut &state[..]).map_err(|_| TryRuntimeError::Other("undecodable pre-upgrade state"))?;
		frame_support::ensure!(
			PatientOf::<T>::iter_keys().count() == patients.len(),
			"the migration lost or added patients (or one did not decode as version 0)"
		);
		for (who, old) in patients {
			let expected = PatientInfo { onboarded_by: old.onboarded_by, onboarded_at: old.onboarded_at, offboarded: None };
			frame_support::ensure!(PatientOf::<T>::get(&who) == Some(expected), "a patient changed in the migration");
		}
		frame_support::ensure!(Proposals::<T>::iter_keys().count() as u32 == proposals, "open proposals changed");
		frame_support::ensure!(
			Pallet::<T>::on_chain_storage_version() == 1,
			"the storage version was not set to 1"
		);
		Pallet::<T>::do_try_state()
	}
}
