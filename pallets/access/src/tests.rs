//! Unit tests of the access pallet. Every case ends with `do_try_state` (see `mock::run`).

use crate::{mock::*, *};
use frame_support::{assert_noop, assert_ok};
use phr_primitives::{
	ciphertext_hash, AttributePolicy, Conditions, Rights, Scope, TimeWindow,
};

fn origin(who: u64) -> RuntimeOrigin {
	RuntimeOrigin::signed(who)
}

fn code(text: &str) -> phr_primitives::AttributeCode {
	text.as_bytes().to_vec().try_into().unwrap()
}

fn last_event() -> RuntimeEvent {
	System::events().pop().expect("an event").event
}

fn record(patient: u64, n: u8, category: Category) -> RecordId {
	let id = pallet_records::NextRecordId::<Test>::get();
	assert_ok!(Records::register(origin(patient), patient, ciphertext_hash(&[n, patient as u8]), 10, category));
	id
}

fn scope(categories: &[Category]) -> Scope {
	Scope { categories: CategorySet::from_categories(categories), records: Default::default() }
}

fn terms(grantee: Grantee<u64>, scope: Scope, rights: Rights) -> GrantTerms<u64> {
	GrantTerms { grantee, scope, rights, expires_at: START + HOUR, conditions: Conditions::default() }
}

fn grant(patient: u64, terms: GrantTerms<u64>) -> GrantId {
	let id = NextGrantId::<Test>::get();
	assert_ok!(Access::grant(origin(patient), patient, terms));
	id
}

fn policy(roles: &[Role], hospitals: &[HospitalId], departments: &[&str], facilities: &[&str]) -> AttributePolicy {
	AttributePolicy {
		roles: phr_primitives::RoleSet::from_roles(roles),
		hospitals: PolicyHospitals::Only(hospitals.to_vec().try_into().unwrap()),
		departments: departments.iter().map(|d| code(d)).collect::<Vec<_>>().try_into().unwrap(),
		facilities: facilities.iter().map(|f| code(f)).collect::<Vec<_>>().try_into().unwrap(),
	}
}

/// The world of the decision table: PATIENT's medication record `med` and imaging record `img`,
/// OTHER_PATIENT's record `other`, and their grants.
struct World {
	med: RecordId,
	img: RecordId,
	other: RecordId,
	to_doctor: GrantId,
	to_h2_nurses: GrantId,
	office_hours: GrantId,
	cardiology_policy: GrantId,
}

fn world() -> World {
	let med = record(PATIENT, 1, Category::Medication);
	let img = record(PATIENT, 2, Category::Imaging);
	let other = record(OTHER_PATIENT, 3, Category::Condition);
	let to_doctor = grant(PATIENT, terms(Grantee::Account(DOCTOR), scope(&[Category::Medication]), Rights::READ));
	let to_h2_nurses = grant(
		PATIENT,
		terms(Grantee::HospitalRole { hospital: 2, role: Role::Nurse }, scope(&[Category::Imaging]), Rights::READ),
	);
	let mut office = terms(Grantee::Account(H3_CARDIOLOGIST), Scope { categories: CategorySet::all(), records: Default::default() }, Rights::READ);
	office.conditions.time_window = Some(TimeWindow { start_minute: 8 * 60, end_minute: 17 * 60 });
	office.expires_at = START + 24 * HOUR;
	let office_hours = grant(PATIENT, office);
	let cardiology_policy = grant(
		OTHER_PATIENT,
		terms(
			Grantee::Policy(policy(&[Role::Physician], &[2], &["cardiology"], &["H2-north"])),
			scope(&[Category::Condition]),
			Rights::READ,
		),
	);
	World { med, img, other, to_doctor, to_h2_nurses, office_hours, cardiology_policy }
}

fn decide(who: u64, record: RecordId, right: Right, purpose: Purpose) -> Decision {
	Access::decide(&who, record, right, purpose, <MockTime as Time>::now())
}

use Decision::{Allowed, Denied};

