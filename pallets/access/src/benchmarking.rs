//! Benchmarks of the access pallet, at the bounds: `g` live grants of the patient.

use super::*;
use frame_benchmarking::v2::*;
use frame_system::RawOrigin;
use phr_primitives::{AttributeCode, AttributePolicy, HospitalId, PolicyHospitals, Rights, RoleSet, Scope, TimeWindow};

fn code(text: &[u8]) -> AttributeCode {
	text.to_vec().try_into().expect("short code")
}

fn patient<T: Config>() -> T::AccountId {
	let who: T::AccountId = account("patient", 0, 0);
	T::Patients::register_patient_for_benchmark(&who);
	who
}

fn staff<T: Config>(name: &'static str, roles: &[Role]) -> T::AccountId {
	staff_of::<T>(name, 1, roles)
}

fn staff_of<T: Config>(name: &'static str, hospital: HospitalId, roles: &[Role]) -> T::AccountId {
	let who: T::AccountId = account(name, 0, 0);
	let view = StaffView {
		hospital,
		roles: RoleSet::from_roles(roles),
		department: code(b"cardiology"),
		facility: code(b"main-campus"),
	};
	T::Directory::register_staff_for_benchmark(&who, view);
	who
}

fn far_future<T: Config>() -> Moment {
	T::Time::now().saturating_add(365 * 24 * 3_600_000)
}

/// A grant to staff matching a policy on every attribute, whose last condition (the facility)
/// fails: `decide` must evaluate it completely.
fn almost_matching_terms<T: Config>() -> GrantTerms<T::AccountId> {
	GrantTerms {
		grantee: Grantee::Policy(AttributePolicy {
			roles: RoleSet::from_roles(&[Role::Physician]),
			hospitals: PolicyHospitals::Only(alloc::vec![1].try_into().expect("one hospital")),
			departments: alloc::vec![code(b"cardiology")].try_into().expect("one department"),
			facilities: alloc::vec![code(b"main-campus")].try_into().expect("one facility"),
		}),
		scope: Scope { categories: CategorySet::all(), records: Default::default() },
		rights: Rights::READ_APPEND,
		expires_at: far_future::<T>(),
		conditions: Conditions {
			time_window: Some(TimeWindow { start_minute: 0, end_minute: 24 * 60 }),
			facility: Some(code(b"elsewhere")),
		},
	}
}

/// Fills `patient`'s grants up to `g`.
fn grants<T: Config>(patient: &T::AccountId, g: u32) {
	for _ in 0..g {
		Pallet::<T>::grant(RawOrigin::Signed(patient.clone()).into(), patient.clone(), almost_matching_terms::<T>())
			.expect("granting works");
	}
}

#[benchmarks]
mod benchmarks {
	use super::*;

	/// Granting with `g` grants already live.
	#[benchmark]
	fn grant(g: Linear<0, { T::MaxGrantsPerPatient::get() - 1 }>) {
		let patient = patient::<T>();
		grants::<T>(&patient, g);
		let grantee: T::AccountId = account("grantee", 0, 0);
		let terms = GrantTerms { grantee: Grantee::Account(grantee.clone()), ..almost_matching_terms::<T>() };

		#[extrinsic_call]
		_(RawOrigin::Signed(patient.clone()), patient.clone(), terms);

		assert_eq!(GrantsByPatient::<T>::get(&patient).len() as u32, g + 1);
	}

	/// Revoking the last of `g` grants (the index is searched linearly).
	#[benchmark]
	fn revoke(g: Linear<1, { T::MaxGrantsPerPatient::get() }>) {
		let patient = patient::<T>();
		grants::<T>(&patient, g);
		let last = NextGrantId::<T>::get() - 1;

		#[extrinsic_call]
		_(RawOrigin::Signed(patient.clone()), last);

		assert_eq!(GrantsByPatient::<T>::get(&patient).len() as u32, g - 1);
	}

	#[benchmark]
	fn amend_expiry() {
		let patient = patient::<T>();
		grants::<T>(&patient, 1);
		let expires_at = far_future::<T>() + 1;

		#[extrinsic_call]
		_(RawOrigin::Signed(patient.clone()), 0, expires_at);

		assert_eq!(GrantOf::<T>::get(0).map(|g| g.terms.expires_at), Some(expires_at));
	}

	#[benchmark]
	fn appoint_guardian() {
		let patient = patient::<T>();
		let guardian = staff::<T>("guardian", &[Role::Nurse]);

		#[extrinsic_call]
		_(RawOrigin::Signed(patient.clone()), guardian.clone(), GuardianPowers { read: true, manage_grants: true });

		assert!(GuardianOf::<T>::contains_key(&patient, &guardian));
	}

	#[benchmark]
	fn remove_guardian() {
		let patient = patient::<T>();
		let guardian = staff::<T>("guardian", &[Role::Nurse]);
		Pallet::<T>::appoint_guardian(RawOrigin::Signed(patient.clone()).into(), guardian.clone(), GuardianPowers { read: true, manage_grants: false })
			.expect("appointing works");

		#[extrinsic_call]
		_(RawOrigin::Signed(guardian.clone()), patient.clone(), guardian.clone());

		assert!(!GuardianOf::<T>::contains_key(&patient, &guardian));
	}

	#[benchmark]
	fn open_emergency() {
		let patient = patient::<T>();
		let opener = staff::<T>("er-doctor", &[Role::Physician, Role::Emergency]);
		let duration = T::MaxEmergencyDuration::get();

		#[extrinsic_call]
		_(RawOrigin::Signed(opener.clone()), patient.clone(), H256::repeat_byte(1), duration);

		assert!(LatestEmergency::<T>::contains_key(&opener, &patient));
	}

