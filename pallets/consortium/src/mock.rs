//! A test runtime with four founding hospitals H1..H4.
//!
//! Hospital `h` has admin account `10 * h` (and `10 * h + 1` for H1), validator `100 * h` and a node
//! peer id of 38 bytes `h`.

use crate as pallet_consortium;
use frame_support::{derive_impl, parameter_types, traits::ConstU32};
use sp_runtime::{BuildStorage, Perbill};

type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Consortium: pallet_consortium,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
}

parameter_types! {
	pub const MoreThanTwoThirds: Perbill = Perbill::from_parts(666_666_667);
	pub static MaxDispatchWeight: frame_support::weights::Weight = frame_support::weights::Weight::from_parts(1_000_000_000, 64 * 1024);
}

impl pallet_consortium::Config for Test {
	type MaxMembers = ConstU32<8>;
	type MaxAdminsPerMember = ConstU32<3>;
	type MaxProposals = ConstU32<4>;
	type MaxProposalsPerMember = ConstU32<2>;
	type ProposalLifetime = ConstU64<100>;
	type ApprovalThreshold = MoreThanTwoThirds;
	type MaxExtrinsicsPerWindow = ConstU32<3>;
	type RateWindowBlocks = ConstU64<10>;
	type RetainedRights = OnlyRemarks;
	type HasSessionKeys = HasKeys;
	type OuterOrigin = RuntimeOrigin;
	type AdminOrigin = crate::EnsureConsortium;
	type MaxDispatchWeight = MaxDispatchWeight;
	type WeightInfo = ();
}

thread_local! {
	static WITHOUT_KEYS: core::cell::RefCell<Vec<u64>> = const { core::cell::RefCell::new(Vec::new()) };
}

/// Makes `who` have (or not have) session keys, for the session planning.
pub fn set_has_keys(who: u64, has: bool) {
	WITHOUT_KEYS.with(|w| {
		let mut w = w.borrow_mut();
		w.retain(|x| *x != who);
		if !has {
			w.push(who);
		}
	});
}

/// Every account has session keys unless `set_has_keys(who, false)`.
pub struct HasKeys;
impl frame_support::traits::Contains<u64> for HasKeys {
	fn contains(who: &u64) -> bool {
		!WITHOUT_KEYS.with(|w| w.borrow().contains(who))
	}
}

/// The mock's retained rights: an offboarded patient may still send `System::remark`.
pub struct OnlyRemarks;
impl frame_support::traits::Contains<RuntimeCall> for OnlyRemarks {
	fn contains(call: &RuntimeCall) -> bool {
		matches!(call, RuntimeCall::System(frame_system::Call::remark { .. }))
	}
}

use frame_support::traits::ConstU64;

pub const H1_ADMIN: u64 = 10;
pub const H1_ADMIN_2: u64 = 11;
pub const H2_ADMIN: u64 = 20;
pub const H3_ADMIN: u64 = 30;
pub const H4_ADMIN: u64 = 40;
pub const PATIENT: u64 = 1000;
pub const STAFF: u64 = 2000;
pub const STRANGER: u64 = 9999;

pub fn node(h: u8) -> Vec<u8> {
	vec![h; 38]
}

pub fn new_test_ext(hospitals: u32) -> sp_io::TestExternalities {
	let members = (1..=hospitals)
		.map(|h| {
			let mut admins = vec![10 * h as u64];
			if h == 1 {
				admins.push(H1_ADMIN_2);
			}
			(h, admins, 100 * h as u64, node(h as u8))
		})
		.collect();
	let t = RuntimeGenesisConfig {
		system: Default::default(),
		consortium: pallet_consortium::GenesisConfig {
			members,
			staff: vec![(
				STAFF,
				1,
				vec![phr_primitives::Role::Physician],
				b"cardiology".to_vec(),
				b"H1-main".to_vec(),
			)],
			patients: vec![(PATIENT, 1)],
		},
	}
	.build_storage()
	.unwrap();
	let mut ext = sp_io::TestExternalities::new(t);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Runs `test` in a consortium of `hospitals` members, then checks every invariant.
pub fn run(hospitals: u32, test: impl FnOnce()) {
	new_test_ext(hospitals).execute_with(|| {
		test();
		Consortium::do_try_state().expect("try_state invariants hold");
	});
}