#[test]
fn decide_table() {
	run(|| {
		let w = world();
		let t = Purpose::Treatment;
		let cases: Vec<(&str, u64, RecordId, Right, Purpose, Decision)> = vec![
			("owner reads", PATIENT, w.med, Right::Read, t, Allowed(Basis::Owner)),
			("owner appends", PATIENT, w.img, Right::Append, t, Allowed(Basis::Owner)),
			("direct grant", DOCTOR, w.med, Right::Read, t, Allowed(Basis::Grant(w.to_doctor))),
			("direct grant, right not granted", DOCTOR, w.med, Right::Append, t, Denied(Denial::RightNotGranted(w.to_doctor))),
			("direct grant, out-of-scope category", DOCTOR, w.img, Right::Read, t, Denied(Denial::OutOfScope(w.to_doctor))),
			("hospital + role grant", NURSE, w.img, Right::Read, t, Allowed(Basis::Grant(w.to_h2_nurses))),
			("hospital + role grant, any holder of the role", CARDIO_NURSE, w.img, Right::Read, t, Allowed(Basis::Grant(w.to_h2_nurses))),
			("hospital + role grant, another role", SURGEON, w.img, Right::Read, t, Denied(Denial::NoGrant)),
			("time window inside", H3_CARDIOLOGIST, w.img, Right::Read, t, Allowed(Basis::Grant(w.office_hours))),
			("attribute policy matches", DOCTOR, w.other, Right::Read, t, Allowed(Basis::Grant(w.cardiology_policy))),
			("attribute policy, role mismatch", CARDIO_NURSE, w.other, Right::Read, t, Denied(Denial::NoGrant)),
			("attribute policy, hospital mismatch", H3_CARDIOLOGIST, w.other, Right::Read, t, Denied(Denial::NoGrant)),
			("attribute policy, department mismatch", SURGEON, w.other, Right::Read, t, Denied(Denial::NoGrant)),
			("attribute policy, facility mismatch", SOUTH_CARDIO, w.other, Right::Read, t, Denied(Denial::NoGrant)),
			("no grant at all", SURGEON, w.med, Right::Read, t, Denied(Denial::NoGrant)),
			("unregistered account", STRANGER, w.med, Right::Read, t, Denied(Denial::Unregistered)),
			("unknown record", DOCTOR, 77, Right::Read, t, Denied(Denial::UnknownRecord)),
			("another patient is not the owner", OTHER_PATIENT, w.med, Right::Read, t, Denied(Denial::NoGrant)),
			("emergency without opening", ER_DOCTOR, w.med, Right::Read, Purpose::Emergency, Denied(Denial::NoEmergencyAccess)),
			("emergency by non-holder", DOCTOR, w.med, Right::Read, Purpose::Emergency, Denied(Denial::NoEmergencyAccess)),
			("research by non-researcher", DOCTOR, w.med, Right::Read, Purpose::Research(7), Denied(Denial::NotResearcher)),
			("research without consent", RESEARCHER, w.med, Right::Read, Purpose::Research(7), Denied(Denial::NoConsent)),
		];
		for (name, who, record, right, purpose, expected) in cases {
			assert_eq!(decide(who, record, right, purpose), expected, "{name}");
		}

		// Time window outside: 20:00 the same day.
		set_now(START + 11 * HOUR);
		assert_eq!(decide(H3_CARDIOLOGIST, w.img, Right::Read, t), Denied(Denial::OutsideTimeWindow(w.office_hours)));

		// Expired grants: every grant above ran for one hour.
		set_now(START + HOUR);
		assert_eq!(decide(DOCTOR, w.med, Right::Read, t), Denied(Denial::Expired(w.to_doctor)));
		assert_eq!(decide(NURSE, w.img, Right::Read, t), Denied(Denial::Expired(w.to_h2_nurses)));
		assert_eq!(decide(PATIENT, w.img, Right::Read, t), Allowed(Basis::Owner), "the owner never expires");
	});
}

#[test]
fn revoked_grant_denies_read() {
	run(|| {
		let w = world();
		assert_ok!(Access::revoke(origin(PATIENT), w.to_doctor));
		assert_eq!(last_event(), RuntimeEvent::Access(Event::AccessRevoked { grant: w.to_doctor, patient: PATIENT, by: PATIENT }));
		assert_eq!(decide(DOCTOR, w.med, Right::Read, Purpose::Treatment), Denied(Denial::NoGrant));
		assert!(Access::grants_to(&DOCTOR).is_empty());
		assert_noop!(Access::revoke(origin(PATIENT), w.to_doctor), Error::<Test>::UnknownGrant);
	});
}

#[test]
fn an_offboarded_patient_takes_exposure_back_but_cannot_widen_it() {
	run(|| {
		let w = world();
		let medication = CategorySet::from_categories(&[Category::Medication]);
		assert_ok!(Access::give_consent(origin(PATIENT), PATIENT, 7, medication, START + HOUR));
		offboard(PATIENT);
		// Widening is refused: a new grant, a later expiry, a new consent, a new record.
		let t = terms(Grantee::Account(NURSE), scope(&[Category::Allergy]), Rights::READ);
		assert_noop!(Access::grant(origin(PATIENT), PATIENT, t), Error::<Test>::UnknownPatient);
		assert_noop!(Access::amend_expiry(origin(PATIENT), w.to_doctor, START + 2 * HOUR), Error::<Test>::UnknownPatient);
		assert_noop!(Access::give_consent(origin(PATIENT), PATIENT, 8, medication, START + HOUR), Error::<Test>::UnknownPatient);
		assert_noop!(
			Records::register(origin(PATIENT), PATIENT, ciphertext_hash(b"after offboarding"), 10, Category::Allergy),
			pallet_records::Error::<Test>::NotPatient
		);
		// Taking exposure back is not: revoke, withdraw a consent, erase.
		assert_ok!(Access::revoke(origin(PATIENT), w.to_doctor));
		assert_eq!(decide(DOCTOR, w.med, Right::Read, Purpose::Treatment), Denied(Denial::NoGrant));
		assert_ok!(Access::withdraw_consent(origin(PATIENT), PATIENT, 7));
		assert_ok!(Records::erase(origin(PATIENT), w.med));
		assert_eq!(decide(PATIENT, w.med, Right::Read, Purpose::Treatment), Denied(Denial::Erased));
	});
}

#[test]
fn erased_record_is_denied_to_everyone_but_stays_denied_for_the_owner_too() {
	run(|| {
		let w = world();
		assert_ok!(Records::erase(origin(PATIENT), w.med));
		assert_eq!(decide(DOCTOR, w.med, Right::Read, Purpose::Treatment), Denied(Denial::Erased));
		assert_eq!(decide(PATIENT, w.med, Right::Read, Purpose::Treatment), Denied(Denial::Erased));
	});
}

#[test]
fn grant_records_indexes_event_and_audit() {
	run(|| {
		System::set_block_number(4);
		let t = terms(Grantee::Account(DOCTOR), scope(&[Category::Allergy]), Rights::READ_APPEND);
		assert_ok!(Access::grant(origin(PATIENT), PATIENT, t.clone()));
		assert_eq!(last_event(), RuntimeEvent::Access(Event::AccessGranted { grant: 0, patient: PATIENT, terms: t.clone(), by: PATIENT }));
		assert_eq!(Access::grants_of(&PATIENT), vec![(0, Grant { patient: PATIENT, terms: t, granted_by: PATIENT, granted_at: 4 })]);
		assert_eq!(Access::grants_to(&DOCTOR), vec![(0, PATIENT)]);
		assert_eq!(
			Access::audit_trail(&PATIENT, 0, 10),
			vec![AuditEntry { at: 4, actor: PATIENT, action: AuditAction::GrantAdded { grant: 0 } }]
		);
	});
}

