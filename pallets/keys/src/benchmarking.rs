//! Benchmarks of the keys pallet.

use super::*;
use frame_benchmarking::v2::*;
use frame_system::RawOrigin;
use phr_primitives::AccountKeys;

fn keys(n: u8) -> AccountKeys {
	// A fixed valid ed25519 point (the base point's compression) keeps dalek out of the setup.
	const BASEPOINT: [u8; 32] = [
		0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
		0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	];
	AccountKeys { encryption: [n.max(1); 32], request_signing: BASEPOINT }
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn register_keys() {
		let who: T::AccountId = whitelisted_caller();

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), keys(1));

		assert!(KeyOf::<T>::contains_key(&who));
	}

	#[benchmark]
	fn rotate_keys() {
		let who: T::AccountId = whitelisted_caller();
		Pallet::<T>::register_keys(RawOrigin::Signed(who.clone()).into(), keys(1)).expect("registering works");

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), keys(2));

		assert_eq!(KeyOf::<T>::get(&who).map(|k| k.epoch), Some(1));
	}

	/// Rotation through the runtime's record store (`replace_ciphertext` included).
	#[benchmark]
	fn rotate_data_key() {
		let who: T::AccountId = whitelisted_caller();
		let record = T::Records::record_for_benchmark(&who);

		#[extrinsic_call]
		_(RawOrigin::Signed(who), record, sp_core::H256::repeat_byte(9), 1_000, RotationReason::Manual);

		assert_eq!(T::Records::key_state(record).map(|(_, epoch, _)| epoch), Some(1));
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
