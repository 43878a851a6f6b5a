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
	/// A patient signs a relayed grant as it signs an extrinsic.
	type RelaySignature = crate::Signature;
	type RelaySigner = <crate::Signature as sp_runtime::traits::Verify>::Signer;
	/// 1,024 signed grants (about 200 KiB) per batch.
	type MaxGrantBatch = ConstU32<1024>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = RelayBenchmarkSigner;
	type WeightInfo = pallet_access::weights::SubstrateWeight<Runtime>;
}

/// sr25519 keys made in the benchmark's keystore, and their signatures.
#[cfg(feature = "runtime-benchmarks")]
pub struct RelayBenchmarkSigner;

#[cfg(feature = "runtime-benchmarks")]
impl pallet_access::BenchmarkHelper<crate::AccountId, crate::Signature> for RelayBenchmarkSigner {
	fn signer(n: u32) -> crate::AccountId {
		let seed = alloc::format!("//relayed-grant-{n}").into_bytes();
		let public = sp_io::crypto::sr25519_generate(RELAY_BENCHMARK_KEY, Some(seed));
		crate::AccountId::from(public.0)
	}

	fn sign(who: &crate::AccountId, payload: &[u8]) -> crate::Signature {
		let bytes: &[u8; 32] = who.as_ref();
		let public = sp_core::sr25519::Public::from_raw(*bytes);
		let signature = sp_io::crypto::sr25519_sign(RELAY_BENCHMARK_KEY, &public, payload);
		crate::Signature::Sr25519(signature.expect("the benchmark's keystore holds the key it made"))
	}
}

#[cfg(feature = "runtime-benchmarks")]
const RELAY_BENCHMARK_KEY: sp_core::crypto::KeyTypeId = sp_core::crypto::KeyTypeId(*b"rgbn");
