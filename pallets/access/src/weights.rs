//! Weights for `pallet_access`.
//!
//! NOT YET GENERATED: storage accesses counted by hand from the code plus a conservative 25 µs of
//! execution per call, until `scripts/benchmark.sh` overwrites this file with measured figures.
//! `g` = live grants of the patient (bounded by `MaxGrantsPerPatient`).

#![allow(unused_parens)]
#![allow(unused_imports)]

use core::marker::PhantomData;
use frame_support::{
	traits::Get,
	weights::{constants::RocksDbWeight, RuntimeDbWeight, Weight},
};

/// Weight functions needed for `pallet_access`.
pub trait WeightInfo {
	fn grant(g: u32) -> Weight;
	fn revoke(g: u32) -> Weight;
	fn amend_expiry() -> Weight;
	fn appoint_guardian() -> Weight;
	fn remove_guardian() -> Weight;
	fn open_emergency() -> Weight;
	fn review_emergency() -> Weight;
	fn give_consent() -> Weight;
	fn withdraw_consent() -> Weight;
	fn anchor_receipts() -> Weight;
	/// `decide` over `g` grants that all almost match (not a call: what the blob store and the
	/// append check cost).
	fn decide(g: u32) -> Weight;
}

fn counted(db: RuntimeDbWeight, reads: u64, writes: u64, per_grant: u64, g: u32) -> Weight {
	Weight::from_parts(25_000_000 + per_grant * g as u64, 600 * (reads + g as u64) + 8 * 1024)
		.saturating_add(db.reads_writes(reads, writes))
}

/// Weights for `pallet_access` using the runtime's database weights.
pub struct SubstrateWeight<T>(PhantomData<T>);

macro_rules! weights_over {
	($db:expr) => {
		fn grant(g: u32) -> Weight {
			counted($db, 5, 5, 50_000, g)
		}
		fn revoke(g: u32) -> Weight {
			counted($db, 4, 5, 50_000, g)
		}
		fn amend_expiry() -> Weight {
			counted($db, 4, 3, 0, 0)
		}
		fn appoint_guardian() -> Weight {
			counted($db, 5, 4, 0, 0)
		}
		fn remove_guardian() -> Weight {
			counted($db, 3, 4, 0, 0)
		}
		fn open_emergency() -> Weight {
			counted($db, 6, 6, 0, 0)
		}
		fn review_emergency() -> Weight {
			counted($db, 5, 4, 0, 0)
		}
		fn give_consent() -> Weight {
			counted($db, 5, 4, 0, 0)
		}
		fn withdraw_consent() -> Weight {
			counted($db, 4, 4, 0, 0)
		}
		fn anchor_receipts() -> Weight {
			counted($db, 3, 2, 0, 0)
		}
		fn decide(g: u32) -> Weight {
			counted($db, 6 + g as u64, 0, 2_000_000, g)
		}
	};
}

impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	weights_over!(T::DbWeight::get());
}

/// For tests.
impl WeightInfo for () {
	weights_over!(RocksDbWeight::get());
}
