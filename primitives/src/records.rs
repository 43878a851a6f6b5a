//! Records and their keys: what the chain knows about a health record, which is never its content.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use sp_core::H256;

/// Numbers a record version, assigned by the chain at registration, never reused.
pub type RecordId = u64;

/// Epoch of a key: an account's encryption key (bumped by each rotation) or a record's data key
/// (bumped by each re-encryption).
pub type KeyEpoch = u32;

/// The hash of a record's ciphertext that the chain registers: how the chain names the bytes
/// stored off chain. See [`CiphertextHasher`] for which function computes it.
pub type CiphertextHash = H256;

/// How a ciphertext begins when its record hash is BLAKE3-256: the wallet's sealed format,
/// version 2 (`"PHRC"` then the version byte).
pub const BLAKE3_SEALED_PREFIX: [u8; 5] = *b"PHRC\x02";

/// The record hash of `ciphertext`, as the wallet, the portal and every node compute it.
pub fn ciphertext_hash(ciphertext: &[u8]) -> CiphertextHash {
	let mut hasher = CiphertextHasher::new();
	hasher.update(ciphertext);
	hasher.finalize()
}

/// The hash that names a wrapped data key in a signed upload request: blake2-256.
pub fn wrapped_key_hash(wrapped: &[u8]) -> H256 {
	<sp_runtime::traits::BlakeTwo256 as sp_runtime::traits::Hash>::hash(wrapped)
}

/// Computes a record hash over the bytes as they arrive, in one pass.
///
/// The ciphertext says which function names it: BLAKE3-256 when it begins with
/// [`BLAKE3_SEALED_PREFIX`] (what wallets and the portal seal), blake2b-256 otherwise (the records
/// sealed before format 2, and any other bytes). The function is decided by bytes the hash
/// covers, so it stays one function of the ciphertext: two different ciphertexts with the same
/// hash would be a collision of BLAKE3, of blake2b, or between the two (a 2^128 search), and a
/// registered hash names exactly one ciphertext, whatever the prefix a forger puts on his bytes.
/// BLAKE3 runs about five times as fast as blake2b here (docs/benchmarks.md), and every byte of a
/// record crosses a hash once on each side of every transfer.
pub struct CiphertextHasher {
	prefix: [u8; 5],
	/// Bytes of the prefix received so far, until the function is decided.
	seen: usize,
	state: HashState,
}

enum HashState {
	Undecided,
	Blake2(blake2b_simd::State),
	Blake3(alloc::boxed::Box<blake3::Hasher>),
}

impl Default for CiphertextHasher {
	fn default() -> Self {
		Self::new()
	}
}

impl CiphertextHasher {
	pub fn new() -> CiphertextHasher {
		CiphertextHasher { prefix: [0; 5], seen: 0, state: HashState::Undecided }
	}

	pub fn update(&mut self, mut bytes: &[u8]) -> &mut Self {
		if let HashState::Undecided = self.state {
			let take = bytes.len().min(self.prefix.len() - self.seen);
			self.prefix[self.seen..self.seen + take].copy_from_slice(&bytes[..take]);
			self.seen += take;
			bytes = &bytes[take..];
			if self.seen < self.prefix.len() {
				return self;
			}
			self.decide();
		}
		match &mut self.state {
			HashState::Blake2(state) => {
				state.update(bytes);
			},
			HashState::Blake3(hasher) => {
				hasher.update(bytes);
			},
			HashState::Undecided => unreachable!("decided once the prefix is complete"),
		}
		self
	}

	/// Picks the function from the first bytes (all of them, for a ciphertext shorter than the
	/// prefix) and feeds it those bytes.
	fn decide(&mut self) {
		let prefix = &self.prefix[..self.seen];
		self.state = if prefix == BLAKE3_SEALED_PREFIX {
			let mut hasher = alloc::boxed::Box::new(blake3::Hasher::new());
			hasher.update(prefix);
			HashState::Blake3(hasher)
		} else {
			let mut state = blake2b_simd::Params::new().hash_length(32).to_state();
			state.update(prefix);
			HashState::Blake2(state)
		};
	}

