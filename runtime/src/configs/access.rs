//! Access control: grants, guardians, break-glass, research consent, audit trail, read receipts.

use crate::{Consortium, Records, Runtime, Timestamp};
use frame_support::{parameter_types, traits::ConstU32};
use phr_primitives::Moment;

parameter_types! {
	/// A break-glass opening lasts at most 4 hours: one shift's emergency, then a new opening
	/// (and a new review) is needed.
	pub const MaxEmergencyDuration: Moment = 4 * 60 * 60 * 1000;
}

impl pallet_access::Config for Runtime {
	type Directory = Consortium;
	type Patients = Consortium;
	type Records = Records;
	type Time = Timestamp;
	/// 128 live grants per patient: several per treating team and hospital, and the bound of
	/// `decide`'s worst case (docs/benchmarks.md).
	type MaxGrantsPerPatient = ConstU32<128>;
	type MaxGuardians = ConstU32<4>;
	type MaxConsents = ConstU32<16>;
	type MaxEmergencyDuration = MaxEmergencyDuration;
	type WeightInfo = pallet_access::weights::SubstrateWeight<Runtime>;
}
