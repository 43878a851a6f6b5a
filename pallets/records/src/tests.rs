//! Unit tests of the records pallet. Every case ends with `do_try_state` (see `mock::run`).

use crate::{mock::*, *};
use frame_support::{assert_noop, assert_ok};
use phr_primitives::{ciphertext_hash, RecordStatus};

fn origin(who: u64) -> RuntimeOrigin {
	RuntimeOrigin::signed(who)
}

fn hash(n: u8) -> CiphertextHash {
	ciphertext_hash(&[n; 8])
}

fn last_event() -> RuntimeEvent {
	System::events().pop().expect("an event").event
}

fn register(patient: u64, n: u8) -> RecordId {
	let id = NextRecordId::<Test>::get();
	assert_ok!(Records::register(origin(patient), patient, hash(n), 100, Category::Observation));
	id
}

#[test]
fn patient_registers_a_record() {
	run(|| {
		System::set_block_number(5);
		assert_ok!(Records::register(origin(ALICE), ALICE, hash(1), 1234, Category::Condition));
		assert_eq!(
			last_event(),
			RuntimeEvent::Records(Event::RecordRegistered {
				record: 0,
				patient: ALICE,
				author: ALICE,
				category: Category::Condition,
				ciphertext_hash: hash(1),
				size: 1234,
			})
		);
		let record = Records::record(0).unwrap();
		assert_eq!(record.patient, ALICE);
		assert_eq!(record.ciphertext_hash, hash(1));
		assert_eq!((record.size, record.key_epoch, record.key_set_at, record.registered_at), (1234, 0, 5, 5));
		assert_eq!((record.root, record.version, record.previous), (0, 1, None));
		assert_eq!(record.status, RecordStatus::Current);
		assert_eq!(RecordByHash::<Test>::get(hash(1)), Some(0));
		assert_eq!(Records::patient_records(&ALICE, 0, 10).len(), 1);
	});
}

#[test]
fn non_owner_cannot_register_for_someone_else() {
	run(|| {
		assert_noop!(
			Records::register(origin(BOB), ALICE, hash(1), 10, Category::Observation),
			Error::<Test>::NotAllowed
		);
		assert_noop!(
			Records::register(origin(STRANGER), ALICE, hash(1), 10, Category::Observation),
			Error::<Test>::NotAllowed
		);
		// The pharmacist's append right covers Alice's medications only.
		assert_noop!(
			Records::register(origin(PHARMACIST), ALICE, hash(1), 10, Category::Observation),
			Error::<Test>::NotAllowed
		);
		assert_noop!(
			Records::register(origin(PHARMACIST), BOB, hash(1), 10, Category::Medication),
			Error::<Test>::NotAllowed
		);
	});
}

#[test]
fn staff_with_append_right_registers_for_the_patient() {
	run(|| {
		assert_ok!(Records::register(origin(PHARMACIST), ALICE, hash(1), 10, Category::Medication));
		let record = Records::record(0).unwrap();
		assert_eq!((record.patient, record.author), (ALICE, PHARMACIST));
	});
}

#[test]
fn staff_pay_for_the_append_check_and_the_patient_does_not() {
	use frame_support::dispatch::GetDispatchInfo;
	run(|| {
		let call = crate::Call::<Test>::register { patient: ALICE, ciphertext_hash: hash(1), size: 10, category: Category::Medication };
		let charged = call.get_dispatch_info().call_weight;
		assert_eq!(charged, <() as WeightInfo>::register() + APPEND_CHECK_WEIGHT, "charged up front for the worst case");
		// The patient's own registration is refunded the check; staff's is not.
		let by_patient = Records::register(origin(ALICE), ALICE, hash(1), 10, Category::Medication).unwrap();
		assert_eq!(by_patient.actual_weight, Some(<() as WeightInfo>::register()));
		let by_staff = Records::register(origin(PHARMACIST), ALICE, hash(2), 10, Category::Medication).unwrap();
		assert_eq!(by_staff.actual_weight, None, "the full weight");
		let amend = crate::Call::<Test>::amend { record: 1, ciphertext_hash: hash(3), size: 10 };
		assert_eq!(amend.get_dispatch_info().call_weight, <() as WeightInfo>::amend(3) + APPEND_CHECK_WEIGHT);
		let amended = Records::amend(origin(ALICE), 1, hash(3), 10).unwrap();
		assert_eq!(amended.actual_weight, Some(<() as WeightInfo>::amend(3)));
	});
}