	#[benchmark]
	fn review_emergency() {
		let patient = patient::<T>();
		let opener = staff::<T>("er-doctor", &[Role::Physician, Role::Emergency]);
		let auditor = staff_of::<T>("auditor", 2, &[Role::Auditor]);
		Pallet::<T>::open_emergency(RawOrigin::Signed(opener).into(), patient, H256::repeat_byte(1), 1_000)
			.expect("opening works");

		#[extrinsic_call]
		_(RawOrigin::Signed(auditor), 0);

		assert!(EmergencyOfId::<T>::get(0).and_then(|e| e.reviewed_by).is_some());
	}

	#[benchmark]
	fn give_consent() {
		let patient = patient::<T>();

		#[extrinsic_call]
		_(RawOrigin::Signed(patient.clone()), patient.clone(), 7, CategorySet::all(), far_future::<T>());

		assert!(ConsentOf::<T>::contains_key(&patient, 7));
	}

	#[benchmark]
	fn withdraw_consent() {
		let patient = patient::<T>();
		Pallet::<T>::give_consent(RawOrigin::Signed(patient.clone()).into(), patient.clone(), 7, CategorySet::all(), far_future::<T>())
			.expect("consenting works");

		#[extrinsic_call]
		_(RawOrigin::Signed(patient.clone()), patient.clone(), 7);

		assert!(!ConsentOf::<T>::contains_key(&patient, 7));
	}

	#[benchmark]
	fn anchor_receipts() {
		let node = T::Directory::member_account_for_benchmark();

		#[extrinsic_call]
		_(RawOrigin::Signed(node), H256::repeat_byte(3), 1_000);

		assert!(ReceiptBatchOfId::<T>::contains_key(0));
	}

	/// `decide` for staff over `g` grants that each match up to their last condition.
	#[benchmark]
	fn decide(g: Linear<1, { T::MaxGrantsPerPatient::get() }>) {
		let patient = patient::<T>();
		let reader = staff::<T>("physician", &[Role::Physician]);
		let record = T::Records::record_of_category_for_benchmark(&patient, Category::Condition);
		grants::<T>(&patient, g);
		let now = T::Time::now();
		let decision;

		#[block]
		{
			decision = Pallet::<T>::decide(&reader, record, Right::Read, Purpose::Treatment, now);
		}

		assert!(matches!(decision, Decision::Denied(Denial::WrongFacility(_))));
	}

	/// One block's sweep of expired grants over `n` live grants, none expired: what a chain whose
	/// grants are live pays in every block.
	#[benchmark]
	fn sweep_live(n: Linear<0, { T::MaxGrantsPerPatient::get().min(GRANTS_SWEPT_PER_BLOCK) }>) {
		let patient = patient::<T>();
		grants::<T>(&patient, n);

		#[block]
		{
			Pallet::<T>::sweep_expired_grants(Weight::MAX);
		}

		assert_eq!(GrantsByPatient::<T>::get(&patient).len() as u32, n);
	}

	/// One block's sweep that drops `n` expired grants, each with its indexes and a trail entry.
	#[benchmark]
	fn sweep_expired(n: Linear<0, { T::MaxGrantsPerPatient::get().min(GRANTS_SWEPT_PER_BLOCK) }>) {
		let patient = patient::<T>();
		let grantee: T::AccountId = account("grantee", 0, 0);
		for _ in 0..n {
			let terms = GrantTerms { grantee: Grantee::Account(grantee.clone()), ..almost_matching_terms::<T>() };
			Pallet::<T>::grant(RawOrigin::Signed(patient.clone()).into(), patient.clone(), terms).expect("granting works");
		}
		for id in GrantsByPatient::<T>::get(&patient) {
			GrantOf::<T>::mutate(id, |stored| {
				if let Some(stored) = stored {
					stored.terms.expires_at = 0;
				}
			});
		}

		#[block]
		{
			Pallet::<T>::sweep_expired_grants(Weight::MAX);
		}

		assert!(GrantsByPatient::<T>::get(&patient).is_empty());
	}

	/// `n` grants signed by `n` patients (each its first), relayed in one batch: per item a
	/// signature check, the nonce, and the grant.
	#[benchmark]
	fn grant_batch(n: Linear<1, { T::MaxGrantBatch::get() }>) {
		let genesis = frame_system::Pallet::<T>::block_hash(BlockNumberFor::<T>::zero());
		let valid_until = frame_system::Pallet::<T>::block_number() + 10u32.into();
		let grantee: T::AccountId = account("grantee", 0, 0);
		let items: Vec<SignedGrantOf<T>> = (0..n)
			.map(|i| {
				let patient = T::BenchmarkHelper::signer(i);
				T::Patients::register_patient_for_benchmark(&patient);
				let terms = GrantTerms { grantee: Grantee::Account(grantee.clone()), ..almost_matching_terms::<T>() };
				let payload = relayed_grant_payload(&genesis, &patient, &terms, 0, &valid_until);
				let signature = T::BenchmarkHelper::sign(&patient, &payload);
				SignedGrant { patient, terms, nonce: 0, valid_until, signature }
			})
			.collect();
		let relayer = staff::<T>("relayer", &[Role::Nurse]);
		let items: BoundedVec<_, T::MaxGrantBatch> = items.try_into().expect("at most MaxGrantBatch");

		#[extrinsic_call]
		_(RawOrigin::Signed(relayer), items);

		assert_eq!(NextGrantId::<T>::get() as u32, n);
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
