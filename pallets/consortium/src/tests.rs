//! Unit tests of the consortium pallet. Every case ends with `do_try_state` (see `mock::run`).

use crate::{mock::*, *};
use codec::Encode;
use frame_support::{assert_noop, assert_ok, dispatch::DispatchInfo, BoundedVec};
use pallet_session::SessionManager;
use phr_primitives::tx_error::UNREGISTERED_SIGNER;
use sp_runtime::{
	traits::{DispatchTransaction, TransactionExtension},
	transaction_validity::{InvalidTransaction, TransactionLongevity, TransactionSource, TransactionValidityError},
	DispatchError,
};

fn origin(who: u64) -> RuntimeOrigin {
	RuntimeOrigin::signed(who)
}

fn admins(list: &[u64]) -> BoundedVec<u64, ConstU32<3>> {
	list.to_vec().try_into().unwrap()
}

fn peer(h: u8) -> NodePeerId {
	node(h).try_into().unwrap()
}

fn add_h5() -> ActionOf<Test> {
	ConsortiumAction::AddMember { hospital: 5, admins: admins(&[50]), validator: 500, node: peer(5) }
}

fn last_event() -> RuntimeEvent {
	System::events().pop().expect("an event was deposited").event
}

fn has_event(event: Event<Test>) -> bool {
	System::events().iter().any(|record| record.event == RuntimeEvent::Consortium(event.clone()))
}

use frame_support::traits::ConstU32;

// ---------------------------------------------------------------- genesis and thresholds

#[test]
fn genesis_registers_members_staff_and_patients() {
	run(4, || {
		assert_eq!(MemberCount::<Test>::get(), 4);
		assert_eq!(Consortium::validators(), vec![100, 200, 300, 400]);
		assert_eq!(Consortium::member_nodes(), vec![peer(1), peer(2), peer(3), peer(4)]);
		assert_eq!(Consortium::admin_hospital(&H1_ADMIN_2).ok(), Some(1));
		for who in [H1_ADMIN, H1_ADMIN_2, H4_ADMIN, 100, 400, PATIENT, STAFF] {
			assert!(Consortium::is_registered(&who), "{who} should be registered");
			assert!(System::providers(&who) >= 1, "{who} needs a provider to hold a nonce");
		}
		assert!(!Consortium::is_registered(&STRANGER));
		assert_eq!(
			Consortium::roles_of(&STAFF),
			Some((1, RoleSet::from_roles(&[Role::Physician])))
		);
		assert_eq!(Consortium::roles_of(&H2_ADMIN), Some((2, RoleSet::from_roles(&[Role::Admin]))));
		assert_eq!(Consortium::roles_of(&PATIENT), None);
	});
}

#[test]
fn approvals_needed_is_strictly_more_than_two_thirds() {
	run(1, || {
		let table = [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (6, 5), (7, 5), (9, 7), (10, 7)];
		for (members, needed) in table {
			assert_eq!(Consortium::approvals_needed(members), needed, "{members} members");
		}
	});
}

// ---------------------------------------------------------------- proposals

#[test]
fn propose_by_non_admin_fails() {
	run(4, || {
		for who in [STRANGER, PATIENT, STAFF, 100] {
			assert_noop!(Consortium::propose(origin(who), add_h5()), Error::<Test>::NotAdmin);
		}
	});
}

#[test]
fn proposal_below_threshold_does_not_execute() {
	run(4, || {
		assert_ok!(Consortium::propose(origin(H1_ADMIN), add_h5()));
		assert!(has_event(Event::Proposed { proposal: 0, proposer: 1, by: H1_ADMIN, action: add_h5() }));
		assert_ok!(Consortium::approve(origin(H2_ADMIN), 0));
		assert_eq!(
			last_event(),
			RuntimeEvent::Consortium(Event::Approved { proposal: 0, hospital: 2, by: H2_ADMIN, approvals: 2, needed: 3 })
		);
		assert!(!Members::<Test>::contains_key(5));
		assert_eq!(Proposals::<Test>::get(0).unwrap().approvals.into_inner(), vec![1, 2]);
		assert_eq!(ProposalCount::<Test>::get(), 1);
	});
}

#[test]
fn add_member_executes_at_threshold() {
	run(4, || {
		System::set_block_number(7);
		assert_ok!(Consortium::propose(origin(H1_ADMIN), add_h5()));
		assert_ok!(Consortium::approve(origin(H2_ADMIN), 0));
		ValidatorsChanged::<Test>::kill();
		assert_ok!(Consortium::approve(origin(H3_ADMIN), 0));
		assert!(has_event(Event::MemberAdded { hospital: 5, validator: 500, node: peer(5) }));
		assert_eq!(last_event(), RuntimeEvent::Consortium(Event::Executed { proposal: 0, result: Ok(()) }));
		let member = Members::<Test>::get(5).unwrap();
		assert_eq!((member.admins.into_inner(), member.validator, member.joined_at), (vec![50], 500, 7));
		assert_eq!(MemberCount::<Test>::get(), 5);
		assert_eq!(Consortium::admin_hospital(&50).ok(), Some(5));
		assert!(Consortium::is_registered(&500));
		assert!(ValidatorsChanged::<Test>::get());
		assert!(Proposals::<Test>::get(0).is_none());
		assert_eq!(ProposalCount::<Test>::get(), 0);
		// Approving a proposal that already executed is an unknown proposal.
		assert_noop!(Consortium::approve(origin(H4_ADMIN), 0), Error::<Test>::UnknownProposal);
	});
}

