//! Health records and encryption keys.

use crate::{Access, Consortium, Records, Runtime, DAYS};
use frame_support::{parameter_types, traits::ConstU32};

parameter_types! {
	/// Largest ciphertext one record may name: 4 GiB (imaging studies are the large ones).
	pub const MaxCiphertextSize: u64 = 4 * 1024 * 1024 * 1024;
	/// An encryption key older than 180 days is due for rotation.
	pub const MaxKeyAge: crate::BlockNumber = 180 * DAYS;
}

impl pallet_records::Config for Runtime {
	type Patients = Consortium;
	type AppendPermission = Access;
	type Audit = Access;
	type MaxCiphertextSize = MaxCiphertextSize;
	type MaxRecordsPerPatient = ConstU32<10_000>;
	type MaxVersions = ConstU32<64>;
	type WeightInfo = pallet_records::weights::SubstrateWeight<Runtime>;
}

impl pallet_keys::Config for Runtime {
	type Records = Records;
	type Audit = Access;
	type MaxKeyAge = MaxKeyAge;
	type WeightInfo = pallet_keys::weights::SubstrateWeight<Runtime>;
}
