//! Benchmarks of the consortium pallet, at the bounds: `m` members, `p` open proposals.

use super::*;
use frame_benchmarking::v2::*;
use frame_support::dispatch::DispatchInfo;
use frame_system::RawOrigin;
use sp_runtime::traits::{AsSystemOriginSigner, DispatchTransaction, Dispatchable};

const SEED: u32 = 0;

fn node_id() -> NodePeerId {
	alloc::vec![7u8; 38].try_into().expect("38 bytes fit a peer id")
}

fn code(text: &[u8]) -> AttributeCode {
	text.to_vec().try_into().expect("short code")
}

/// Adds benchmark members until there are `m`; returns every member's first admin, by hospital id.
fn members_with_admins<T: Config>(m: u32) -> Vec<(HospitalId, T::AccountId)> {
	let mut next = 10_000;
	while MemberCount::<T>::get() < m {
		let admins: AdminsOf<T> = alloc::vec![account("admin", next, SEED)].try_into().expect("one admin fits");
		Pallet::<T>::insert_member(next, admins, account("validator", next, SEED), node_id());
		next += 1;
	}
	let mut admins: Vec<_> = Members::<T>::iter().map(|(id, member)| (id, member.admins[0].clone())).collect();
	admins.sort_by_key(|(id, _)| *id);
	admins
}

/// A proposal valid whatever the number of members: new admins for `admin`'s hospital.
fn change_admins_action<T: Config>(admin: &T::AccountId, n: u32) -> ActionOf<T> {
	let hospital = Pallet::<T>::admin_hospital(admin).expect("an admin of a member");
	ConsortiumAction::ChangeAdmins {
		hospital,
		admins: alloc::vec![account("new-admin", n, SEED)].try_into().expect("one admin fits"),
	}
}

/// Opens `p` proposals by `admin`'s hospital, each counting its approval. Written to storage
/// directly: `p` may exceed what one member may propose (`MaxProposalsPerMember`).
fn open_proposals<T: Config>(admin: &T::AccountId, p: u32) {
	let hospital = Pallet::<T>::admin_hospital(admin).expect("an admin of a member");
	let expires_at = frame_system::Pallet::<T>::block_number() + T::ProposalLifetime::get();
	for i in 0..p {
		let id = NextProposalId::<T>::get();
		NextProposalId::<T>::put(id + 1);
		let approvals = alloc::vec![hospital].try_into().expect("one approval fits");
		let action = change_admins_action::<T>(admin, 50_000 + i);
		Proposals::<T>::insert(id, ProposalOf::<T> { proposer: hospital, action, approvals, expires_at });
		ProposalCount::<T>::mutate(|n| *n += 1);
		OpenProposalsOf::<T>::mutate(hospital, |n| *n += 1);
	}
}

#[benchmarks(where
	T: Send + Sync,
	T::RuntimeCall: Dispatchable<Info = DispatchInfo> + From<frame_system::Call<T>>,
	<T::RuntimeCall as Dispatchable>::RuntimeOrigin: AsSystemOriginSigner<T::AccountId> + Clone + From<RawOrigin<T::AccountId>>,
)]
mod benchmarks {
	use super::*;

	/// Proposing a change that does not pass at once, with `p` proposals already open.
	#[benchmark]
	fn propose(m: Linear<2, { T::MaxMembers::get() }>, p: Linear<0, { T::MaxProposals::get() - 1 }>) {
		let admins = members_with_admins::<T>(m);
		// Another member's proposals fill the slots: the proposer itself may still propose.
		open_proposals::<T>(&admins[1].1, p);
		let proposer = admins[0].1.clone();

		let action = change_admins_action::<T>(&proposer, 60_000);

		#[extrinsic_call]
		_(RawOrigin::Signed(proposer), action);

		assert_eq!(ProposalCount::<T>::get(), p + 1);
	}

	/// The approval that passes the removal of a member which approved `p` other open proposals:
	/// the most work an approval can do. At least three members: with two, the other's proposal
	/// passes as it is made.
	#[benchmark]
	fn approve(m: Linear<3, { T::MaxMembers::get() }>, p: Linear<0, { T::MaxProposals::get() - 1 }>) {
		let admins = members_with_admins::<T>(m);
		let members = admins.len() as u32;
		let (victim, victim_admin) = admins[admins.len() - 1].clone();
		open_proposals::<T>(&victim_admin, p);

		let removal = NextProposalId::<T>::get();
		Pallet::<T>::propose(
			RawOrigin::Signed(admins[0].1.clone()).into(),
			ConsortiumAction::RemoveMember { hospital: victim },
		)
		.expect("removing a member of several is valid");
		// The victim's own vote does not count: more than two thirds of the others decide.
		let needed = Pallet::<T>::approvals_needed(members - 1) as usize;
		for (_, admin) in &admins[1..needed - 1] {
			Pallet::<T>::approve(RawOrigin::Signed(admin.clone()).into(), removal).expect("first approval");
		}
		let last = admins[needed - 1].1.clone();

		#[extrinsic_call]
		_(RawOrigin::Signed(last), removal);

		assert!(!Members::<T>::contains_key(victim));
	}