#[test]
fn single_member_consortium_executes_its_own_proposal_at_once() {
	run(1, || {
		assert_ok!(Consortium::propose(origin(H1_ADMIN), add_h5()));
		assert_eq!(last_event(), RuntimeEvent::Consortium(Event::Executed { proposal: 0, result: Ok(()) }));
		assert_eq!(MemberCount::<Test>::get(), 2);
	});
}

#[test]
fn approving_twice_fails() {
	run(4, || {
		assert_ok!(Consortium::propose(origin(H1_ADMIN), add_h5()));
		// The proposer's approval was counted, also for the hospital's other admin.
		assert_noop!(Consortium::approve(origin(H1_ADMIN), 0), Error::<Test>::AlreadyApproved);
		assert_noop!(Consortium::approve(origin(H1_ADMIN_2), 0), Error::<Test>::AlreadyApproved);
		assert_ok!(Consortium::approve(origin(H2_ADMIN), 0));
		assert_noop!(Consortium::approve(origin(H2_ADMIN), 0), Error::<Test>::AlreadyApproved);
	});
}

#[test]
fn approve_by_non_admin_or_of_unknown_proposal_fails() {
	run(4, || {
		assert_ok!(Consortium::propose(origin(H1_ADMIN), add_h5()));
		assert_noop!(Consortium::approve(origin(STRANGER), 0), Error::<Test>::NotAdmin);
		assert_noop!(Consortium::approve(origin(H2_ADMIN), 42), Error::<Test>::UnknownProposal);
	});
}

#[test]
fn expired_proposal_cannot_be_approved_and_is_pruned() {
	run(4, || {
		assert_ok!(Consortium::propose(origin(H1_ADMIN), add_h5()));
		assert_noop!(Consortium::prune_expired(origin(PATIENT), 0), Error::<Test>::ProposalNotExpired);
		System::set_block_number(101);
		assert_ok!(Consortium::approve(origin(H2_ADMIN), 0)); // block 101 is the last one
		System::set_block_number(102);
		assert_noop!(Consortium::approve(origin(H3_ADMIN), 0), Error::<Test>::ProposalExpired);
		assert_ok!(Consortium::prune_expired(origin(PATIENT), 0));
		assert_eq!(last_event(), RuntimeEvent::Consortium(Event::Expired { proposal: 0 }));
		assert_eq!(ProposalCount::<Test>::get(), 0);
		assert_noop!(Consortium::prune_expired(origin(PATIENT), 0), Error::<Test>::UnknownProposal);
	});
}

#[test]
fn only_the_proposing_hospital_may_withdraw() {
	run(4, || {
		assert_ok!(Consortium::propose(origin(H1_ADMIN), add_h5()));
		assert_noop!(Consortium::withdraw(origin(H2_ADMIN), 0), Error::<Test>::NotProposer);
		assert_noop!(Consortium::withdraw(origin(PATIENT), 0), Error::<Test>::NotAdmin);
		assert_noop!(Consortium::withdraw(origin(H1_ADMIN), 9), Error::<Test>::UnknownProposal);
		assert_ok!(Consortium::withdraw(origin(H1_ADMIN_2), 0));
		assert_eq!(last_event(), RuntimeEvent::Consortium(Event::Withdrawn { proposal: 0, by: H1_ADMIN_2 }));
		assert!(Proposals::<Test>::get(0).is_none());
	});
}

#[test]
fn open_proposals_are_bounded_in_all_and_per_member() {
	run(4, || {
		// The mock allows two open proposals per member and four in all.
		for _ in 0..2 {
			assert_ok!(Consortium::propose(origin(H1_ADMIN), add_h5()));
		}
		assert_noop!(Consortium::propose(origin(H1_ADMIN_2), add_h5()), Error::<Test>::TooManyProposalsOfMember);
		assert_eq!(OpenProposalsOf::<Test>::get(1), 2);
		// One member cannot fill every slot: the others can still propose (H1's removal, say).
		assert_ok!(Consortium::propose(origin(H2_ADMIN), ConsortiumAction::RemoveMember { hospital: 1 }));
		assert_ok!(Consortium::propose(origin(H3_ADMIN), add_h5()));
		assert_noop!(Consortium::propose(origin(H4_ADMIN), add_h5()), Error::<Test>::TooManyProposals);
		// A withdrawn (or passed, or pruned) proposal frees its member's slot.
		assert_ok!(Consortium::withdraw(origin(H1_ADMIN), 0));
		assert_eq!(OpenProposalsOf::<Test>::get(1), 1);
		assert_ok!(Consortium::propose(origin(H1_ADMIN), add_h5()));
	});
}

