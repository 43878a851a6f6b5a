//! A test runtime: accounts 1..=99 are patients; account 500 is staff holding an append right on
//! patient 1's medication records (and only those).

use crate as pallet_records;
use frame_support::{derive_impl, traits::ConstU32};
use phr_primitives::{
	traits::{AppendPermission, PatientRegistry},
	Category, RecordId,
};
use sp_runtime::BuildStorage;

type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Records: pallet_records,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
}

pub const ALICE: u64 = 1;
pub const BOB: u64 = 2;
pub const PHARMACIST: u64 = 500;
pub const STRANGER: u64 = 999;

std::thread_local! {
	/// Patients made by benchmarks, besides 1..=99.
	static EXTRA_PATIENTS: core::cell::RefCell<std::collections::BTreeSet<u64>> = Default::default();
}

pub struct Patients;
impl PatientRegistry<u64> for Patients {
	fn is_patient(who: &u64) -> bool {
		(1..100).contains(who) || EXTRA_PATIENTS.with(|p| p.borrow().contains(who))
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn register_patient_for_benchmark(who: &u64) {
		EXTRA_PATIENTS.with(|p| p.borrow_mut().insert(*who));
	}
}

pub struct MedicationAppender;
impl AppendPermission<u64> for MedicationAppender {
	fn can_append(author: &u64, patient: &u64, category: Category, _root: Option<RecordId>) -> bool {
		*author == PHARMACIST && *patient == ALICE && category == Category::Medication
	}

	fn can_append_weight() -> frame_support::weights::Weight {
		APPEND_CHECK_WEIGHT
	}
}

/// What the mock's append check is charged.
pub const APPEND_CHECK_WEIGHT: frame_support::weights::Weight = frame_support::weights::Weight::from_parts(5_000_000, 0);

frame_support::parameter_types! {
	pub const MaxCiphertextSize: u64 = 1 << 30;
}

impl pallet_records::Config for Test {
	type Patients = Patients;
	type AppendPermission = MedicationAppender;
	type Audit = ();
	type MaxCiphertextSize = MaxCiphertextSize;
	type MaxRecordsPerPatient = ConstU32<5>;
	type MaxVersions = ConstU32<3>;
	type WeightInfo = ();
}

pub fn new_test_ext() -> sp_io::TestExternalities {
	let storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Runs `test`, then checks every invariant.
pub fn run(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		Records::do_try_state().expect("try_state invariants hold");
	});
}