	pub fn finalize(mut self) -> CiphertextHash {
		if let HashState::Undecided = self.state {
			self.decide();
		}
		match self.state {
			HashState::Blake2(state) => H256::from_slice(state.finalize().as_bytes()),
			HashState::Blake3(hasher) => H256(*hasher.finalize().as_bytes()),
			HashState::Undecided => unreachable!("decided above"),
		}
	}
}

/// What kind of record this is, coarsely.
///
/// The code is deliberately coarse: every node operator of every hospital reads all chain state, so
/// a fine code ("HIV viral load", "oncology consult") would itself disclose a diagnosis. Nine kinds,
/// mapped from FHIR R4 resource types, are enough to scope a grant ("my medications, for the
/// pharmacist") while saying next to nothing about the patient.
#[derive(
	Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, DecodeWithMemTracking,
	MaxEncodedLen, TypeInfo, Debug, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Category {
	Observation,
	Condition,
	Medication,
	Immunization,
	Allergy,
	Procedure,
	Imaging,
	Document,
	Other,
}

impl Category {
	pub const ALL: [Category; 9] = [
		Category::Observation,
		Category::Condition,
		Category::Medication,
		Category::Immunization,
		Category::Allergy,
		Category::Procedure,
		Category::Imaging,
		Category::Document,
		Category::Other,
	];

	/// The category of a FHIR R4 resource, from its `resourceType`.
	pub fn from_fhir_resource_type(resource_type: &str) -> Category {
		match resource_type {
			"Observation" | "VitalSigns" | "DiagnosticReport" | "Specimen" | "MolecularSequence" =>
				Category::Observation,
			"Condition" | "ClinicalImpression" | "FamilyMemberHistory" | "RiskAssessment" | "DetectedIssue" =>
				Category::Condition,
			"Medication" | "MedicationRequest" | "MedicationStatement" | "MedicationAdministration" |
			"MedicationDispense" =>
				Category::Medication,
			"Immunization" | "ImmunizationRecommendation" | "ImmunizationEvaluation" => Category::Immunization,
			"AllergyIntolerance" => Category::Allergy,
			"Procedure" | "ServiceRequest" | "CarePlan" => Category::Procedure,
			"ImagingStudy" | "Media" => Category::Imaging,
			"DocumentReference" | "Composition" | "Binary" | "DocumentManifest" => Category::Document,
			_ => Category::Other,
		}
	}

	/// The lowercase name used on the command line.
	pub fn as_str(self) -> &'static str {
		match self {
			Category::Observation => "observation",
			Category::Condition => "condition",
			Category::Medication => "medication",
			Category::Immunization => "immunization",
			Category::Allergy => "allergy",
			Category::Procedure => "procedure",
			Category::Imaging => "imaging",
			Category::Document => "document",
			Category::Other => "other",
		}
	}

	pub fn from_name(name: &str) -> Option<Category> {
		Category::ALL.into_iter().find(|c| c.as_str() == name)
	}
}

/// Where a record version stands.
#[derive(
	Clone, Copy, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
	Debug,
)]
pub enum RecordStatus<BlockNumber> {
	/// The latest version of its record.
	Current,
	/// An amendment replaced it; it stays readable as history.
	Superseded { by: RecordId },
	/// The patient erased the record: the ciphertext is purged everywhere and never served again.
	Erased { at: BlockNumber },
}

/// What the chain keeps about one version of a record. No content, no name, no diagnosis.
#[derive(Clone, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug)]
pub struct RecordInfo<AccountId, BlockNumber> {
	/// The patient whose record it is.
	pub patient: AccountId,
	/// The record hash of the ciphertext stored off chain ([`CiphertextHasher`]).
	pub ciphertext_hash: CiphertextHash,
	/// Size of the ciphertext in bytes.
	pub size: u64,
	pub category: Category,
	/// Epoch of the record's data key: 0 when registered, +1 at each re-encryption.
	pub key_epoch: KeyEpoch,
	/// Block at which the current data key was set (registration or last re-encryption).
	pub key_set_at: BlockNumber,
	/// Who registered this version: the patient, or staff with an append right.
	pub author: AccountId,
	pub registered_at: BlockNumber,
	/// The version this one amends.
	pub previous: Option<RecordId>,
	/// The first version of the record: grants on a record name its root and cover every version.
	pub root: RecordId,
	/// 1 for the first version, +1 per amendment.
	pub version: u32,
	pub status: RecordStatus<BlockNumber>,
}