#[test]
fn a_member_cannot_block_its_own_removal() {
	run(3, || {
		// Three members: more than two thirds of the members would be all three. A removal is
		// decided by the two others; H3's own approval neither counts nor is needed.
		let remove_h3 = ConsortiumAction::RemoveMember { hospital: 3 };
		assert_ok!(Consortium::propose(origin(H3_ADMIN), remove_h3.clone()));
		assert_ok!(Consortium::approve(origin(H1_ADMIN), 0));
		assert!(Members::<Test>::contains_key(3), "H3's approval does not count for its removal");
		assert_ok!(Consortium::approve(origin(H2_ADMIN), 0));
		assert!(!Members::<Test>::contains_key(3));
		// Any other proposal still needs more than two thirds of all members.
		assert_ok!(Consortium::propose(origin(H1_ADMIN), add_h5()));
		assert!(!Members::<Test>::contains_key(5), "one of two members is not more than two thirds");
		assert_ok!(Consortium::approve(origin(H2_ADMIN), 1));
		assert!(Members::<Test>::contains_key(5));
	});
}

#[test]
fn a_runtime_upgrade_is_authorized_by_vote_and_applied_by_anyone() {
	run(4, || {
		let code = b"not really a runtime".to_vec();
		let code_hash = sp_io::hashing::blake2_256(&code);
		let authorized = || {
			System::events().iter().any(|r| {
				r.event ==
					RuntimeEvent::System(frame_system::Event::UpgradeAuthorized {
						code_hash: sp_core::H256(code_hash),
						check_version: true,
					})
			})
		};
		let id = NextProposalId::<Test>::get();
		assert_ok!(Consortium::propose(origin(H1_ADMIN), ConsortiumAction::AuthorizeUpgrade { code_hash }));
		assert_ok!(Consortium::approve(origin(H2_ADMIN), id));
		assert!(!authorized(), "two of four do not authorize");
		assert_ok!(Consortium::approve(origin(H3_ADMIN), id));
		assert!(has_event(Event::Executed { proposal: id, result: Ok(()) }));
		assert!(authorized(), "authorized by the vote, with the version check");
		// Only the blob with that hash can be applied, by anyone; the version check then runs.
		assert_noop!(
			System::apply_authorized_upgrade(RuntimeOrigin::none(), b"another blob".to_vec()),
			frame_system::Error::<Test>::Unauthorized
		);
	});
}

fn dispatch(call: RuntimeCall) -> ActionOf<Test> {
	ConsortiumAction::Dispatch { call: call.encode().try_into().expect("a small call") }
}

fn set_rate_limit(max_per_window: u32, window_blocks: u64) -> RuntimeCall {
	RuntimeCall::Consortium(crate::Call::set_rate_limit { max_per_window, window_blocks })
}

#[test]
fn a_passed_proposal_dispatches_a_privileged_call_with_the_consortium_origin() {
	run(4, || {
		// Nobody else has that origin: not an admin, not root.
		assert_noop!(Consortium::set_rate_limit(origin(H1_ADMIN), 5, 20), DispatchError::BadOrigin);
		assert_noop!(Consortium::set_rate_limit(RuntimeOrigin::root(), 5, 20), DispatchError::BadOrigin);

		let id = NextProposalId::<Test>::get();
		assert_ok!(Consortium::propose(origin(H1_ADMIN), dispatch(set_rate_limit(5, 20))));
		assert_ok!(Consortium::approve(origin(H2_ADMIN), id));
		assert_eq!(Consortium::rate_limit(), RateLimit { max_per_window: 3, window_blocks: 10 }, "two of four decide nothing");
		let passed = Consortium::approve(origin(H3_ADMIN), id).expect("the third approval");
		assert!(has_event(Event::Executed { proposal: id, result: Ok(()) }));
		assert!(has_event(Event::RateLimitChanged { max_per_window: 5, window_blocks: 20 }));
		assert_eq!(Consortium::rate_limit(), RateLimit { max_per_window: 5, window_blocks: 20 });
		// The approval that passed it paid for the call it dispatched, and no more.
		let approve = <() as WeightInfo>::approve(8, 4);
		assert_eq!(passed.actual_weight, Some(approve + <() as WeightInfo>::set_rate_limit()));

		// The pool's rate window follows: five extrinsics per window now.
		for _ in 0..5 {
			assert_eq!(include(PATIENT), Ok(()));
		}
		assert_eq!(include(PATIENT), Err(InvalidTransaction::ExhaustsResources.into()));
	});
}

#[test]
fn a_dispatched_call_that_fails_changes_nothing_and_is_reported() {
	run(4, || {
		// A zero-length window is refused by the call itself, after the vote.
		let id = pass(dispatch(set_rate_limit(5, 0)), &[H1_ADMIN, H2_ADMIN, H3_ADMIN]);
		assert!(has_event(Event::Executed { proposal: id, result: Err(Error::<Test>::InvalidRateLimit.into()) }));
		assert_eq!(RateLimitSet::<Test>::get(), None);
		// A call that needs a signed origin gets the consortium's, which is not one.
		let id = pass(dispatch(RuntimeCall::Consortium(crate::Call::prune_expired { proposal: 0 })), &[H1_ADMIN, H2_ADMIN, H3_ADMIN]);
		assert!(has_event(Event::Executed { proposal: id, result: Err(DispatchError::BadOrigin) }));
		assert!(!Proposals::<Test>::contains_key(id));
	});
}