#[test]
fn invalid_grants_are_refused() {
	run(|| {
		let base = terms(Grantee::Account(DOCTOR), scope(&[Category::Medication]), Rights::READ);
		let cases: Vec<(GrantTerms<u64>, Error<Test>)> = vec![
			(GrantTerms { rights: Rights(0), ..base.clone() }, Error::<Test>::InvalidRights),
			(GrantTerms { rights: Rights(8), ..base.clone() }, Error::<Test>::InvalidRights),
			(GrantTerms { scope: scope(&[]), ..base.clone() }, Error::<Test>::InvalidScope),
			(
				GrantTerms { scope: Scope { categories: CategorySet(1 << 14), records: Default::default() }, ..base.clone() },
				Error::<Test>::InvalidScope,
			),
			(GrantTerms { expires_at: START, ..base.clone() }, Error::<Test>::ExpiryInPast),
			(
				GrantTerms {
					conditions: Conditions { time_window: Some(TimeWindow { start_minute: 60, end_minute: 60 }), facility: None },
					..base.clone()
				},
				Error::<Test>::InvalidTimeWindow,
			),
			(GrantTerms { grantee: Grantee::Account(PATIENT), ..base.clone() }, Error::<Test>::GrantToSelf),
			(GrantTerms { grantee: Grantee::Policy(policy(&[], &[], &[], &[])), ..base.clone() }, Error::<Test>::PolicyNamesNoHospital),
			(
				GrantTerms { grantee: Grantee::Policy(policy(&[Role::Physician], &[], &["cardiology"], &[])), ..base.clone() },
				Error::<Test>::PolicyNamesNoHospital,
			),
			(
				GrantTerms {
					grantee: Grantee::Policy(AttributePolicy { hospitals: PolicyHospitals::ConsortiumWide, ..policy(&[], &[1], &[], &[]) }),
					..base.clone()
				},
				Error::<Test>::InvalidPolicy,
			),
			(
				GrantTerms { grantee: Grantee::HospitalRole { hospital: 2, role: Role::Admin }, ..base.clone() },
				Error::<Test>::InvalidPolicy,
			),
		];
		for (t, error) in cases {
			assert_noop!(Access::grant(origin(PATIENT), PATIENT, t), error);
		}
		assert_noop!(Access::grant(origin(DOCTOR), PATIENT, base.clone()), Error::<Test>::NotPatientOrGuardian);
		assert_noop!(Access::grant(origin(STRANGER), STRANGER, base), Error::<Test>::UnknownPatient);
	});
}

#[test]
fn grants_per_patient_are_bounded() {
	run(|| {
		for _ in 0..6 {
			grant(PATIENT, terms(Grantee::Account(DOCTOR), scope(&[Category::Other]), Rights::READ));
		}
		assert_noop!(
			Access::grant(origin(PATIENT), PATIENT, terms(Grantee::Account(NURSE), scope(&[Category::Other]), Rights::READ)),
			Error::<Test>::TooManyGrants
		);
		// Revoking one makes room.
		assert_ok!(Access::revoke(origin(PATIENT), 0));
		grant(PATIENT, terms(Grantee::Account(NURSE), scope(&[Category::Other]), Rights::READ));
	});
}

#[test]
fn expired_grants_stop_counting_once_swept() {
	use frame_support::traits::Hooks;
	run(|| {
		let short = terms(Grantee::Account(DOCTOR), scope(&[Category::Other]), Rights::READ);
		for _ in 0..5 {
			grant(PATIENT, short.clone());
		}
		let long = GrantTerms { expires_at: START + 2 * HOUR, ..terms(Grantee::Account(NURSE), scope(&[Category::Other]), Rights::READ) };
		let kept = grant(PATIENT, long);
		set_now(START + HOUR);
		// Expired, they grant nothing, but still fill the patient's six slots until swept.
		let again = terms(Grantee::Account(NURSE), scope(&[Category::Other]), Rights::READ);
		let again = GrantTerms { expires_at: START + 3 * HOUR, ..again };
		assert_noop!(Access::grant(origin(PATIENT), PATIENT, again.clone()), Error::<Test>::TooManyGrants);
		Access::on_idle(1, Weight::MAX);
		assert_eq!(Access::grants_of(&PATIENT).into_iter().map(|(id, _)| id).collect::<Vec<_>>(), vec![kept]);
		assert!(Access::grants_to(&DOCTOR).is_empty());
		assert!(System::events().iter().any(|r| r.event == RuntimeEvent::Access(Event::AccessExpired { grant: 0, patient: PATIENT })));
		let trail = Access::audit_trail(&PATIENT, 0, 20);
		assert_eq!(trail.iter().filter(|e| matches!(e.action, AuditAction::GrantExpired { .. })).count(), 5);
		assert_ok!(Access::grant(origin(PATIENT), PATIENT, again));
	});
}

#[test]
fn the_sweep_is_bounded_per_block_and_resumes_where_it_stopped() {
	use frame_support::traits::Hooks;
	run(|| {
		// 30 patients with 5 expiring grants each: 150 grants, more than one block's sweep.
		for patient in 10..40u64 {
			for _ in 0..5 {
				grant(patient, terms(Grantee::Account(DOCTOR), scope(&[Category::Other]), Rights::READ));
			}
		}
		set_now(START + HOUR);
		Access::on_idle(1, Weight::MAX);
		assert_eq!(GrantOf::<Test>::iter().count(), 150 - GRANTS_SWEPT_PER_BLOCK as usize);
		assert!(ExpirySweepCursor::<Test>::get().is_some(), "it stopped midway");
		Access::on_idle(2, Weight::MAX);
		assert_eq!(GrantOf::<Test>::iter().count(), 0);
		assert!(ExpirySweepCursor::<Test>::get().is_none(), "it reached the end and starts over next time");
	});
}

