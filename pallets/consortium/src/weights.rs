//! Weights for `pallet_consortium`.
//!
//! NOT YET GENERATED: these are storage accesses counted by hand from the code plus a conservative
//! 25 µs of execution per call, until `scripts/benchmark.sh` (a `runtime-benchmarks` build of
//! phr-node) overwrites this file with measured figures. The components are the worst-case bounds:
//! `m` = members, `p` = open proposals.

#![allow(unused_parens)]
#![allow(unused_imports)]

use core::marker::PhantomData;
use frame_support::{
	traits::Get,
	weights::{constants::RocksDbWeight, Weight},
};

/// Weight functions needed for `pallet_consortium`.
pub trait WeightInfo {
	fn propose(m: u32, p: u32) -> Weight;
	fn approve(m: u32, p: u32) -> Weight;
	fn withdraw() -> Weight;
	fn prune_expired() -> Weight;
	fn register_staff() -> Weight;
	fn remove_staff() -> Weight;
	fn onboard_patient() -> Weight;
	fn offboard_patient() -> Weight;
	/// The `RegisteredSigner` transaction extension, per extrinsic.
	fn registered_signer() -> Weight;
}

const BASE: u64 = 25_000_000;
const PER_ITEM: u64 = 1_000_000;
/// Worst-case encoded size of a proposal or member read or written, for the proof size.
const ITEM_PROOF: u64 = 4_000;

/// Weights for `pallet_consortium` using the runtime's database weights.
pub struct SubstrateWeight<T>(PhantomData<T>);

fn counted<D: Get<frame_support::weights::RuntimeDbWeight>>(reads: u64, writes: u64, items: u64) -> Weight {
	Weight::from_parts(BASE + PER_ITEM * items, ITEM_PROOF * (reads + items))
		.saturating_add(D::get().reads_writes(reads, writes))
}

impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	// Reads: admin, count, next id, action checks (members, indexes), proposal, members for the
	// approval count (m). Executing a removal rewrites every open proposal (p) and the indexes.
	fn propose(m: u32, p: u32) -> Weight {
		counted::<T::DbWeight>(8 + m as u64 + p as u64, 8 + p as u64 + m as u64, m as u64 + p as u64)
	}
	fn approve(m: u32, p: u32) -> Weight {
		counted::<T::DbWeight>(6 + m as u64 + p as u64, 6 + p as u64 + m as u64, m as u64 + p as u64)
	}
	fn withdraw() -> Weight {
		counted::<T::DbWeight>(3, 2, 0)
	}
	fn prune_expired() -> Weight {
		counted::<T::DbWeight>(2, 2, 0)
	}
	fn register_staff() -> Weight {
		counted::<T::DbWeight>(4, 2, 0)
	}
	fn remove_staff() -> Weight {
		counted::<T::DbWeight>(3, 2, 0)
	}
	fn onboard_patient() -> Weight {
		counted::<T::DbWeight>(3, 2, 0)
	}
	fn offboard_patient() -> Weight {
		counted::<T::DbWeight>(3, 2, 0)
	}
	fn registered_signer() -> Weight {
		counted::<T::DbWeight>(6, 1, 0)
	}
}

/// For tests: the same formulas over RocksDB's weights.
impl WeightInfo for () {
	fn propose(m: u32, p: u32) -> Weight {
		counted::<RocksDbWeight>(8 + m as u64 + p as u64, 8 + p as u64 + m as u64, m as u64 + p as u64)
	}
	fn approve(m: u32, p: u32) -> Weight {
		counted::<RocksDbWeight>(6 + m as u64 + p as u64, 6 + p as u64 + m as u64, m as u64 + p as u64)
	}
	fn withdraw() -> Weight {
		counted::<RocksDbWeight>(3, 2, 0)
	}
	fn prune_expired() -> Weight {
		counted::<RocksDbWeight>(2, 2, 0)
	}
	fn register_staff() -> Weight {
		counted::<RocksDbWeight>(4, 2, 0)
	}
	fn remove_staff() -> Weight {
		counted::<RocksDbWeight>(3, 2, 0)
	}
	fn onboard_patient() -> Weight {
		counted::<RocksDbWeight>(3, 2, 0)
	}
	fn offboard_patient() -> Weight {
		counted::<RocksDbWeight>(3, 2, 0)
	}
	fn registered_signer() -> Weight {
		counted::<RocksDbWeight>(6, 1, 0)
	}
}