#[test]
fn record_for_a_non_patient_fails() {
	run(|| {
		assert_noop!(
			Records::register(origin(STRANGER), STRANGER, hash(1), 10, Category::Other),
			Error::<Test>::NotPatient
		);
	});
}

#[test]
fn bad_ciphertexts_are_refused() {
	run(|| {
		assert_noop!(
			Records::register(origin(ALICE), ALICE, hash(1), 0, Category::Other),
			Error::<Test>::EmptyCiphertext
		);
		assert_noop!(
			Records::register(origin(ALICE), ALICE, hash(1), (1 << 30) + 1, Category::Other),
			Error::<Test>::CiphertextTooLarge
		);
		assert_ok!(Records::register(origin(ALICE), ALICE, hash(1), 1 << 30, Category::Other));
		assert_noop!(
			Records::register(origin(BOB), BOB, hash(1), 10, Category::Other),
			Error::<Test>::DuplicateCiphertext
		);
	});
}

#[test]
fn records_per_patient_are_bounded() {
	run(|| {
		for n in 0..5 {
			register(ALICE, n);
		}
		assert_noop!(
			Records::register(origin(ALICE), ALICE, hash(9), 10, Category::Other),
			Error::<Test>::TooManyRecords
		);
		// Another patient is not affected.
		register(BOB, 10);
	});
}

#[test]
fn amend_links_a_new_version_and_supersedes_the_old() {
	run(|| {
		let first = register(ALICE, 1);
		System::set_block_number(9);
		assert_ok!(Records::amend(origin(ALICE), first, hash(2), 77));
		assert_eq!(
			last_event(),
			RuntimeEvent::Records(Event::RecordAmended {
				record: 1,
				previous: first,
				root: first,
				version: 2,
				author: ALICE,
				ciphertext_hash: hash(2),
				size: 77,
			})
		);
		let second = Records::record(1).unwrap();
		assert_eq!((second.previous, second.root, second.version, second.registered_at), (Some(0), 0, 2, 9));
		assert_eq!(second.category, Category::Observation);
		assert_eq!(Records::record(first).unwrap().status, RecordStatus::Superseded { by: 1 });
		assert_eq!(Records::versions(first), vec![0, 1]);
		assert_eq!(Records::versions(1), vec![0, 1]);
		assert_noop!(Records::amend(origin(ALICE), first, hash(3), 10), Error::<Test>::NotLatestVersion);
	});
}

#[test]
fn non_owner_cannot_amend() {
	run(|| {
		let record = register(ALICE, 1);
		assert_noop!(Records::amend(origin(BOB), record, hash(2), 10), Error::<Test>::NotAllowed);
		// An observation is outside the pharmacist's medication-only right.
		assert_noop!(Records::amend(origin(PHARMACIST), record, hash(2), 10), Error::<Test>::NotAllowed);
		assert_noop!(Records::amend(origin(ALICE), 42, hash(2), 10), Error::<Test>::UnknownRecord);
		assert_noop!(Records::amend(origin(ALICE), record, hash(1), 10), Error::<Test>::DuplicateCiphertext);
	});
}

#[test]
fn versions_are_bounded() {
	run(|| {
		let mut latest = register(ALICE, 1);
		for n in 2..=3 {
			assert_ok!(Records::amend(origin(ALICE), latest, hash(n), 10));
			latest = NextRecordId::<Test>::get() - 1;
		}
		assert_noop!(Records::amend(origin(ALICE), latest, hash(4), 10), Error::<Test>::TooManyVersions);
	});
}