#[test]
fn a_proposal_must_carry_a_call_that_decodes_and_fits_the_weight_bound() {
	run(4, || {
		let garbage: EncodedCall = vec![0xff, 0x00, 0x13].try_into().unwrap();
		assert_noop!(
			Consortium::propose(origin(H1_ADMIN), ConsortiumAction::Dispatch { call: garbage }),
			Error::<Test>::UndecodableCall
		);
		// A call with trailing bytes is not the call the members read.
		let mut trailing = set_rate_limit(5, 20).encode();
		trailing.push(0);
		assert_noop!(
			Consortium::propose(origin(H1_ADMIN), ConsortiumAction::Dispatch { call: trailing.try_into().unwrap() }),
			Error::<Test>::UndecodableCall
		);
		// A call heavier than the bound is refused when proposed...
		let weight = <() as WeightInfo>::set_rate_limit();
		MaxDispatchWeight::set(weight.saturating_sub(frame_support::weights::Weight::from_parts(1, 0)));
		assert_noop!(Consortium::propose(origin(H1_ADMIN), dispatch(set_rate_limit(5, 20))), Error::<Test>::CallTooHeavy);
		// ...and when it passes, if the bound came down in between: it fails, nothing dispatched.
		MaxDispatchWeight::set(weight);
		let id = NextProposalId::<Test>::get();
		assert_ok!(Consortium::propose(origin(H1_ADMIN), dispatch(set_rate_limit(5, 20))));
		assert_ok!(Consortium::approve(origin(H2_ADMIN), id));
		MaxDispatchWeight::set(weight.saturating_sub(frame_support::weights::Weight::from_parts(1, 0)));
		assert_ok!(Consortium::approve(origin(H3_ADMIN), id));
		assert!(has_event(Event::Executed { proposal: id, result: Err(Error::<Test>::CallTooHeavy.into()) }));
		assert_eq!(RateLimitSet::<Test>::get(), None);
	});
}

#[test]
fn invalid_add_member_proposals_fail() {
	run(4, || {
		let add = |hospital, admin_list: &[u64], validator, node: Vec<u8>| ConsortiumAction::AddMember {
			hospital,
			admins: admins(admin_list),
			validator,
			node: node.try_into().unwrap(),
		};
		let cases = [
			(add(2, &[50], 500, node(5)), Error::<Test>::HospitalExists),
			(add(5, &[], 500, node(5)), Error::<Test>::NoAdmins),
			(add(5, &[50, 50], 500, node(5)), Error::<Test>::DuplicateAdmin),
			(add(5, &[H2_ADMIN], 500, node(5)), Error::<Test>::AdminOfAnotherMember),
			(add(5, &[50], 200, node(5)), Error::<Test>::ValidatorInUse),
			(add(5, &[50], 500, vec![]), Error::<Test>::EmptyNodeId),
		];
		for (action, error) in cases {
			assert_noop!(Consortium::propose(origin(H1_ADMIN), action), error);
		}
	});
}

#[test]
fn members_are_bounded() {
	run(8, || {
		// The mock allows eight members: a ninth cannot even be proposed.
		let nine = ConsortiumAction::AddMember { hospital: 9, admins: admins(&[90]), validator: 900, node: peer(9) };
		assert_noop!(Consortium::propose(origin(H1_ADMIN), nine), Error::<Test>::TooManyMembers);
		// Once one leaves, there is room again.
		// Five of the seven others (more than two thirds of them; H8's own vote does not count).
		pass(ConsortiumAction::RemoveMember { hospital: 8 }, &[H1_ADMIN, H2_ADMIN, H3_ADMIN, H4_ADMIN, 50]);
		assert_eq!(MemberCount::<Test>::get(), 7);
		let nine = ConsortiumAction::AddMember { hospital: 9, admins: admins(&[90]), validator: 900, node: peer(9) };
		assert_ok!(Consortium::propose(origin(H1_ADMIN), nine));
	});
}

fn pass(action: ActionOf<Test>, approvers: &[u64]) -> ProposalId {
	let id = NextProposalId::<Test>::get();
	assert_ok!(Consortium::propose(origin(approvers[0]), action));
	for admin in &approvers[1..] {
		assert_ok!(Consortium::approve(origin(*admin), id));
	}
	id
}

#[test]
fn remove_member_unregisters_its_admins_validator_and_staff() {
	run(4, || {
		assert_ok!(Consortium::register_staff(
			origin(H4_ADMIN), 4001, RoleSet::from_roles(&[Role::Nurse]),
			b"icu".to_vec().try_into().unwrap(), b"H4".to_vec().try_into().unwrap()
		));
		let id = pass(ConsortiumAction::RemoveMember { hospital: 4 }, &[H1_ADMIN, H2_ADMIN, H3_ADMIN]);
		assert!(has_event(Event::MemberRemoved { hospital: 4 }));
		assert!(has_event(Event::Executed { proposal: id, result: Ok(()) }));
		assert_eq!(MemberCount::<Test>::get(), 3);
		assert_eq!(Consortium::validators(), vec![100, 200, 300]);
		assert_noop!(Consortium::propose(origin(H4_ADMIN), add_h5()), Error::<Test>::NotAdmin);
		for who in [H4_ADMIN, 400, 4001] {
			assert!(!Consortium::is_registered(&who), "{who} should have lost its registration");
		}
		assert_eq!(System::providers(&H4_ADMIN), 0);
		// Patients onboarded anywhere stay registered.
		assert!(Consortium::is_registered(&PATIENT));
	});
}