#[test]
fn the_sweep_is_charged_by_its_benchmarks_and_stays_within_its_limit() {
	use crate::weights::WeightInfo as _;
	type W = ();
	run(|| {
		let expiring = terms(Grantee::Account(DOCTOR), scope(&[Category::Other]), Rights::READ);
		let live = GrantTerms { expires_at: START + 9 * HOUR, ..expiring.clone() };
		for patient in 10..15u64 {
			grant(patient, expiring.clone());
			grant(patient, live.clone());
		}
		set_now(START + HOUR);
		let (per_grant, per_drop) = (W::sweep_live(1) - W::sweep_live(0), W::sweep_expired(1) - W::sweep_live(1));
		// Too little room for one grant looked at and dropped: nothing is done, nothing charged.
		let short = W::sweep_live(0) + per_grant + per_drop - Weight::from_parts(1, 0);
		assert_eq!(Access::sweep_expired_grants(short), Weight::zero());
		assert_eq!(GrantOf::<Test>::iter().count(), 10);
		// Ten grants looked at, five dropped: charged exactly that, by the benchmarks' terms.
		let used = Access::sweep_expired_grants(Weight::MAX);
		assert_eq!(used, W::sweep_live(10) + per_drop * 5);
		assert_eq!(GrantOf::<Test>::iter().count(), 5);
	});
}

#[test]
fn amend_expiry_extends_and_shortens() {
	run(|| {
		let w = world();
		assert_ok!(Access::amend_expiry(origin(PATIENT), w.to_doctor, START + 3 * HOUR));
		assert_eq!(
			last_event(),
			RuntimeEvent::Access(Event::GrantExpiryAmended { grant: w.to_doctor, patient: PATIENT, expires_at: START + 3 * HOUR, by: PATIENT })
		);
		set_now(START + 2 * HOUR);
		assert_eq!(decide(DOCTOR, w.med, Right::Read, Purpose::Treatment), Allowed(Basis::Grant(w.to_doctor)));
		assert_noop!(Access::amend_expiry(origin(PATIENT), w.to_doctor, START), Error::<Test>::ExpiryInPast);
		assert_noop!(Access::amend_expiry(origin(DOCTOR), w.to_doctor, START + 9 * HOUR), Error::<Test>::NotPatientOrGuardian);
		assert_noop!(Access::amend_expiry(origin(PATIENT), 99, START + 9 * HOUR), Error::<Test>::UnknownGrant);
	});
}

#[test]
fn guardian_grants_on_behalf_until_removed() {
	run(|| {
		let w = world();
		let manage = GuardianPowers { read: false, manage_grants: true };
		assert_ok!(Access::appoint_guardian(origin(PATIENT), GUARDIAN, manage));
		assert_eq!(last_event(), RuntimeEvent::Access(Event::GuardianAppointed { patient: PATIENT, guardian: GUARDIAN, powers: manage }));
		let t = terms(Grantee::Account(SURGEON), scope(&[Category::Medication]), Rights::READ);
		assert_ok!(Access::grant(origin(GUARDIAN), PATIENT, t.clone()));
		let id = NextGrantId::<Test>::get() - 1;
		assert_eq!(last_event(), RuntimeEvent::Access(Event::AccessGranted { grant: id, patient: PATIENT, terms: t.clone(), by: GUARDIAN }));
		assert_eq!(decide(SURGEON, w.med, Right::Read, Purpose::Treatment), Allowed(Basis::Grant(id)));
		// Managing grants is not reading.
		assert_eq!(decide(GUARDIAN, w.med, Right::Read, Purpose::Treatment), Denied(Denial::NoGrant));

		assert_ok!(Access::remove_guardian(origin(PATIENT), PATIENT, GUARDIAN));
		assert_eq!(last_event(), RuntimeEvent::Access(Event::GuardianRemoved { patient: PATIENT, guardian: GUARDIAN, by: PATIENT }));
		assert_noop!(Access::grant(origin(GUARDIAN), PATIENT, t), Error::<Test>::NotPatientOrGuardian);
		assert_noop!(Access::revoke(origin(GUARDIAN), id), Error::<Test>::NotPatientOrGuardian);
		// What the guardian granted stays until the patient revokes it.
		assert_eq!(decide(SURGEON, w.med, Right::Read, Purpose::Treatment), Allowed(Basis::Grant(id)));
	});
}

#[test]
fn guardian_with_read_power_reads_until_stepping_down() {
	run(|| {
		let w = world();
		assert_ok!(Access::appoint_guardian(origin(PATIENT), GUARDIAN, GuardianPowers { read: true, manage_grants: false }));
		assert_eq!(decide(GUARDIAN, w.med, Right::Read, Purpose::Treatment), Allowed(Basis::Guardian));
		assert_eq!(decide(GUARDIAN, w.med, Right::Append, Purpose::Treatment), Denied(Denial::NoGrant));
		assert_noop!(
			Access::grant(origin(GUARDIAN), PATIENT, terms(Grantee::Account(NURSE), scope(&[Category::Other]), Rights::READ)),
			Error::<Test>::NotPatientOrGuardian
		);
		assert_ok!(Access::remove_guardian(origin(GUARDIAN), PATIENT, GUARDIAN));
		assert_eq!(decide(GUARDIAN, w.med, Right::Read, Purpose::Treatment), Denied(Denial::NoGrant));
	});
}

