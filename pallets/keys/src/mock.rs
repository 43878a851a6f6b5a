//! A test runtime with the records pallet: accounts 1..=99 are patients, nobody else may append.

use crate as pallet_keys;
use frame_support::{derive_impl, parameter_types, traits::ConstU32};
use phr_primitives::traits::PatientRegistry;
use sp_runtime::BuildStorage;

type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Records: pallet_records,
		Keys: pallet_keys,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
}

pub const ALICE: u64 = 1;
pub const BOB: u64 = 2;

pub struct Patients;
impl PatientRegistry<u64> for Patients {
	fn is_patient(who: &u64) -> bool {
		(1..100).contains(who)
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn register_patient_for_benchmark(_who: &u64) {}
}

parameter_types! {
	pub const MaxCiphertextSize: u64 = 1 << 20;
}

impl pallet_records::Config for Test {
	type Patients = Patients;
	type AppendPermission = ();
	type Audit = ();
	type MaxCiphertextSize = MaxCiphertextSize;
	type MaxRecordsPerPatient = ConstU32<10>;
	type MaxVersions = ConstU32<4>;
	type WeightInfo = ();
}

impl pallet_keys::Config for Test {
	type Records = Records;
	type Audit = ();
	type MaxKeyAge = frame_support::traits::ConstU64<100>;
	type WeightInfo = ();
}

pub fn new_test_ext() -> sp_io::TestExternalities {
	let storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Runs `test`, then checks this pallet's invariants (the records pallet's own tests check its).
pub fn run(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		Keys::do_try_state().expect("keys try_state invariants hold");
	});
}