#[test]
fn removed_member_loses_its_vote() {
	run(4, || {
		// H4 approves adding H5, then H4 is voted out before H5's proposal passes.
		assert_ok!(Consortium::propose(origin(H1_ADMIN), add_h5()));
		assert_ok!(Consortium::approve(origin(H4_ADMIN), 0));
		pass(ConsortiumAction::RemoveMember { hospital: 4 }, &[H1_ADMIN, H2_ADMIN, H3_ADMIN]);
		assert_eq!(Proposals::<Test>::get(0).unwrap().approvals.into_inner(), vec![1]);
		// Three members now: H5 needs all three, so H2's approval alone does not pass it.
		assert_ok!(Consortium::approve(origin(H2_ADMIN), 0));
		assert!(!Members::<Test>::contains_key(5));
		assert_ok!(Consortium::approve(origin(H3_ADMIN), 0));
		assert!(Members::<Test>::contains_key(5));
	});
}

#[test]
fn removing_the_last_member_fails() {
	run(1, || {
		assert_noop!(
			Consortium::propose(origin(H1_ADMIN), ConsortiumAction::RemoveMember { hospital: 1 }),
			Error::<Test>::LastMember
		);
		assert_noop!(
			Consortium::propose(origin(H1_ADMIN), ConsortiumAction::RemoveMember { hospital: 7 }),
			Error::<Test>::UnknownHospital
		);
	});
}

#[test]
fn stale_proposal_fails_when_it_passes_and_is_removed() {
	run(4, || {
		let remove_h4 = ConsortiumAction::RemoveMember { hospital: 4 };
		assert_ok!(Consortium::propose(origin(H1_ADMIN), remove_h4.clone()));
		assert_ok!(Consortium::propose(origin(H2_ADMIN), remove_h4));
		assert_ok!(Consortium::approve(origin(H2_ADMIN), 0));
		assert_ok!(Consortium::approve(origin(H3_ADMIN), 0));
		assert!(!Members::<Test>::contains_key(4));
		assert_ok!(Consortium::approve(origin(H1_ADMIN), 1));
		assert_ok!(Consortium::approve(origin(H3_ADMIN), 1));
		assert_eq!(
			last_event(),
			RuntimeEvent::Consortium(Event::Executed {
				proposal: 1,
				result: Err(DispatchError::from(Error::<Test>::UnknownHospital))
			})
		);
		assert_eq!(ProposalCount::<Test>::get(), 0);
		assert_eq!(MemberCount::<Test>::get(), 3);
	});
}

#[test]
fn change_validator_moves_registration_and_replans_the_session() {
	run(4, || {
		assert_eq!(Consortium::new_session_genesis(0), Some(vec![100, 200, 300, 400]));
		assert_eq!(Consortium::new_session(1), None);
		let change = ConsortiumAction::ChangeValidator { hospital: 2, validator: 222, node: peer(22) };
		pass(change, &[H1_ADMIN, H2_ADMIN, H3_ADMIN]);
		assert!(has_event(Event::ValidatorChanged { hospital: 2, validator: 222, node: peer(22) }));
		assert!(!Consortium::is_registered(&200));
		assert!(Consortium::is_registered(&222));
		assert_eq!(Consortium::member_nodes()[1], peer(22));
		assert_eq!(Consortium::new_session(2), Some(vec![100, 222, 300, 400]));
		assert_eq!(last_event(), RuntimeEvent::Consortium(Event::ValidatorSetPlanned { session: 2, validators: 4 }));
		assert_eq!(Consortium::new_session(3), None);
	});
}

#[test]
fn a_validator_whose_keys_come_after_the_vote_enters_at_the_next_session() {
	run(4, || {
		assert_eq!(Consortium::new_session_genesis(0), Some(vec![100, 200, 300, 400]));
		set_has_keys(500, false);
		pass(add_h5(), &[H1_ADMIN, H2_ADMIN, H3_ADMIN]);
		// Planned at once (pallet-session leaves 500 out while it has no keys) ...
		assert_eq!(Consortium::new_session(1), Some(vec![100, 200, 300, 400, 500]));
		assert_eq!(Consortium::new_session(2), None);
		// ... and handed over again once its keys are registered; then no more changes.
		set_has_keys(500, true);
		assert_eq!(Consortium::new_session(3), Some(vec![100, 200, 300, 400, 500]));
		assert_eq!(Consortium::new_session(4), None);
	});
}

#[test]
fn change_validator_to_another_members_validator_fails() {
	run(4, || {
		let change = ConsortiumAction::ChangeValidator { hospital: 2, validator: 300, node: peer(2) };
		assert_noop!(Consortium::propose(origin(H1_ADMIN), change), Error::<Test>::ValidatorInUse);
		let unknown = ConsortiumAction::ChangeValidator { hospital: 9, validator: 900, node: peer(9) };
		assert_noop!(Consortium::propose(origin(H1_ADMIN), unknown), Error::<Test>::UnknownHospital);
	});
}