#[test]
fn invalid_guardianships_are_refused() {
	run(|| {
		let read = GuardianPowers { read: true, manage_grants: false };
		assert_noop!(Access::appoint_guardian(origin(PATIENT), STRANGER, read), Error::<Test>::GuardianNotRegistered);
		assert_noop!(Access::appoint_guardian(origin(PATIENT), PATIENT, read), Error::<Test>::GuardianNotRegistered);
		assert_noop!(Access::appoint_guardian(origin(PATIENT), GUARDIAN, GuardianPowers::default()), Error::<Test>::NoPowers);
		assert_noop!(Access::appoint_guardian(origin(DOCTOR), GUARDIAN, read), Error::<Test>::UnknownPatient);
		assert_ok!(Access::appoint_guardian(origin(PATIENT), GUARDIAN, read));
		assert_ok!(Access::appoint_guardian(origin(PATIENT), DOCTOR, read));
		assert_noop!(Access::appoint_guardian(origin(PATIENT), NURSE, read), Error::<Test>::TooManyGuardians);
		// Changing an existing guardian's powers is not a new guardian.
		assert_ok!(Access::appoint_guardian(origin(PATIENT), DOCTOR, GuardianPowers { read: true, manage_grants: true }));
		assert_noop!(Access::remove_guardian(origin(NURSE), PATIENT, GUARDIAN), Error::<Test>::NotPatientOrGuardian);
		assert_noop!(Access::remove_guardian(origin(PATIENT), PATIENT, NURSE), Error::<Test>::NotGuardian);
	});
}

#[test]
fn break_glass_by_emergency_staff_until_it_expires_then_reviewed() {
	run(|| {
		let w = world();
		let why = H256::repeat_byte(5);
		assert_ok!(Access::open_emergency(origin(ER_DOCTOR), PATIENT, why, 2 * HOUR));
		assert_eq!(
			last_event(),
			RuntimeEvent::Access(Event::EmergencyAccessOpened {
				emergency: 0,
				patient: PATIENT,
				opener: ER_DOCTOR,
				hospital: 3,
				justification: why,
				expires_at: START + 2 * HOUR,
			})
		);
		assert_eq!(decide(ER_DOCTOR, w.med, Right::Read, Purpose::Emergency), Allowed(Basis::Emergency(0)));
		assert_eq!(decide(ER_DOCTOR, w.img, Right::Read, Purpose::Emergency), Allowed(Basis::Emergency(0)));
		assert_eq!(decide(ER_DOCTOR, w.other, Right::Read, Purpose::Emergency), Denied(Denial::NoEmergencyAccess), "another patient");
		assert_eq!(decide(ER_DOCTOR, w.med, Right::Append, Purpose::Emergency), Denied(Denial::NoEmergencyAccess), "read only");
		assert_eq!(Access::pending_reviews(3).len(), 1);

		set_now(START + 2 * HOUR);
		assert_eq!(decide(ER_DOCTOR, w.med, Right::Read, Purpose::Emergency), Denied(Denial::EmergencyExpired(0)));

		// The opener's own hospital may not review it, nor may staff without the auditor role.
		assert_noop!(Access::review_emergency(origin(AUDITOR_H3), 0), Error::<Test>::ReviewerNotIndependent);
		assert_noop!(Access::review_emergency(origin(DOCTOR), 0), Error::<Test>::ReviewerNotIndependent);
		assert_noop!(Access::review_emergency(origin(AUDITOR_H2), 5), Error::<Test>::UnknownEmergency);
		assert_ok!(Access::review_emergency(origin(AUDITOR_H2), 0));
		assert_eq!(last_event(), RuntimeEvent::Access(Event::EmergencyReviewed { emergency: 0, reviewer: AUDITOR_H2 }));
		assert!(Access::pending_reviews(3).is_empty());
		assert_noop!(Access::review_emergency(origin(AUDITOR_H2), 0), Error::<Test>::AlreadyReviewed);
	});
}

#[test]
fn an_opener_who_is_also_an_auditor_cannot_review_its_own_opening() {
	run(|| {
		// An emergency physician of H3 who also holds the auditor role.
		let opener_auditor = 150;
		EXTRA_STAFF.with(|s| {
			s.borrow_mut().insert(
				opener_auditor,
				StaffView {
					hospital: 3,
					roles: phr_primitives::RoleSet::from_roles(&[Role::Emergency, Role::Auditor]),
					department: code("er"),
					facility: code("H3"),
				},
			)
		});
		assert_ok!(Access::open_emergency(origin(opener_auditor), PATIENT, H256::repeat_byte(1), HOUR));
		assert_noop!(Access::review_emergency(origin(opener_auditor), 0), Error::<Test>::ReviewerNotIndependent);
		assert_noop!(Access::review_emergency(origin(AUDITOR_H3), 0), Error::<Test>::ReviewerNotIndependent);
		assert_ok!(Access::review_emergency(origin(AUDITOR_H2), 0));
	});
}

#[test]
fn a_policy_never_matches_staff_of_a_hospital_it_does_not_name() {
	run(|| {
		let record = record(PATIENT, 1, Category::Condition);
		// "Cardiology physicians at H2": H3's admin registered its own cardiologist with the same
		// department and facility codes (H3_CARDIOLOGIST); the policy does not admit them.
		let h2_cardiology = grant(
			PATIENT,
			terms(Grantee::Policy(policy(&[Role::Physician], &[2], &["cardiology"], &[])), scope(&[Category::Condition]), Rights::READ),
		);
		assert_eq!(decide(DOCTOR, record, Right::Read, Purpose::Treatment), Allowed(Basis::Grant(h2_cardiology)));
		assert_eq!(decide(H3_CARDIOLOGIST, record, Right::Read, Purpose::Treatment), Denied(Denial::NoGrant));
		// Only a policy the patient made consortium-wide admits every member's staff.
		let anywhere = grant(
			PATIENT,
			terms(
				Grantee::Policy(AttributePolicy { hospitals: PolicyHospitals::ConsortiumWide, ..policy(&[Role::Physician], &[1], &["cardiology"], &[]) }),
				scope(&[Category::Condition]),
				Rights::READ,
			),
		);
		assert_eq!(decide(H3_CARDIOLOGIST, record, Right::Read, Purpose::Treatment), Allowed(Basis::Grant(anywhere)));
	});
}

