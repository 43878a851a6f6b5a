//! The weights of the database and of the base of every block and extrinsic, measured on the
//! machine that runs the consortium's benchmarks. Written by `scripts/measure-weights.sh`; do not
//! edit by hand. 2026-12-04, commit b0a3a46 with uncommitted changes, 2 cores (AMD EPYC), Debian GNU/Linux 12 (bookworm); metric: p95.
//!
//! - Database: `phr-node benchmark storage` over H1's database after the chain benchmark's load
//!   (79971 keys), one read of a storage item, and one write among
//!   1,000 written and committed together, as a block commits them.
//! - Block and extrinsic: `phr-node benchmark overhead` on a fresh dev chain, an empty block and
//!   one more signed `System::remark` in a full block.

use frame_support::weights::{constants::WEIGHT_REF_TIME_PER_NANOS, RuntimeDbWeight, Weight};

/// One storage read (29144 ns) and one storage write (44829 ns).
pub const DB_WEIGHT: RuntimeDbWeight = RuntimeDbWeight {
	read: 29144 * WEIGHT_REF_TIME_PER_NANOS,
	write: 44829 * WEIGHT_REF_TIME_PER_NANOS,
};

/// Executing an empty block (342260 ns).
pub const BLOCK_EXECUTION_WEIGHT: Weight = Weight::from_parts(342260 * WEIGHT_REF_TIME_PER_NANOS, 0);

/// The base of every extrinsic (102564 ns): a signed no-op, its signature and extensions.
pub const EXTRINSIC_BASE_WEIGHT: Weight = Weight::from_parts(102564 * WEIGHT_REF_TIME_PER_NANOS, 0);