#[test]
fn change_admins_replaces_who_may_act_for_the_hospital() {
	run(4, || {
		let change = ConsortiumAction::ChangeAdmins { hospital: 1, admins: admins(&[H1_ADMIN_2, 12]) };
		pass(change, &[H2_ADMIN, H3_ADMIN, H4_ADMIN]);
		assert!(has_event(Event::AdminsChanged { hospital: 1, admins: admins(&[H1_ADMIN_2, 12]) }));
		assert_noop!(Consortium::propose(origin(H1_ADMIN), add_h5()), Error::<Test>::NotAdmin);
		assert_eq!(Consortium::admin_hospital(&12).ok(), Some(1));
		assert_eq!(Consortium::admin_hospital(&H1_ADMIN_2).ok(), Some(1));
		assert!(!Consortium::is_registered(&H1_ADMIN));
		let stolen = ConsortiumAction::ChangeAdmins { hospital: 1, admins: admins(&[H2_ADMIN]) };
		assert_noop!(Consortium::propose(origin(12), stolen), Error::<Test>::AdminOfAnotherMember);
	});
}

// ---------------------------------------------------------------- staff

fn code(s: &str) -> AttributeCode {
	s.as_bytes().to_vec().try_into().unwrap()
}

#[test]
fn admin_registers_and_updates_staff() {
	run(4, || {
		let roles = RoleSet::from_roles(&[Role::Physician, Role::Emergency]);
		assert_ok!(Consortium::register_staff(origin(H2_ADMIN), 2001, roles, code("cardiology"), code("H2")));
		assert_eq!(
			last_event(),
			RuntimeEvent::Consortium(Event::StaffRegistered {
				who: 2001, hospital: 2, roles, department: code("cardiology"), facility: code("H2")
			})
		);
		assert!(Consortium::is_registered(&2001));
		assert_eq!(Consortium::roles_of(&2001), Some((2, roles)));
		let nurse = RoleSet::from_roles(&[Role::Nurse]);
		assert_ok!(Consortium::register_staff(origin(H2_ADMIN), 2001, nurse, code("icu"), code("H2")));
		assert_eq!(
			last_event(),
			RuntimeEvent::Consortium(Event::StaffUpdated {
				who: 2001, hospital: 2, roles: nurse, department: code("icu"), facility: code("H2")
			})
		);
		assert_eq!(System::providers(&2001), 1);
	});
}

#[test]
fn staff_pages_list_every_member_staff_once() {
	run(4, || {
		let physician = RoleSet::from_roles(&[Role::Physician]);
		for (who, admin) in [(2001, H2_ADMIN), (2002, H2_ADMIN), (3001, H3_ADMIN)] {
			assert_ok!(Consortium::register_staff(origin(admin), who, physician, code("cardiology"), code("F")));
		}
		let all = Consortium::staff_page(None, 10);
		let mut accounts: Vec<u64> = all.iter().map(|(who, _)| *who).collect();
		accounts.sort();
		assert_eq!(accounts, vec![STAFF, 2001, 2002, 3001], "the genesis staff member too");
		let (who, view) = all.iter().find(|(who, _)| *who == 3001).unwrap();
		assert_eq!((*who, view.hospital, view.roles, view.department.clone()), (3001, 3, physician, code("cardiology")));
		// Paging: two, then the rest after the last one seen.
		let first = Consortium::staff_page(None, 2);
		let rest = Consortium::staff_page(Some(first[1].0), 10);
		assert_eq!(first.len() + rest.len(), 4);
		assert!(rest.iter().all(|(who, _)| !first.iter().any(|(seen, _)| seen == who)));
	});
}

#[test]
fn invalid_staff_registrations_fail() {
	run(4, || {
		let physician = RoleSet::from_roles(&[Role::Physician]);
		assert_noop!(
			Consortium::register_staff(origin(PATIENT), 2001, physician, code("a"), code("b")),
			Error::<Test>::NotAdmin
		);
		assert_noop!(
			Consortium::register_staff(origin(H2_ADMIN), 2001, RoleSet::default(), code("a"), code("b")),
			Error::<Test>::NoRoles
		);
		assert_noop!(
			Consortium::register_staff(origin(H2_ADMIN), 2001, RoleSet::from_roles(&[Role::Admin]), code("a"), code("b")),
			Error::<Test>::AdminRoleByVote
		);
		assert_noop!(
			Consortium::register_staff(origin(H2_ADMIN), 2001, RoleSet(0b1000_0001), code("a"), code("b")),
			Error::<Test>::UnknownRole
		);
		assert_noop!(
			Consortium::register_staff(origin(H2_ADMIN), STAFF, physician, code("a"), code("b")),
			Error::<Test>::StaffOfAnotherHospital
		);
	});
}

#[test]
fn staff_left_behind_by_a_removed_hospital_can_be_taken_over() {
	run(4, || {
		assert_ok!(Consortium::register_staff(
			origin(H4_ADMIN), 4001, RoleSet::from_roles(&[Role::Nurse]), code("icu"), code("H4")
		));
		pass(ConsortiumAction::RemoveMember { hospital: 4 }, &[H1_ADMIN, H2_ADMIN, H3_ADMIN]);
		assert_ok!(Consortium::register_staff(
			origin(H3_ADMIN), 4001, RoleSet::from_roles(&[Role::Nurse]), code("icu"), code("H3")
		));
		assert!(matches!(last_event(), RuntimeEvent::Consortium(Event::StaffRegistered { hospital: 3, .. })));
		assert_eq!(System::providers(&4001), 1);
	});
}