#[test]
fn break_glass_is_refused_to_others_and_bounded_in_time() {
	run(|| {
		let why = H256::repeat_byte(5);
		assert_noop!(Access::open_emergency(origin(DOCTOR), PATIENT, why, HOUR), Error::<Test>::NotEmergencyStaff);
		assert_noop!(Access::open_emergency(origin(STRANGER), PATIENT, why, HOUR), Error::<Test>::NotEmergencyStaff);
		assert_noop!(Access::open_emergency(origin(ER_DOCTOR), STRANGER, why, HOUR), Error::<Test>::UnknownPatient);
		assert_noop!(Access::open_emergency(origin(ER_DOCTOR), PATIENT, why, 0), Error::<Test>::InvalidDuration);
		assert_noop!(Access::open_emergency(origin(ER_DOCTOR), PATIENT, why, 4 * HOUR + 1), Error::<Test>::InvalidDuration);
	});
}

#[test]
fn research_under_live_consent_only() {
	run(|| {
		let w = world();
		let medication = CategorySet::from_categories(&[Category::Medication]);
		assert_ok!(Access::give_consent(origin(PATIENT), PATIENT, 7, medication, START + HOUR));
		assert_eq!(
			last_event(),
			RuntimeEvent::Access(Event::ConsentGiven { patient: PATIENT, purpose: 7, categories: medication, expires_at: START + HOUR })
		);
		assert_eq!(decide(RESEARCHER, w.med, Right::Read, Purpose::Research(7)), Allowed(Basis::Consent(7)));
		assert_eq!(decide(RESEARCHER, w.img, Right::Read, Purpose::Research(7)), Denied(Denial::NoConsent), "category outside the consent");
		assert_eq!(decide(RESEARCHER, w.med, Right::Read, Purpose::Research(8)), Denied(Denial::NoConsent), "another purpose");
		assert_eq!(decide(RESEARCHER, w.med, Right::Read, Purpose::Treatment), Denied(Denial::NoGrant), "consent is not a grant");
		set_now(START + HOUR);
		assert_eq!(decide(RESEARCHER, w.med, Right::Read, Purpose::Research(7)), Denied(Denial::NoConsent), "expired consent");
		set_now(START);
		assert_ok!(Access::withdraw_consent(origin(PATIENT), PATIENT, 7));
		assert_eq!(last_event(), RuntimeEvent::Access(Event::ConsentWithdrawn { patient: PATIENT, purpose: 7 }));
		assert_eq!(decide(RESEARCHER, w.med, Right::Read, Purpose::Research(7)), Denied(Denial::NoConsent));
	});
}

#[test]
fn invalid_consents_are_refused() {
	run(|| {
		let all = CategorySet::all();
		assert_noop!(Access::give_consent(origin(PATIENT), PATIENT, 1, CategorySet(0), START + HOUR), Error::<Test>::EmptyConsent);
		assert_noop!(Access::give_consent(origin(PATIENT), PATIENT, 1, all, START), Error::<Test>::ExpiryInPast);
		assert_noop!(Access::give_consent(origin(DOCTOR), PATIENT, 1, all, START + HOUR), Error::<Test>::NotPatientOrGuardian);
		assert_ok!(Access::give_consent(origin(PATIENT), PATIENT, 1, all, START + HOUR));
		assert_ok!(Access::give_consent(origin(PATIENT), PATIENT, 2, all, START + HOUR));
		assert_noop!(Access::give_consent(origin(PATIENT), PATIENT, 3, all, START + HOUR), Error::<Test>::TooManyConsents);
		// Renewing an existing consent is not a new one.
		assert_ok!(Access::give_consent(origin(PATIENT), PATIENT, 2, all, START + 2 * HOUR));
		assert_noop!(Access::withdraw_consent(origin(PATIENT), PATIENT, 9), Error::<Test>::UnknownConsent);
	});
}

#[test]
fn append_right_lets_staff_register_records_for_the_patient() {
	run(|| {
		let append = terms(Grantee::Account(DOCTOR), scope(&[Category::Medication]), Rights::APPEND);
		let id = grant(PATIENT, append);
		assert_ok!(Records::register(origin(DOCTOR), PATIENT, ciphertext_hash(b"rx"), 10, Category::Medication));
		assert_noop!(
			Records::register(origin(DOCTOR), PATIENT, ciphertext_hash(b"scan"), 10, Category::Imaging),
			pallet_records::Error::<Test>::NotAllowed
		);
		assert_noop!(
			Records::register(origin(NURSE), PATIENT, ciphertext_hash(b"rx2"), 10, Category::Medication),
			pallet_records::Error::<Test>::NotAllowed
		);
		assert_eq!(decide(DOCTOR, 0, Right::Append, Purpose::Treatment), Allowed(Basis::Grant(id)));
		set_now(START + HOUR);
		assert_noop!(
			Records::register(origin(DOCTOR), PATIENT, ciphertext_hash(b"rx3"), 10, Category::Medication),
			pallet_records::Error::<Test>::NotAllowed
		);
	});
}

