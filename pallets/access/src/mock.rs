//! A test runtime with the records pallet and a staff directory of hospitals H1..H3.
//!
//! Patients are accounts 1..=99. Staff (hospital, roles, department, facility):
//! - `DOCTOR`          H2 physician, cardiology, H2-north
//! - `NURSE`           H2 nurse, icu, H2-north
//! - `CARDIO_NURSE`    H2 nurse, cardiology, H2-north
//! - `H3_CARDIOLOGIST` H3 physician, cardiology, H2-north
//! - `SURGEON`         H2 physician, surgery, H2-north
//! - `SOUTH_CARDIO`    H2 physician, cardiology, H2-south
//! - `ER_DOCTOR`       H3 physician + emergency, er, H3
//! - `AUDITOR_H3`, `AUDITOR_H2` auditors of H3 and H2
//! - `RESEARCHER`      H1 researcher
//! `NODE_H2` is H2's validator account. `STRANGER` is not registered.

use crate as pallet_access;
use core::cell::RefCell;
use frame_support::{derive_impl, parameter_types, traits::ConstU32};
use phr_primitives::{
	traits::{ConsortiumDirectory, PatientRegistry},
	HospitalId, Moment, Role, RoleSet, StaffView,
};
use sp_runtime::BuildStorage;
use std::collections::BTreeMap;

type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Records: pallet_records,
		Access: pallet_access,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
}

pub const PATIENT: u64 = 1;
pub const OTHER_PATIENT: u64 = 2;
pub const GUARDIAN: u64 = 3;
pub const DOCTOR: u64 = 100;
pub const NURSE: u64 = 101;
pub const CARDIO_NURSE: u64 = 102;
pub const H3_CARDIOLOGIST: u64 = 103;
pub const SURGEON: u64 = 104;
pub const SOUTH_CARDIO: u64 = 105;
pub const ER_DOCTOR: u64 = 106;
pub const AUDITOR_H3: u64 = 107;
pub const AUDITOR_H2: u64 = 108;
pub const RESEARCHER: u64 = 109;
pub const NODE_H2: u64 = 900;
pub const STRANGER: u64 = 999;

pub const HOUR: Moment = 3_600_000;
/// Day 10 at 09:00 UTC.
pub const START: Moment = 10 * 24 * HOUR + 9 * HOUR;

thread_local! {
	static NOW: RefCell<Moment> = const { RefCell::new(START) };
	pub static EXTRA_STAFF: RefCell<BTreeMap<u64, StaffView>> = RefCell::new(BTreeMap::new());
}

pub fn set_now(now: Moment) {
	NOW.with(|n| *n.borrow_mut() = now);
}

pub struct MockTime;
impl frame_support::traits::Time for MockTime {
	type Moment = Moment;
	fn now() -> Moment {
		NOW.with(|n| *n.borrow())
	}
}

fn code(text: &str) -> phr_primitives::AttributeCode {
	text.as_bytes().to_vec().try_into().unwrap()
}

fn view(hospital: HospitalId, roles: &[Role], department: &str, facility: &str) -> StaffView {
	StaffView { hospital, roles: RoleSet::from_roles(roles), department: code(department), facility: code(facility) }
}

pub fn staff_view(who: u64) -> Option<StaffView> {
	use Role::*;
	Some(match who {
		DOCTOR => view(2, &[Physician], "cardiology", "H2-north"),
		NURSE => view(2, &[Nurse], "icu", "H2-north"),
		CARDIO_NURSE => view(2, &[Nurse], "cardiology", "H2-north"),
		H3_CARDIOLOGIST => view(3, &[Physician], "cardiology", "H2-north"),
		SURGEON => view(2, &[Physician], "surgery", "H2-north"),
		SOUTH_CARDIO => view(2, &[Physician], "cardiology", "H2-south"),
		ER_DOCTOR => view(3, &[Physician, Emergency], "er", "H3"),
		AUDITOR_H3 => view(3, &[Auditor], "compliance", "H3"),
		AUDITOR_H2 => view(2, &[Auditor], "compliance", "H2-north"),
		RESEARCHER => view(1, &[Researcher], "research", "H1"),
		other => return EXTRA_STAFF.with(|s| s.borrow().get(&other).cloned()),
	})
}

