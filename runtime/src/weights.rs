//! The weights of the database and of the base of every block and extrinsic. Not measured on this
//! project's machine yet: these are Substrate's reference figures (`frame_support::weights::
//! constants`). `scripts/measure-weights.sh` measures them here and rewrites this file.

use frame_support::weights::{constants::WEIGHT_REF_TIME_PER_NANOS, RuntimeDbWeight, Weight};

/// One storage read (25000 ns) and one storage write (100000 ns).
pub const DB_WEIGHT: RuntimeDbWeight = RuntimeDbWeight {
	read: 25000 * WEIGHT_REF_TIME_PER_NANOS,
	write: 100000 * WEIGHT_REF_TIME_PER_NANOS,
};

/// Executing an empty block (431614 ns).
pub const BLOCK_EXECUTION_WEIGHT: Weight = Weight::from_parts(431614 * WEIGHT_REF_TIME_PER_NANOS, 0);

/// The base of every extrinsic (108157 ns): a signed no-op, its signature and extensions.
pub const EXTRINSIC_BASE_WEIGHT: Weight = Weight::from_parts(108157 * WEIGHT_REF_TIME_PER_NANOS, 0);