#[test]
fn audit_trail_holds_every_action_in_order() {
	run(|| {
		let med = record(PATIENT, 1, Category::Medication);
		System::set_block_number(2);
		let g = grant(PATIENT, terms(Grantee::Account(DOCTOR), scope(&[Category::Medication]), Rights::READ));
		assert_ok!(Access::amend_expiry(origin(PATIENT), g, START + 2 * HOUR));
		assert_ok!(Access::appoint_guardian(origin(PATIENT), GUARDIAN, GuardianPowers { read: true, manage_grants: true }));
		System::set_block_number(3);
		assert_ok!(Access::open_emergency(origin(ER_DOCTOR), PATIENT, H256::zero(), HOUR));
		assert_ok!(Access::review_emergency(origin(AUDITOR_H2), 0));
		assert_ok!(Access::give_consent(origin(GUARDIAN), PATIENT, 7, CategorySet::all(), START + HOUR));
		assert_ok!(Access::withdraw_consent(origin(PATIENT), PATIENT, 7));
		assert_ok!(Records::amend(origin(PATIENT), med, ciphertext_hash(b"v2"), 10));
		assert_ok!(Access::revoke(origin(GUARDIAN), g));
		assert_ok!(Access::remove_guardian(origin(PATIENT), PATIENT, GUARDIAN));
		assert_ok!(Records::erase(origin(PATIENT), med));

		let trail: Vec<(u64, u64, AuditAction<u64>)> =
			Access::audit_trail(&PATIENT, 0, 100).into_iter().map(|e| (e.at, e.actor, e.action)).collect();
		assert_eq!(
			trail,
			vec![
				(1, PATIENT, AuditAction::RecordRegistered { record: med }),
				(2, PATIENT, AuditAction::GrantAdded { grant: g }),
				(2, PATIENT, AuditAction::GrantExpiryAmended { grant: g, expires_at: START + 2 * HOUR }),
				(2, PATIENT, AuditAction::GuardianAppointed { guardian: GUARDIAN }),
				(3, ER_DOCTOR, AuditAction::EmergencyOpened { emergency: 0 }),
				(3, AUDITOR_H2, AuditAction::EmergencyReviewed { emergency: 0 }),
				(3, GUARDIAN, AuditAction::ConsentGiven { purpose: 7 }),
				(3, PATIENT, AuditAction::ConsentWithdrawn { purpose: 7 }),
				(3, PATIENT, AuditAction::RecordAmended { record: 1, previous: med }),
				(3, GUARDIAN, AuditAction::GrantRevoked { grant: g }),
				(3, PATIENT, AuditAction::GuardianRemoved { guardian: GUARDIAN }),
				(3, PATIENT, AuditAction::RecordErased { root: med }),
			]
		);
		// Paging.
		assert_eq!(Access::audit_trail(&PATIENT, 10, 5).len(), 2);
		assert!(Access::audit_trail(&PATIENT, 12, 5).is_empty());
		assert!(Access::audit_trail(&OTHER_PATIENT, 0, 5).is_empty());
	});
}

#[test]
fn member_node_anchors_receipt_batches() {
	run(|| {
		System::set_block_number(6);
		let root = H256::repeat_byte(8);
		assert_ok!(Access::anchor_receipts(origin(NODE_H2), root, 12));
		assert_eq!(last_event(), RuntimeEvent::Access(Event::ReceiptsAnchored { batch: 0, hospital: 2, root, count: 12 }));
		assert_eq!(
			ReceiptBatchOfId::<Test>::get(0),
			Some(ReceiptBatch { hospital: 2, submitted_by: NODE_H2, root, count: 12, anchored_at: 6 })
		);
		assert_noop!(Access::anchor_receipts(origin(DOCTOR), root, 12), Error::<Test>::NotMemberAccount);
		assert_noop!(Access::anchor_receipts(origin(NODE_H2), root, 0), Error::<Test>::EmptyBatch);
	});
}

#[test]
fn anchored_receipt_verifies_and_forged_one_does_not() {
	use phr_primitives::{
		receipts::{batch_root, inclusion_proof, verify_receipt},
		request::{sign_request, BlobMethod, BlobRequest, BlobSubject, ReadReceipt},
	};
	run(|| {
		let key = ed25519_dalek_key();
		let receipts: Vec<_> = (0..5u64)
			.map(|i| {
				let request = BlobRequest {
					genesis: H256::repeat_byte(1),
					node: b"node-h2".to_vec().try_into().unwrap(),
					method: BlobMethod::Fetch { purpose: Purpose::Treatment },
					account: DOCTOR,
					subject: BlobSubject::Record(i),
					nonce: [i as u8; 16],
					expires_at_ms: START,
				};
				ReadReceipt { request: sign_request(request, &key), basis: Basis::Grant(i), decided_at: H256::zero() }
			})
			.collect();
		let leaves: Vec<H256> = receipts.iter().map(|r| r.receipt_hash()).collect();
		assert_ok!(Access::anchor_receipts(origin(NODE_H2), batch_root(&leaves), 5));
		let batch = ReceiptBatchOfId::<Test>::get(0).unwrap();
		let proof = inclusion_proof(&leaves, 3).unwrap();
		assert!(verify_receipt(&batch.root, batch.count, &receipts[3], &proof));
		let mut forged = receipts[3].clone();
		forged.request.request.account = NURSE;
		assert!(!verify_receipt(&batch.root, batch.count, &forged, &proof));
	});
}

fn ed25519_dalek_key() -> ed25519_dalek::SigningKey {
	ed25519_dalek::SigningKey::from_bytes(&[42; 32])
}

// ---------------------------------------------------------------- grants relayed in batches

fn signed_grant(patient: u64, nonce: u32, valid_until: u64, grantee: u64) -> SignedGrantOf<Test> {
	let terms = terms(Grantee::Account(grantee), scope(&[Category::Allergy]), Rights::READ);
	let genesis = frame_system::Pallet::<Test>::block_hash(0);
	let payload = relayed_grant_payload(&genesis, &patient, &terms, nonce, &valid_until);
	SignedGrant { patient, terms, nonce, valid_until, signature: sp_runtime::testing::TestSignature(patient, payload) }
}

fn batch(items: Vec<SignedGrantOf<Test>>) -> BoundedVec<SignedGrantOf<Test>, ConstU32<8>> {
	items.try_into().expect("at most MaxGrantBatch")
}

