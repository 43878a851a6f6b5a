//! Unit tests of the keys pallet. Every case ends with `do_try_state` (see `mock::run`).

use crate::{mock::*, *};
use frame_support::{assert_noop, assert_ok};
use phr_primitives::{ciphertext_hash, Category};

fn origin(who: u64) -> RuntimeOrigin {
	RuntimeOrigin::signed(who)
}

fn keys(n: u8) -> AccountKeys {
	AccountKeys {
		encryption: [n; 32],
		request_signing: ed25519_dalek::SigningKey::from_bytes(&[n; 32]).verifying_key().to_bytes(),
	}
}

fn last_event() -> RuntimeEvent {
	System::events().pop().expect("an event").event
}

#[test]
fn account_registers_its_first_keys() {
	run(|| {
		System::set_block_number(3);
		assert_ok!(Keys::register_keys(origin(ALICE), keys(1)));
		assert_eq!(last_event(), RuntimeEvent::Keys(Event::KeysRegistered { who: ALICE, keys: keys(1) }));
		assert_eq!(
			KeyOf::<Test>::get(ALICE),
			Some(KeyRecord { keys: keys(1), epoch: 0, registered_at: 3, retired_at: None })
		);
		assert_noop!(Keys::register_keys(origin(ALICE), keys(2)), Error::<Test>::AlreadyRegistered);
	});
}

#[test]
fn invalid_keys_are_refused() {
	run(|| {
		let zero_encryption = AccountKeys { encryption: [0; 32], ..keys(1) };
		assert_noop!(Keys::register_keys(origin(ALICE), zero_encryption), Error::<Test>::InvalidEncryptionKey);
		// The compressed identity point: a small-order key that any signature would satisfy.
		let mut identity = [0u8; 32];
		identity[0] = 1;
		let weak = AccountKeys { request_signing: identity, ..keys(1) };
		assert_noop!(Keys::register_keys(origin(ALICE), weak), Error::<Test>::InvalidRequestKey);
		// y = 2 is not on the curve.
		let mut off_curve = [0u8; 32];
		off_curve[0] = 2;
		let malformed = AccountKeys { request_signing: off_curve, ..keys(1) };
		assert_noop!(Keys::register_keys(origin(ALICE), malformed), Error::<Test>::InvalidRequestKey);
	});
}

#[test]
fn rotation_bumps_the_epoch_and_keeps_the_old_key_with_its_retirement() {
	run(|| {
		assert_noop!(Keys::rotate_keys(origin(ALICE), keys(2)), Error::<Test>::NoKeys);
		assert_ok!(Keys::register_keys(origin(ALICE), keys(1)));
		assert_noop!(Keys::rotate_keys(origin(ALICE), keys(1)), Error::<Test>::KeysUnchanged);
		System::set_block_number(40);
		assert_ok!(Keys::rotate_keys(origin(ALICE), keys(2)));
		assert_eq!(last_event(), RuntimeEvent::Keys(Event::KeysRotated { who: ALICE, epoch: 1, keys: keys(2) }));
		assert_eq!(Keys::key_at(&ALICE, 0), Some(KeyRecord { keys: keys(1), epoch: 0, registered_at: 1, retired_at: Some(40) }));
		assert_eq!(Keys::key_at(&ALICE, 1), Some(KeyRecord { keys: keys(2), epoch: 1, registered_at: 40, retired_at: None }));
		System::set_block_number(50);
		assert_ok!(Keys::rotate_keys(origin(ALICE), keys(3)));
		assert_eq!(KeyOf::<Test>::get(ALICE).unwrap().epoch, 2);
		assert_eq!(Keys::key_at(&ALICE, 1).unwrap().retired_at, Some(50));
		assert_eq!(Keys::key_at(&ALICE, 3), None);
		assert_noop!(Keys::rotate_keys(origin(ALICE), AccountKeys { encryption: [0; 32], ..keys(4) }), Error::<Test>::InvalidEncryptionKey);
	});
}