#[test]
fn admin_removes_only_its_own_staff() {
	run(4, || {
		assert_noop!(Consortium::remove_staff(origin(H2_ADMIN), STAFF), Error::<Test>::NotStaff);
		assert_noop!(Consortium::remove_staff(origin(H1_ADMIN), STRANGER), Error::<Test>::NotStaff);
		assert_noop!(Consortium::remove_staff(origin(STAFF), STAFF), Error::<Test>::NotAdmin);
		assert_ok!(Consortium::remove_staff(origin(H1_ADMIN), STAFF));
		assert_eq!(last_event(), RuntimeEvent::Consortium(Event::StaffRemoved { who: STAFF, hospital: 1 }));
		assert!(!Consortium::is_registered(&STAFF));
		assert_eq!(System::providers(&STAFF), 0);
	});
}

// ---------------------------------------------------------------- patients

#[test]
fn admin_onboards_and_offboards_patients() {
	run(4, || {
		assert_ok!(Consortium::onboard_patient(origin(H3_ADMIN), 1001));
		assert_eq!(last_event(), RuntimeEvent::Consortium(Event::PatientOnboarded { patient: 1001, hospital: 3 }));
		assert!(Consortium::is_registered(&1001));
		assert_eq!(System::providers(&1001), 1);
		assert_noop!(Consortium::onboard_patient(origin(H2_ADMIN), 1001), Error::<Test>::AlreadyPatient);
		assert_noop!(Consortium::onboard_patient(origin(1001), 1002), Error::<Test>::NotAdmin);
		assert_noop!(Consortium::offboard_patient(origin(H2_ADMIN), 1001), Error::<Test>::NotPatient);
		assert_noop!(Consortium::offboard_patient(origin(H3_ADMIN), 1002), Error::<Test>::NotPatient);
		assert_ok!(Consortium::offboard_patient(origin(H3_ADMIN), 1001));
		assert_eq!(last_event(), RuntimeEvent::Consortium(Event::PatientOffboarded { patient: 1001, hospital: 3 }));
		// The patient keeps its rights (and its account's provider), not its full standing.
		assert_eq!(Consortium::standing(&1001), Standing::RetainedRights);
		assert_eq!(PatientOf::<Test>::get(1001).unwrap().offboarded, Some(Offboarding { by: 3, at: 1 }));
		assert_eq!(System::providers(&1001), 1);
		assert_noop!(Consortium::offboard_patient(origin(H3_ADMIN), 1001), Error::<Test>::NotPatient);
		// Another member onboards it again: it moves there with everything it had.
		assert_ok!(Consortium::onboard_patient(origin(H2_ADMIN), 1001));
		assert_eq!(Consortium::standing(&1001), Standing::Registered);
		assert_eq!(PatientOf::<Test>::get(1001).unwrap().onboarded_by, 2);
		assert_eq!(System::providers(&1001), 1);
		assert_noop!(Consortium::offboard_patient(origin(H3_ADMIN), 1001), Error::<Test>::NotPatient);
	});
}

#[test]
fn a_patient_whose_hospital_left_can_move_to_another() {
	run(4, || {
		assert_ok!(Consortium::onboard_patient(origin(H4_ADMIN), 1001));
		pass(ConsortiumAction::RemoveMember { hospital: 4 }, &[H1_ADMIN, H2_ADMIN, H3_ADMIN]);
		assert_eq!(Consortium::standing(&1001), Standing::Registered, "the patient stays registered");
		assert_ok!(Consortium::onboard_patient(origin(H1_ADMIN), 1001));
		assert_eq!(PatientOf::<Test>::get(1001).unwrap().onboarded_by, 1);
	});
}

#[test]
fn migration_to_v1_keeps_every_patient() {
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	run(4, || {
		assert_ok!(Consortium::propose(origin(H1_ADMIN), add_h5()));
		assert_ok!(Consortium::propose(origin(H2_ADMIN), add_h5()));
		// Rewind to version 0's layout: patients without `offboarded`.
		let old = |by, at| migrations::v1::PatientInfoV0::<u64> { onboarded_by: by, onboarded_at: at };
		for (who, by, at) in [(PATIENT, 1, 0u64), (1001, 3, 7)] {
			frame_support::storage::unhashed::put_raw(&PatientOf::<Test>::hashed_key_for(who), &old(by, at).encode());
		}
		StorageVersion::new(0).put::<Consortium>();

		let state = migrations::v1::before::<Test>();
		migrations::v1::MigrateV0ToV1::<Test>::on_runtime_upgrade();
		assert_ok!(migrations::v1::after::<Test>(state));
		assert_eq!(Consortium::on_chain_storage_version(), 1);
		assert_eq!(PatientOf::<Test>::get(1001), Some(PatientInfo { onboarded_by: 3, onboarded_at: 7, offboarded: None }));
		assert_eq!((OpenProposalsOf::<Test>::get(1), OpenProposalsOf::<Test>::get(2)), (1, 1));
		// A second run is a no-op: the version no longer matches.
		frame_support::storage::unhashed::put_raw(&PatientOf::<Test>::hashed_key_for(1001), &[0xff]);
		migrations::v1::MigrateV0ToV1::<Test>::on_runtime_upgrade();
		assert_eq!(frame_support::storage::unhashed::get_raw(&PatientOf::<Test>::hashed_key_for(1001)), Some(vec![0xff]));
		PatientOf::<Test>::insert(1001, PatientInfo { onboarded_by: 3, onboarded_at: 7, offboarded: None });
	});
}