impl<AccountId, BlockNumber> RecordInfo<AccountId, BlockNumber> {
	pub fn is_erased(&self) -> bool {
		matches!(self.status, RecordStatus::Erased { .. })
	}
}

/// Why a record's data key was rotated.
#[derive(
	Clone, Copy, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
	Debug,
)]
pub enum RotationReason {
	/// A reader's access was revoked: the remaining readers get the new key.
	Revocation,
	/// The key reached the runtime's maximum key age.
	MaximumAge,
	/// The key, or a device holding it, may be compromised.
	Compromise,
	/// The patient chose to.
	Manual,
}

/// An account's keys for receiving wrapped data keys (X25519) and signing off-chain requests to the
/// blob store (ed25519).
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct AccountKeys {
	/// X25519 public key: data keys are wrapped to it with HPKE.
	pub encryption: [u8; 32],
	/// ed25519 public key: verifies the account's signed requests to the blob store.
	pub request_signing: [u8; 32],
}

/// A registered key set and its life.
#[derive(Clone, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug)]
pub struct KeyRecord<BlockNumber> {
	pub keys: AccountKeys,
	pub epoch: KeyEpoch,
	pub registered_at: BlockNumber,
	/// Set once a rotation replaced it.
	pub retired_at: Option<BlockNumber>,
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn fhir_resource_types_map_to_their_category() {
		let cases = [
			("Observation", Category::Observation),
			("Condition", Category::Condition),
			("MedicationRequest", Category::Medication),
			("Immunization", Category::Immunization),
			("AllergyIntolerance", Category::Allergy),
			("Procedure", Category::Procedure),
			("ImagingStudy", Category::Imaging),
			("DocumentReference", Category::Document),
			("Patient", Category::Other),
		];
		for (resource_type, category) in cases {
			assert_eq!(Category::from_fhir_resource_type(resource_type), category, "{resource_type}");
		}
	}

	#[test]
	fn category_names_round_trip() {
		for category in Category::ALL {
			assert_eq!(Category::from_name(category.as_str()), Some(category));
		}
		assert_eq!(Category::from_name("diagnosis"), None);
	}

	#[test]
	fn a_format_2_ciphertext_is_named_by_blake3_any_other_bytes_by_blake2() {
		// blake2b-256 of the empty string.
		assert_eq!(
			format!("{:x}", ciphertext_hash(b"")),
			"0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
		);
		assert_ne!(ciphertext_hash(b"a"), ciphertext_hash(b"b"));
		let sealed_v1 = b"PHRC\x01 and its chunks".to_vec();
		let sealed_v2 = b"PHRC\x02 and its chunks".to_vec();
		assert_eq!(ciphertext_hash(&sealed_v1), wrapped_key_hash(&sealed_v1), "format 1: blake2-256");
		assert_eq!(ciphertext_hash(&sealed_v2), H256(*blake3::hash(&sealed_v2).as_bytes()), "format 2: BLAKE3");
		// A prefix of the format-2 prefix is not it.
		assert_eq!(ciphertext_hash(b"PHRC"), wrapped_key_hash(b"PHRC"));
	}

	#[test]
	fn the_hash_does_not_depend_on_how_the_bytes_are_split() {
		let mut data = BLAKE3_SEALED_PREFIX.to_vec();
		data.extend((0..300_000u32).map(|i| (i * 31 % 251) as u8));
		for bytes in [&data[..], &data[1..], &data[..3]] {
			let whole = ciphertext_hash(bytes);
			for split in [1usize, 2, 3, 4, 5, 7, 4096, 65_536] {
				let mut hasher = CiphertextHasher::new();
				for piece in bytes.chunks(split) {
					hasher.update(piece);
				}
				assert_eq!(hasher.finalize(), whole, "pieces of {split} bytes");
			}
		}
	}
}