#[test]
fn erase_tombstones_every_version_and_lists_their_hashes() {
	run(|| {
		let first = register(ALICE, 1);
		assert_ok!(Records::amend(origin(ALICE), first, hash(2), 10));
		System::set_block_number(20);
		assert_ok!(Records::erase(origin(ALICE), first));
		assert_eq!(
			last_event(),
			RuntimeEvent::Records(Event::RecordErased {
				root: first,
				patient: ALICE,
				ciphertext_hashes: vec![hash(1), hash(2)].try_into().unwrap(),
			})
		);
		for id in [0, 1] {
			assert_eq!(Records::record(id).unwrap().status, RecordStatus::Erased { at: 20 });
		}
	});
}

#[test]
fn erased_record_cannot_be_amended_or_erased_again() {
	run(|| {
		let record = register(ALICE, 1);
		assert_ok!(Records::erase(origin(ALICE), record));
		assert_noop!(Records::amend(origin(ALICE), record, hash(2), 10), Error::<Test>::RecordErased);
		assert_noop!(Records::erase(origin(ALICE), record), Error::<Test>::RecordErased);
		// Its ciphertext can never be registered again.
		assert_noop!(
			Records::register(origin(ALICE), ALICE, hash(1), 10, Category::Other),
			Error::<Test>::DuplicateCiphertext
		);
	});
}

#[test]
fn only_the_patient_erases() {
	run(|| {
		let record = register(ALICE, 1);
		assert_ok!(Records::register(origin(PHARMACIST), ALICE, hash(2), 10, Category::Medication));
		assert_noop!(Records::erase(origin(BOB), record), Error::<Test>::NotOwner);
		assert_noop!(Records::erase(origin(PHARMACIST), 1), Error::<Test>::NotOwner);
		assert_noop!(Records::erase(origin(ALICE), 7), Error::<Test>::UnknownRecord);
	});
}

#[test]
fn patient_records_are_paged_in_registration_order() {
	run(|| {
		for n in 0..4 {
			register(ALICE, n);
		}
		register(BOB, 9);
		let ids = |from, limit| Records::patient_records(&ALICE, from, limit).into_iter().map(|(id, _)| id).collect::<Vec<_>>();
		assert_eq!(ids(0, 2), vec![0, 1]);
		assert_eq!(ids(2, 2), vec![2, 3]);
		assert_eq!(ids(4, 2), Vec::<RecordId>::new());
		assert_eq!(ids(3, 100), vec![3]);
		assert_eq!(<Records as RecordKeyStore<_, _>>::patient_records(&BOB, 0, 10), vec![4]);
	});
}

#[test]
fn replace_ciphertext_bumps_the_key_epoch() {
	run(|| {
		let record = register(ALICE, 1);
		System::set_block_number(30);
		assert_eq!(<Records as RecordKeyStore<_, _>>::replace_ciphertext(&ALICE, record, hash(2), 55), Ok(1));
		assert_eq!(
			last_event(),
			RuntimeEvent::Records(Event::CiphertextReplaced { record, old_hash: hash(1), new_hash: hash(2), key_epoch: 1 })
		);
		let info = Records::record(record).unwrap();
		assert_eq!((info.key_epoch, info.key_set_at, info.size, info.ciphertext_hash), (1, 30, 55, hash(2)));
		assert_eq!(RecordByHash::<Test>::get(hash(1)), None);
		assert_eq!(<Records as RecordKeyStore<_, _>>::key_state(record), Some((ALICE, 1, 30)));
		assert_eq!(
			<Records as RecordKeyStore<_, _>>::replace_ciphertext(&BOB, record, hash(3), 55),
			Err(Error::<Test>::NotOwner.into())
		);
		assert_ok!(Records::erase(origin(ALICE), record));
		assert_eq!(<Records as RecordKeyStore<_, _>>::key_state(record), None);
		assert_eq!(
			<Records as RecordKeyStore<_, _>>::replace_ciphertext(&ALICE, record, hash(3), 55),
			Err(Error::<Test>::RecordErased.into())
		);
	});
}