// ---------------------------------------------------------------- the RegisteredSigner extension

fn remark() -> RuntimeCall {
	RuntimeCall::System(frame_system::Call::remark { remark: vec![1, 2, 3] })
}

fn validate(who: u64) -> Result<(), TransactionValidityError> {
	RegisteredSigner::<Test>::new()
		.validate_only(origin(who), &remark(), &DispatchInfo::default(), 10, TransactionSource::External, 0)
		.map(|_| ())
}

fn priority(who: u64) -> sp_runtime::transaction_validity::TransactionPriority {
	let (validity, _, _) = RegisteredSigner::<Test>::new()
		.validate_only(origin(who), &remark(), &DispatchInfo::default(), 10, TransactionSource::External, 0)
		.expect("a registered signer's extrinsic is valid");
	validity.priority
}

fn include(who: u64) -> Result<(), TransactionValidityError> {
	RegisteredSigner::<Test>::new()
		.validate_and_prepare(origin(who), &remark(), &DispatchInfo::default(), 10, 0)
		.map(|_| ())
}

#[test]
fn an_offboarded_patient_may_sign_only_its_retained_rights() {
	run(4, || {
		assert_ok!(Consortium::offboard_patient(origin(H1_ADMIN), PATIENT));
		// The mock retains `remark`; anything else is refused with its own code.
		assert_eq!(validate(PATIENT), Ok(()));
		let other = RuntimeCall::Consortium(crate::Call::prune_expired { proposal: 0 });
		let refused = RegisteredSigner::<Test>::new()
			.validate_only(origin(PATIENT), &other, &DispatchInfo::default(), 10, TransactionSource::External, 0)
			.map(|_| ());
		assert_eq!(refused, Err(InvalidTransaction::Custom(phr_primitives::tx_error::OFFBOARDED_PATIENT).into()));
	});
}

#[test]
fn unregistered_signer_is_refused_by_the_pool() {
	run(4, || {
		assert_eq!(validate(STRANGER), Err(InvalidTransaction::Custom(UNREGISTERED_SIGNER).into()));
		assert_eq!(include(STRANGER), Err(InvalidTransaction::Custom(UNREGISTERED_SIGNER).into()));
	});
}

#[test]
fn registered_signers_and_unsigned_inherents_pass() {
	run(4, || {
		for who in [PATIENT, STAFF, H1_ADMIN, 100] {
			assert_eq!(validate(who), Ok(()));
		}
		// An unsigned origin (an inherent) passes this extension untouched; whether the call may be
		// unsigned at all is for the runtime's other checks.
		let unsigned = RegisteredSigner::<Test>::new().validate(
			RuntimeOrigin::none(), &remark(), &DispatchInfo::default(), 10, (), &sp_runtime::traits::TxBaseImplication(remark()), TransactionSource::InBlock,
		);
		let (_, signer, _) = unsigned.expect("unsigned passes");
		assert_eq!(signer, None);
	});
}

#[test]
fn signer_is_rate_limited_per_window() {
	run(4, || {
		// Window of 10 blocks starting at 0; the mock allows three extrinsics per window.
		for _ in 0..3 {
			assert_eq!(include(PATIENT), Ok(()));
		}
		// The pool keeps accepting (at the lowest priority); a block leaves it out as if full, which
		// the block builder skips without reporting it invalid to the pool.
		assert_eq!(validate(PATIENT), Ok(()));
		assert_eq!(priority(PATIENT), 0);
		assert_eq!(include(PATIENT), Err(InvalidTransaction::ExhaustsResources.into()));
		// Others are not affected.
		assert_eq!(priority(STAFF), 3);
		System::set_block_number(10);
		assert_eq!(priority(PATIENT), 3);
		assert_eq!(RateWindowOf::<Test>::get(PATIENT), Some(RateWindow { start: 0, used: 3 }));
		assert_eq!(include(PATIENT), Ok(()));
		assert_eq!(RateWindowOf::<Test>::get(PATIENT), Some(RateWindow { start: 10, used: 1 }));
	});
}

#[test]
fn pool_validity_outlives_the_window() {
	run(4, || {
		// Near the end of a window: a transaction queued behind full blocks must not become stale
		// (the pool would drop and ban it) when the window ends.
		System::set_block_number(13);
		let (validity, _, _) = RegisteredSigner::<Test>::new()
			.validate_only(origin(PATIENT), &remark(), &DispatchInfo::default(), 10, TransactionSource::External, 0)
			.unwrap();
		assert_eq!(validity.longevity, TransactionLongevity::MAX);
		assert_eq!(validity.priority, 3, "all of the window is left");
	});
}
