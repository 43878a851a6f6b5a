//! Benchmarks of the records pallet, at the bounds: `v` versions of a record.

use super::*;
use frame_benchmarking::v2::*;
use frame_system::RawOrigin;
use phr_primitives::ciphertext_hash;

fn patient<T: Config>() -> T::AccountId {
	let who: T::AccountId = account("patient", 1, 0);
	T::Patients::register_patient_for_benchmark(&who);
	who
}

fn hash(n: u32) -> CiphertextHash {
	ciphertext_hash(&n.to_le_bytes())
}

/// A record of `patient` with `versions` versions; returns its latest version.
fn record_with_versions<T: Config>(patient: &T::AccountId, versions: u32) -> RecordId {
	Pallet::<T>::register(RawOrigin::Signed(patient.clone()).into(), patient.clone(), hash(0), 1_000, Category::Observation)
		.expect("registering works");
	let mut latest = NextRecordId::<T>::get() - 1;
	for n in 1..versions {
		Pallet::<T>::amend(RawOrigin::Signed(patient.clone()).into(), latest, hash(n), 1_000).expect("amending works");
		latest = NextRecordId::<T>::get() - 1;
	}
	latest
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn register() {
		let patient = patient::<T>();

		#[extrinsic_call]
		_(RawOrigin::Signed(patient.clone()), patient.clone(), hash(7), 1_000_000, Category::Imaging);

		assert_eq!(RecordCountOf::<T>::get(&patient), 1);
	}

	/// Amending a record that already has `v` versions.
	#[benchmark]
	fn amend(v: Linear<1, { T::MaxVersions::get() - 1 }>) {
		let patient = patient::<T>();
		let latest = record_with_versions::<T>(&patient, v);

		#[extrinsic_call]
		_(RawOrigin::Signed(patient.clone()), latest, hash(10_000), 1_000);

		assert_eq!(Pallet::<T>::versions(latest).len() as u32, v + 1);
	}

	/// Erasing a record with `v` versions.
	#[benchmark]
	fn erase(v: Linear<1, { T::MaxVersions::get() }>) {
		let patient = patient::<T>();
		let latest = record_with_versions::<T>(&patient, v);

		#[extrinsic_call]
		_(RawOrigin::Signed(patient.clone()), latest);

		assert!(RecordOf::<T>::get(latest).expect("kept as a tombstone").is_erased());
	}

	#[benchmark]
	fn replace_ciphertext() {
		let patient = patient::<T>();
		let record = record_with_versions::<T>(&patient, 1);

		#[block]
		{
			<Pallet<T> as RecordKeyStore<_, _>>::replace_ciphertext(&patient, record, hash(20_000), 1_000)
				.expect("the patient re-encrypts");
		}

		assert_eq!(RecordOf::<T>::get(record).expect("exists").key_epoch, 1);
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
