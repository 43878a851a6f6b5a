//! Weights for `pallet_keys`.
//!
//! NOT YET GENERATED: storage accesses counted by hand from the code plus a conservative 25 µs of
//! execution per call (60 µs where an ed25519 point is decompressed), until `scripts/benchmark.sh`
//! overwrites this file with measured figures.

#![allow(unused_parens)]
#![allow(unused_imports)]

use core::marker::PhantomData;
use frame_support::{
	traits::Get,
	weights::{constants::RocksDbWeight, RuntimeDbWeight, Weight},
};

/// Weight functions needed for `pallet_keys`.
pub trait WeightInfo {
	fn register_keys() -> Weight;
	fn rotate_keys() -> Weight;
	fn rotate_data_key() -> Weight;
}

fn counted(db: RuntimeDbWeight, micros: u64, reads: u64, writes: u64) -> Weight {
	Weight::from_parts(micros * 1_000_000, 600 * reads + 4 * 1024).saturating_add(db.reads_writes(reads, writes))
}

/// Weights for `pallet_keys` using the runtime's database weights.
pub struct SubstrateWeight<T>(PhantomData<T>);

impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	fn register_keys() -> Weight {
		counted(T::DbWeight::get(), 60, 1, 1)
	}
	fn rotate_keys() -> Weight {
		counted(T::DbWeight::get(), 60, 1, 2)
	}
	fn rotate_data_key() -> Weight {
		counted(T::DbWeight::get(), 25, 3, 3)
	}
}

/// For tests.
impl WeightInfo for () {
	fn register_keys() -> Weight {
		counted(RocksDbWeight::get(), 60, 1, 1)
	}
	fn rotate_keys() -> Weight {
		counted(RocksDbWeight::get(), 60, 1, 2)
	}
	fn rotate_data_key() -> Weight {
		counted(RocksDbWeight::get(), 25, 3, 3)
	}
}
