//! # PHR key cryptography
//!
//! What the wallet and the node must agree on byte for byte, and nothing hand-rolled:
//! - [`seal_to`] / [`open_with`]: HPKE (RFC 9180, base mode, X25519-HKDF-SHA256 / HKDF-SHA256 /
//!   ChaCha20-Poly1305, the `hpke` crate), single shot, with an `info` that binds the plaintext to
//!   its purpose and context (which record, which key epoch, which hospital), so a wrapped value can
//!   never be replayed as another.
//! - [`escrow`]: the threshold escrow of a record version's data key for break-glass. The key is
//!   split t-of-n among the member hospitals (Shamir's scheme over GF(256), the `blahaj` crate); each
//!   share is sealed to one hospital's escrow key; a hospital's node releases its share, sealed to the
//!   opener, only once an emergency opening is final; the opener combines t of them.

pub mod escrow;

use hpke::{
	aead::ChaCha20Poly1305 as HpkeChaCha, kdf::HkdfSha256, kem::X25519HkdfSha256, Deserializable, Kem, OpModeR,
	OpModeS, Serializable,
};
use zeroize::Zeroizing;

/// Bytes HPKE adds to a plaintext here: the encapsulated X25519 key and the AEAD tag.
pub const SEAL_OVERHEAD: usize = 32 + 16;

/// Why a seal or an open failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
	#[error("not an X25519 public key")]
	BadPublicKey,
	#[error("not an X25519 secret key")]
	BadSecretKey,
	#[error("sealing failed: {0}")]
	Seal(String),
	#[error("does not open with this key: it is for another key or context, or was altered")]
	DoesNotOpen,
	#[error("not a valid escrow share: {0}")]
	BadShare(String),
	#[error("the shares do not combine: {0}")]
	Combine(String),
}

/// An X25519 key pair for receiving sealed values.
pub struct EncryptionKey {
	secret: <X25519HkdfSha256 as Kem>::PrivateKey,
}

impl EncryptionKey {
	pub fn generate() -> EncryptionKey {
		let (secret, _) = X25519HkdfSha256::gen_keypair(&mut rand::rng());
		EncryptionKey { secret }
	}

	pub fn from_secret(bytes: &[u8; 32]) -> Result<EncryptionKey, CryptoError> {
		let secret = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(bytes).map_err(|_| CryptoError::BadSecretKey)?;
		Ok(EncryptionKey { secret })
	}

	pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
		Zeroizing::new(self.secret.to_bytes().into())
	}

	pub fn public(&self) -> [u8; 32] {
		X25519HkdfSha256::sk_to_pk(&self.secret).to_bytes().into()
	}
}

/// Seals `plaintext` to the X25519 key `recipient` under `info`: the encapsulated key, then the
/// ciphertext with its tag.
pub fn seal_to(recipient: &[u8; 32], info: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
	let public = <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(recipient).map_err(|_| CryptoError::BadPublicKey)?;
	let (encapped, sealed) = hpke::single_shot_seal::<HpkeChaCha, HkdfSha256, X25519HkdfSha256, _>(
		&OpModeS::Base,
		&public,
		info,
		plaintext,
		&[],
		&mut rand::rng(),
	)
	.map_err(|e| CryptoError::Seal(e.to_string()))?;
	let mut wrapped = encapped.to_bytes().to_vec();
	wrapped.extend_from_slice(&sealed);
	Ok(wrapped)
}

/// Opens what [`seal_to`] sealed to `mine` under the same `info`.
pub fn open_with(mine: &EncryptionKey, info: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
	if wrapped.len() < SEAL_OVERHEAD {
		return Err(CryptoError::DoesNotOpen);
	}
	let encapped =
		<X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(&wrapped[..32]).map_err(|_| CryptoError::DoesNotOpen)?;
	hpke::single_shot_open::<HpkeChaCha, HkdfSha256, X25519HkdfSha256>(
		&OpModeR::Base,
		&mine.secret,
		&encapped,
		info,
		&wrapped[32..],
		&[],
	)
	.map(Zeroizing::new)
	.map_err(|_| CryptoError::DoesNotOpen)
}

/// The `info` of a record version's data key wrapped for a reader.
pub fn data_key_info(record: u64, data_epoch: u32) -> Vec<u8> {
	context(b"phr-data-key-wrap-v1", record, data_epoch, None)
}

pub(crate) fn context(label: &[u8], record: u64, data_epoch: u32, hospital: Option<u32>) -> Vec<u8> {
	let mut info = label.to_vec();
	info.extend_from_slice(&record.to_le_bytes());
	info.extend_from_slice(&data_epoch.to_le_bytes());
	if let Some(hospital) = hospital {
		info.extend_from_slice(&hospital.to_le_bytes());
	}
	info
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn sealed_values_open_only_with_the_key_and_the_context() {
		let reader = EncryptionKey::generate();
		let other = EncryptionKey::generate();
		let sealed = seal_to(&reader.public(), &data_key_info(7, 1), b"a data key of 32 bytes, exactly!").unwrap();
		assert_eq!(sealed.len(), 32 + SEAL_OVERHEAD);
		assert_eq!(&open_with(&reader, &data_key_info(7, 1), &sealed).unwrap()[..], b"a data key of 32 bytes, exactly!");
		assert_eq!(open_with(&other, &data_key_info(7, 1), &sealed), Err(CryptoError::DoesNotOpen));
		assert_eq!(open_with(&reader, &data_key_info(8, 1), &sealed), Err(CryptoError::DoesNotOpen), "another record");
		assert_eq!(open_with(&reader, &data_key_info(7, 2), &sealed), Err(CryptoError::DoesNotOpen), "another epoch");
		let mut flipped = sealed.clone();
		flipped[40] ^= 1;
		assert_eq!(open_with(&reader, &data_key_info(7, 1), &flipped), Err(CryptoError::DoesNotOpen));
		assert_eq!(open_with(&reader, &data_key_info(7, 1), &sealed[..20]), Err(CryptoError::DoesNotOpen));
	}
}