	#[benchmark]
	fn withdraw() {
		let admins = members_with_admins::<T>(2);
		open_proposals::<T>(&admins[0].1, 1);
		let id = NextProposalId::<T>::get() - 1;

		#[extrinsic_call]
		_(RawOrigin::Signed(admins[0].1.clone()), id);

		assert!(!Proposals::<T>::contains_key(id));
	}

	#[benchmark]
	fn prune_expired() {
		let admins = members_with_admins::<T>(2);
		open_proposals::<T>(&admins[0].1, 1);
		let id = NextProposalId::<T>::get() - 1;
		let expires_at = Proposals::<T>::get(id).expect("just opened").expires_at;
		frame_system::Pallet::<T>::set_block_number(expires_at + 1u32.into());

		#[extrinsic_call]
		_(RawOrigin::Signed(admins[0].1.clone()), id);

		assert!(!Proposals::<T>::contains_key(id));
	}

	#[benchmark]
	fn register_staff() {
		let admins = members_with_admins::<T>(1);
		let who: T::AccountId = account("staff", 0, SEED);
		let roles = RoleSet::from_roles(&[Role::Physician, Role::Emergency]);

		#[extrinsic_call]
		_(RawOrigin::Signed(admins[0].1.clone()), who.clone(), roles, code(b"cardiology"), code(b"main-campus"));

		assert!(StaffOf::<T>::contains_key(&who));
	}

	#[benchmark]
	fn remove_staff() {
		let admins = members_with_admins::<T>(1);
		let admin = admins[0].1.clone();
		let who: T::AccountId = account("staff", 0, SEED);
		Pallet::<T>::register_staff(
			RawOrigin::Signed(admin.clone()).into(),
			who.clone(),
			RoleSet::from_roles(&[Role::Nurse]),
			code(b"icu"),
			code(b"main-campus"),
		)
		.expect("registering staff works");

		#[extrinsic_call]
		_(RawOrigin::Signed(admin), who.clone());

		assert!(!StaffOf::<T>::contains_key(&who));
	}

	#[benchmark]
	fn onboard_patient() {
		let admins = members_with_admins::<T>(1);
		let patient: T::AccountId = account("patient", 0, SEED);

		#[extrinsic_call]
		_(RawOrigin::Signed(admins[0].1.clone()), patient.clone());

		assert!(PatientOf::<T>::contains_key(&patient));
	}

	#[benchmark]
	fn offboard_patient() {
		let admins = members_with_admins::<T>(1);
		let admin = admins[0].1.clone();
		let patient: T::AccountId = account("patient", 0, SEED);
		Pallet::<T>::onboard_patient(RawOrigin::Signed(admin.clone()).into(), patient.clone())
			.expect("onboarding works");

		#[extrinsic_call]
		_(RawOrigin::Signed(admin), patient.clone());

		assert!(PatientOf::<T>::get(&patient).is_some_and(|p| p.offboarded.is_some()));
	}

	/// The extension's worst case: a validator account, found by the last of the lookups.
	#[benchmark]
	fn registered_signer() {
		members_with_admins::<T>(1);
		let validator = Pallet::<T>::validators()[0].clone();
		let call: T::RuntimeCall = frame_system::Call::<T>::remark { remark: alloc::vec![] }.into();
		let info = DispatchInfo::default();

		#[block]
		{
			RegisteredSigner::<T>::new()
				.validate_and_prepare(RawOrigin::Signed(validator.clone()).into(), &call, &info, 0, 0)
				.expect("a validator is registered");
		}

		assert_eq!(RateWindowOf::<T>::get(&validator).map(|w| w.used), Some(1));
	}

	#[benchmark]
	fn set_rate_limit() -> Result<(), BenchmarkError> {
		let origin = T::AdminOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;

		#[extrinsic_call]
		_(origin as <T as frame_system::Config>::RuntimeOrigin, 100, 10u32.into());

		assert_eq!(RateLimitSet::<T>::get().map(|l| l.max_per_window), Some(100));
		Ok(())
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(4), crate::mock::Test);
}