#[test]
fn keys_older_than_the_maximum_age_are_due() {
	run(|| {
		assert_ok!(Keys::register_keys(origin(ALICE), keys(1)));
		System::set_block_number(50);
		assert_ok!(Keys::register_keys(origin(BOB), keys(2)));
		System::set_block_number(101);
		assert!(Keys::keys_due(None, 10).is_empty());
		System::set_block_number(102);
		assert_eq!(Keys::keys_due(None, 10), vec![ALICE]);
		System::set_block_number(151);
		let mut due = Keys::keys_due(None, 10);
		due.sort();
		assert_eq!(due, vec![ALICE, BOB]);
		assert_eq!(Keys::keys_due(None, 1).len(), 1);
		// Paging: everything after the first one.
		let first = Keys::keys_due(None, 1)[0];
		assert_eq!(Keys::keys_due(Some(first), 10).len(), 1);
		assert_ok!(Keys::rotate_keys(origin(ALICE), keys(3)));
		assert_eq!(Keys::keys_due(None, 10), vec![BOB]);
	});
}

fn register_record(patient: u64, n: u8) -> RecordId {
	let id = pallet_records::NextRecordId::<Test>::get();
	assert_ok!(Records::register(origin(patient), patient, ciphertext_hash(&[n]), 10, Category::Observation));
	id
}

#[test]
fn patient_rotates_a_records_data_key() {
	run(|| {
		let record = register_record(ALICE, 1);
		System::set_block_number(7);
		assert_ok!(Keys::rotate_data_key(origin(ALICE), record, ciphertext_hash(&[2]), 12, RotationReason::Revocation));
		assert_eq!(
			last_event(),
			RuntimeEvent::Keys(Event::DataKeyRotated { record, epoch: 1, reason: RotationReason::Revocation, by: ALICE })
		);
		let info = Records::record(record).unwrap();
		assert_eq!((info.key_epoch, info.key_set_at, info.ciphertext_hash), (1, 7, ciphertext_hash(&[2])));
		assert_ok!(Keys::rotate_data_key(origin(ALICE), record, ciphertext_hash(&[3]), 12, RotationReason::Manual));
		assert_eq!(Records::record(record).unwrap().key_epoch, 2);
	});
}

#[test]
fn only_the_patient_rotates_a_data_key_and_never_of_an_erased_record() {
	run(|| {
		let record = register_record(ALICE, 1);
		assert_noop!(
			Keys::rotate_data_key(origin(BOB), record, ciphertext_hash(&[2]), 12, RotationReason::Manual),
			pallet_records::Error::<Test>::NotOwner
		);
		assert_noop!(
			Keys::rotate_data_key(origin(ALICE), 99, ciphertext_hash(&[2]), 12, RotationReason::Manual),
			pallet_records::Error::<Test>::UnknownRecord
		);
		assert_noop!(
			Keys::rotate_data_key(origin(ALICE), record, ciphertext_hash(&[2]), 0, RotationReason::Manual),
			pallet_records::Error::<Test>::EmptyCiphertext
		);
		assert_ok!(Records::erase(origin(ALICE), record));
		assert_noop!(
			Keys::rotate_data_key(origin(ALICE), record, ciphertext_hash(&[2]), 12, RotationReason::Compromise),
			pallet_records::Error::<Test>::RecordErased
		);
	});
}

#[test]
fn records_with_old_data_keys_are_due() {
	run(|| {
		let old = register_record(ALICE, 1);
		System::set_block_number(60);
		let young = register_record(ALICE, 2);
		System::set_block_number(120);
		assert_eq!(Keys::records_due(&ALICE, 0, 10), vec![old]);
		assert_ok!(Keys::rotate_data_key(origin(ALICE), old, ciphertext_hash(&[3]), 12, RotationReason::MaximumAge));
		assert!(Keys::records_due(&ALICE, 0, 10).is_empty());
		System::set_block_number(200);
		assert_eq!(Keys::records_due(&ALICE, 0, 10), vec![young]);
		assert_eq!(Keys::records_due(&ALICE, 0, 1), Vec::<RecordId>::new());
		assert!(Keys::records_due(&BOB, 0, 10).is_empty());
	});
}