pub struct Directory;
impl ConsortiumDirectory<u64> for Directory {
	fn is_registered(who: &u64) -> bool {
		Patients::is_patient(who) || staff_view(*who).is_some() || *who == NODE_H2
	}
	fn staff(who: &u64) -> Option<StaffView> {
		staff_view(*who)
	}
	fn member_account_hospital(who: &u64) -> Option<HospitalId> {
		(*who == NODE_H2).then_some(2)
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn register_staff_for_benchmark(who: &u64, view: StaffView) {
		EXTRA_STAFF.with(|s| s.borrow_mut().insert(*who, view));
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn member_account_for_benchmark() -> u64 {
		NODE_H2
	}
}

thread_local! {
	static EXTRA_PATIENTS: RefCell<std::collections::BTreeSet<u64>> = RefCell::new(Default::default());
	static OFFBOARDED: RefCell<std::collections::BTreeSet<u64>> = RefCell::new(Default::default());
}

/// Marks patient `who` offboarded by its hospital: it keeps its rights, not full standing.
pub fn offboard(who: u64) {
	OFFBOARDED.with(|p| p.borrow_mut().insert(who));
}

pub struct Patients;
impl PatientRegistry<u64> for Patients {
	fn is_patient(who: &u64) -> bool {
		Self::has_rights(who) && !OFFBOARDED.with(|p| p.borrow().contains(who))
	}
	fn has_rights(who: &u64) -> bool {
		(1..100).contains(who) || EXTRA_PATIENTS.with(|p| p.borrow().contains(who))
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn register_patient_for_benchmark(who: &u64) {
		EXTRA_PATIENTS.with(|p| p.borrow_mut().insert(*who));
	}
}

parameter_types! {
	pub const MaxCiphertextSize: u64 = 1 << 30;
	pub const MaxEmergencyDuration: Moment = 4 * HOUR;
}

impl pallet_records::Config for Test {
	type Patients = Patients;
	type AppendPermission = Access;
	type Audit = Access;
	type MaxCiphertextSize = MaxCiphertextSize;
	type MaxRecordsPerPatient = ConstU32<100>;
	type MaxVersions = ConstU32<8>;
	type WeightInfo = ();
}

impl pallet_access::Config for Test {
	type Directory = Directory;
	type Patients = Patients;
	type Records = Records;
	type Time = MockTime;
	type MaxGrantsPerPatient = ConstU32<6>;
	type MaxGuardians = ConstU32<2>;
	type MaxConsents = ConstU32<2>;
	type MaxEmergencyDuration = MaxEmergencyDuration;
	type RelaySignature = sp_runtime::testing::TestSignature;
	type RelaySigner = sp_runtime::testing::UintAuthorityId;
	type MaxGrantBatch = ConstU32<8>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = TestRelaySigner;
	type WeightInfo = ();
}

/// Test signatures (`TestSignature`: the signer and the message itself) by accounts 10,000 and up.
#[cfg(feature = "runtime-benchmarks")]
pub struct TestRelaySigner;

#[cfg(feature = "runtime-benchmarks")]
impl crate::BenchmarkHelper<u64, sp_runtime::testing::TestSignature> for TestRelaySigner {
	fn signer(n: u32) -> u64 {
		10_000 + n as u64
	}

	fn sign(who: &u64, payload: &[u8]) -> sp_runtime::testing::TestSignature {
		sp_runtime::testing::TestSignature(*who, payload.to_vec())
	}
}

pub fn new_test_ext() -> sp_io::TestExternalities {
	set_now(START);
	let storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Runs `test`, then checks this pallet's invariants (the records pallet's own tests check its).
pub fn run(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		Access::do_try_state().expect("access try_state invariants hold");
	});
}
