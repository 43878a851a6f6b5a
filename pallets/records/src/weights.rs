//! Weights for `pallet_records`.
//!
//! NOT YET GENERATED: storage accesses counted by hand from the code plus a conservative 25 µs of
//! execution per call, until `scripts/benchmark.sh` overwrites this file with measured figures.
//! `v` = versions of the record (bounded by `MaxVersions`).

#![allow(unused_parens)]
#![allow(unused_imports)]

use core::marker::PhantomData;
use frame_support::{
	traits::Get,
	weights::{constants::RocksDbWeight, RuntimeDbWeight, Weight},
};

/// Weight functions needed for `pallet_records`.
pub trait WeightInfo {
	fn register() -> Weight;
	fn amend(v: u32) -> Weight;
	fn erase(v: u32) -> Weight;
	fn replace_ciphertext() -> Weight;
}

const BASE: u64 = 25_000_000;
const PER_VERSION: u64 = 2_000_000;
/// Encoded record (~180 bytes) plus its trie path, per storage item read.
const ITEM_PROOF: u64 = 600;

fn counted(db: RuntimeDbWeight, reads: u64, writes: u64, versions: u64) -> Weight {
	Weight::from_parts(BASE + PER_VERSION * versions, ITEM_PROOF * (reads + versions) + 4 * 1024)
		.saturating_add(db.reads_writes(reads + versions, writes + versions))
}

/// Weights for `pallet_records` using the runtime's database weights.
pub struct SubstrateWeight<T>(PhantomData<T>);

impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	fn register() -> Weight {
		counted(T::DbWeight::get(), 6, 6, 0)
	}
	fn amend(v: u32) -> Weight {
		counted(T::DbWeight::get(), 6, 7, v as u64 / 8)
	}
	fn erase(v: u32) -> Weight {
		counted(T::DbWeight::get(), 2, 0, v as u64)
	}
	fn replace_ciphertext() -> Weight {
		counted(T::DbWeight::get(), 2, 3, 0)
	}
}

/// For tests.
impl WeightInfo for () {
	fn register() -> Weight {
		counted(RocksDbWeight::get(), 6, 6, 0)
	}
	fn amend(v: u32) -> Weight {
		counted(RocksDbWeight::get(), 6, 7, v as u64 / 8)
	}
	fn erase(v: u32) -> Weight {
		counted(RocksDbWeight::get(), 2, 0, v as u64)
	}
	fn replace_ciphertext() -> Weight {
		counted(RocksDbWeight::get(), 2, 3, 0)
	}
}
