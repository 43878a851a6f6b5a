//! Signed requests to a node's off-chain blob store.
//!
//! A reader (or uploader) signs, with the ed25519 request key it registered on chain, what it asks
//! for: the method, its account, the record (or ciphertext), a random nonce and an expiry. The node verifies the
//! signature, refuses an expired request or a nonce it has seen, checks that the signing key is the
//! account's registered one, and asks the chain's access rules before it serves a byte. The signed
//! request is also the read receipt a node anchors on chain.

use crate::records::{CiphertextHash, RecordId};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use ed25519_dalek::{Signature, VerifyingKey};
use scale_info::TypeInfo;

/// Domain separation: a signature over a blob request can never be replayed as anything else.
pub const REQUEST_SIGNING_CONTEXT: &[u8] = b"phr-blob-request-v1";

/// What a request asks the blob store to do.
#[derive(
	Clone, Copy, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
	Debug,
)]
pub enum BlobMethod {
	UploadCiphertext,
	UploadWrappedKey,
	Fetch,
	Status,
}

/// What a request is about: a registered record, or a ciphertext not registered yet (an upload
/// comes before the extrinsic that registers its hash).
#[derive(
	Clone, Copy, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub enum BlobSubject {
	Record(RecordId),
	Ciphertext(CiphertextHash),
}

/// The signed part of a request.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub struct BlobRequest<AccountId> {
	pub method: BlobMethod,
	/// The account on whose behalf the request is made.
	pub account: AccountId,
	pub subject: BlobSubject,
	/// Random, never reused by the signer: the node refuses a nonce it has already seen.
	pub nonce: [u8; 16],
	/// Unix time in milliseconds after which the node refuses the request.
	pub expires_at_ms: u64,
}

impl<AccountId: Encode> BlobRequest<AccountId> {
	/// The exact bytes that are signed.
	pub fn signing_payload(&self) -> alloc::vec::Vec<u8> {
		(REQUEST_SIGNING_CONTEXT, self).encode()
	}
}

/// A request with its signer's ed25519 public key and signature.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub struct SignedBlobRequest<AccountId> {
	pub request: BlobRequest<AccountId>,
	/// ed25519 public key that signed; must be the account's registered request key.
	pub signer: [u8; 32],
	pub signature: [u8; 64],
}

/// Why a signed request was refused before any chain rule was asked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RequestError {
	/// The public key is not a valid ed25519 point.
	MalformedKey,
	/// The signature does not verify over the request with that key.
	BadSignature,
	/// The request's expiry is in the past.
	Expired,
}

impl<AccountId: Encode> SignedBlobRequest<AccountId> {
	/// Checks the signature (strict ed25519: no malleable or small-order encodings) and the expiry
	/// against `now_ms`.
	pub fn verify(&self, now_ms: u64) -> Result<(), RequestError> {
		let key = VerifyingKey::from_bytes(&self.signer).map_err(|_| RequestError::MalformedKey)?;
		let signature = Signature::from_bytes(&self.signature);
		key.verify_strict(&self.request.signing_payload(), &signature)
			.map_err(|_| RequestError::BadSignature)?;
		if self.request.expires_at_ms < now_ms {
			return Err(RequestError::Expired);
		}
		Ok(())
	}

	/// blake2-256 of the encoded signed request: the leaf of a read-receipt batch.
	pub fn receipt_hash(&self) -> sp_core::H256 {
		<sp_runtime::traits::BlakeTwo256 as sp_runtime::traits::Hash>::hash_of(self)
	}
}

/// Signs `request` with `key` (wallets and tests; the node only verifies).
#[cfg(feature = "std")]
pub fn sign_request<AccountId: Encode>(
	request: BlobRequest<AccountId>,
	key: &ed25519_dalek::SigningKey,
) -> SignedBlobRequest<AccountId> {
	use ed25519_dalek::Signer;
	let signature = key.sign(&request.signing_payload()).to_bytes();
	SignedBlobRequest { request, signer: key.verifying_key().to_bytes(), signature }
}

#[cfg(test)]
mod tests {
	use super::*;
	use ed25519_dalek::SigningKey;

	fn key(seed: u8) -> SigningKey {
		SigningKey::from_bytes(&[seed; 32])
	}

	fn request() -> BlobRequest<u64> {
		BlobRequest {
			method: BlobMethod::Fetch,
			account: 7,
			subject: BlobSubject::Record(42),
			nonce: [9; 16],
			expires_at_ms: 1_000,
		}
	}

	#[test]
	fn signed_request_verifies_before_expiry() {
		let signed = sign_request(request(), &key(1));
		assert_eq!(signed.verify(999), Ok(()));
		assert_eq!(signed.verify(1_000), Ok(()));
		assert_eq!(signed.verify(1_001), Err(RequestError::Expired));
	}

	#[test]
	fn altered_request_or_other_key_fails() {
		let signed = sign_request(request(), &key(1));
		let mut other_record = signed.clone();
		other_record.request.subject = BlobSubject::Record(43);
		assert_eq!(other_record.verify(0), Err(RequestError::BadSignature));
		let mut other_method = signed.clone();
		other_method.request.method = BlobMethod::UploadCiphertext;
		assert_eq!(other_method.verify(0), Err(RequestError::BadSignature));
		let mut other_signer = signed.clone();
		other_signer.signer = key(2).verifying_key().to_bytes();
		assert_eq!(other_signer.verify(0), Err(RequestError::BadSignature));
		let mut flipped = signed;
		flipped.signature[3] ^= 1;
		assert_eq!(flipped.verify(0), Err(RequestError::BadSignature));
	}

	#[test]
	fn receipt_hash_commits_to_the_signature() {
		let a = sign_request(request(), &key(1));
		let b = sign_request(request(), &key(2));
		assert_ne!(a.receipt_hash(), b.receipt_hash());
		assert_eq!(a.receipt_hash(), a.clone().receipt_hash());
	}
}