fn failures() -> Vec<(u32, u64, DispatchError)> {
	System::events()
		.into_iter()
		.filter_map(|r| match r.event {
			RuntimeEvent::Access(Event::RelayedGrantFailed { index, patient, error }) => Some((index, patient, error)),
			_ => None,
		})
		.collect()
}

#[test]
fn a_relayer_applies_grants_each_signed_by_its_patient() {
	run(|| {
		let items = vec![signed_grant(PATIENT, 0, 5, DOCTOR), signed_grant(OTHER_PATIENT, 0, 5, DOCTOR), signed_grant(PATIENT, 1, 5, NURSE)];
		assert_ok!(Access::grant_batch(origin(NODE_H2), batch(items)));
		assert!(failures().is_empty(), "{:?}", failures());
		assert_eq!(last_event(), RuntimeEvent::Access(Event::GrantBatch { relayer: NODE_H2, granted: 3, failed: 0 }));
		// Each grant is the patient's own, as if the patient had sent `grant`: by the patient, on
		// its trail.
		let grants = Access::grants_of(&PATIENT);
		assert_eq!(grants.len(), 2);
		assert!(grants.iter().all(|(_, g)| g.granted_by == PATIENT));
		assert_eq!((RelayNonce::<Test>::get(PATIENT), RelayNonce::<Test>::get(OTHER_PATIENT)), (2, 1));
		let allergy = record(OTHER_PATIENT, 1, Category::Allergy);
		assert_eq!(decide(DOCTOR, allergy, Right::Read, Purpose::Treatment), Allowed(Basis::Grant(1)));
	});
}

#[test]
fn each_bad_item_is_refused_alone_and_nothing_applies_twice() {
	run(|| {
		System::set_block_number(6);
		let mut forged = signed_grant(PATIENT, 0, 9, DOCTOR);
		forged.signature = sp_runtime::testing::TestSignature(OTHER_PATIENT, forged.signature.1.clone());
		let mut widened = signed_grant(PATIENT, 0, 9, DOCTOR);
		widened.terms.rights = Rights::READ_APPEND; // not what the patient signed
		let good = signed_grant(PATIENT, 0, 9, DOCTOR);
		let items = vec![
			forged,                                   // 0: signed by someone else
			widened,                                  // 1: terms changed after signing
			signed_grant(OTHER_PATIENT, 0, 5, DOCTOR), // 2: its last valid block passed
			signed_grant(OTHER_PATIENT, 3, 9, DOCTOR), // 3: a nonce out of order
			good.clone(),                             // 4: applies
			good,                                     // 5: the same again: a replay
			signed_grant(STRANGER, 0, 9, DOCTOR),     // 6: not a patient
		];
		assert_ok!(Access::grant_batch(origin(NODE_H2), batch(items)));
		let errors: Vec<(u32, DispatchError)> = failures().into_iter().map(|(i, _, e)| (i, e)).collect();
		assert_eq!(
			errors,
			vec![
				(0, Error::<Test>::BadRelaySignature.into()),
				(1, Error::<Test>::BadRelaySignature.into()),
				(2, Error::<Test>::SignedGrantExpired.into()),
				(3, Error::<Test>::BadRelayNonce.into()),
				(5, Error::<Test>::BadRelayNonce.into()),
				(6, Error::<Test>::UnknownPatient.into()),
			]
		);
		assert_eq!(last_event(), RuntimeEvent::Access(Event::GrantBatch { relayer: NODE_H2, granted: 1, failed: 6 }));
		assert_eq!(Access::grants_of(&PATIENT).len(), 1);
		assert!(Access::grants_of(&OTHER_PATIENT).is_empty());
		// A signed grant for another chain does not verify here.
		let mut elsewhere = signed_grant(OTHER_PATIENT, 0, 9, DOCTOR);
		let other_genesis = sp_core::H256::repeat_byte(9);
		elsewhere.signature.1 = relayed_grant_payload(&other_genesis, &OTHER_PATIENT, &elsewhere.terms, 0, &9u64);
		assert_ok!(Access::grant_batch(origin(NODE_H2), batch(vec![elsewhere])));
		assert_eq!(failures().last().map(|f| f.2), Some(Error::<Test>::BadRelaySignature.into()));
	});
}

#[test]
fn a_verified_item_whose_grant_is_refused_uses_its_nonce_and_changes_nothing_else() {
	run(|| {
		// Offboarded: the signature is good, but the patient may no longer widen access.
		offboard(OTHER_PATIENT);
		let trail = Access::audit_trail(&OTHER_PATIENT, 0, 10).len();
		assert_ok!(Access::grant_batch(origin(NODE_H2), batch(vec![signed_grant(OTHER_PATIENT, 0, 5, DOCTOR)])));
		assert_eq!(failures(), vec![(0, OTHER_PATIENT, Error::<Test>::UnknownPatient.into())]);
		assert_eq!(RelayNonce::<Test>::get(OTHER_PATIENT), 1, "used: it never applies later");
		assert_eq!((NextGrantId::<Test>::get(), Access::audit_trail(&OTHER_PATIENT, 0, 10).len()), (0, trail));
		assert_noop!(Access::grant_batch(origin(NODE_H2), batch(vec![])), Error::<Test>::EmptyGrantBatch);
	});
}

#[test]
fn a_batch_is_charged_per_item_for_a_patient_with_the_most_grants() {
	use frame_support::dispatch::GetDispatchInfo;
	run(|| {
		let items = batch(vec![signed_grant(PATIENT, 0, 5, DOCTOR), signed_grant(OTHER_PATIENT, 0, 5, DOCTOR)]);
		let charged = crate::Call::<Test>::grant_batch { items }.get_dispatch_info().call_weight;
		let extra = <() as WeightInfo>::grant(6) - <() as WeightInfo>::grant(0);
		assert_eq!(charged, <() as WeightInfo>::grant_batch(2) + extra * 2);
	});
}
