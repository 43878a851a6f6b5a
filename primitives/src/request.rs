//! Signed requests to a node's off-chain blob store.
//!
//! A reader (or uploader) signs, with the ed25519 request key it registered on chain, what it asks
//! for: the chain (its genesis hash), the one node that may serve it (that node's libp2p peer id),
//! the method with every parameter that changes the answer or the store, its account, the record
//! (or ciphertext), a random nonce and an expiry. The node verifies the signature, refuses a request
//! signed for another chain or another node, an expired request or a nonce it has seen, checks that
//! the signing key is the account's registered one, and asks the chain's access rules before it
//! serves a byte. The signed request, with the basis the chain gave for the read, is also the read
//! receipt a node anchors on chain ([`ReadReceipt`]).

use crate::{
	access::{Basis, BatchId, EmergencyId, Purpose},
	consortium::NodePeerId,
	records::{CiphertextHash, KeyEpoch, RecordId},
};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use ed25519_dalek::{Signature, VerifyingKey};
use scale_info::TypeInfo;
use sp_core::H256;

/// Domain separation: a signature over a blob request can never be replayed as anything else.
/// (v2: bound to a chain and a node, with the method's parameters.)
pub const REQUEST_SIGNING_CONTEXT: &[u8] = b"phr-blob-request-v2";

/// Bytes per chunk of a stored ciphertext, of an upload and of a fetch: every chunk but the last
/// is exactly this long (1 MiB keeps a node's memory flat for any size). The one definition: the
/// store, the `phr_` RPC contract (`phr-rpc-api`) and the wallet use this constant.
pub const CHUNK_SIZE: usize = 1024 * 1024;

/// What a request asks the blob store to do, with the parameters the signature must cover.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub enum BlobMethod<AccountId> {
	/// Upload a ciphertext of `size` bytes (the subject is its hash).
	UploadCiphertext { size: u64 },
	/// Store the record's data key of `data_epoch`, wrapped to `recipient`'s X25519 key of
	/// `recipient_epoch`; `wrapped` is the blake2-256 hash of the wrapped key's bytes.
	UploadWrappedKey { recipient: AccountId, data_epoch: KeyEpoch, recipient_epoch: KeyEpoch, wrapped: H256 },
	/// Read the record for `purpose`.
	Fetch { purpose: Purpose },
	Status,
	/// The receipts of anchored batch `batch` (all of them for an auditor or a member's admin; the
	/// patient's own, with proofs, for a patient or a guardian with the read power).
	Receipts { batch: BatchId },
	/// Break-glass: the node's hospital releases its escrow share of the record's data key, sealed
	/// to the signer's X25519 key, under the signer's FINAL emergency opening `emergency`.
	ReleaseShare { emergency: EmergencyId },
}

impl<AccountId> BlobMethod<AccountId> {
	/// The method's name, for messages.
	pub fn name(&self) -> &'static str {
		match self {
			BlobMethod::UploadCiphertext { .. } => "UploadCiphertext",
			BlobMethod::UploadWrappedKey { .. } => "UploadWrappedKey",
			BlobMethod::Fetch { .. } => "Fetch",
			BlobMethod::Status => "Status",
			BlobMethod::Receipts { .. } => "Receipts",
			BlobMethod::ReleaseShare { .. } => "ReleaseShare",
		}
	}
}

/// What a request is about: a registered record, a ciphertext not registered yet (an upload
/// comes before the extrinsic that registers its hash), or a patient (receipts).
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub enum BlobSubject<AccountId> {
	Record(RecordId),
	Ciphertext(CiphertextHash),
	Patient(AccountId),
}

/// The signed part of a request.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub struct BlobRequest<AccountId> {
	/// The genesis hash of the chain the request is for: no other chain's node accepts it.
	pub genesis: H256,
	/// The libp2p peer id (`PeerId::to_bytes`) of the one node that may serve it.
	pub node: NodePeerId,
	pub method: BlobMethod<AccountId>,
	/// The account on whose behalf the request is made.
	pub account: AccountId,
	pub subject: BlobSubject<AccountId>,
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
	/// Checks the signature only (strict ed25519): for a request served earlier and relayed now,
	/// such as a wrapped key's upload, whose expiry has passed since.
	pub fn verify_signature(&self) -> Result<(), RequestError> {
		let key = VerifyingKey::from_bytes(&self.signer).map_err(|_| RequestError::MalformedKey)?;
		let signature = Signature::from_bytes(&self.signature);
		key.verify_strict(&self.request.signing_payload(), &signature).map_err(|_| RequestError::BadSignature)
	}

	/// Checks the signature (strict ed25519: no malleable or small-order encodings) and the expiry
	/// against `now_ms`.
	pub fn verify(&self, now_ms: u64) -> Result<(), RequestError> {
		self.verify_signature()?;
		if self.request.expires_at_ms < now_ms {
			return Err(RequestError::Expired);
		}
		Ok(())
	}

}

/// What a node keeps of every read it served, and anchors on chain in batches: the reader's
/// signed request, the basis on which the chain allowed it, and the finalized block whose state
/// decided (so that anyone can re-run the decision there).
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub struct ReadReceipt<AccountId> {
	pub request: SignedBlobRequest<AccountId>,
	pub basis: Basis,
	pub decided_at: H256,
}

impl<AccountId: Encode> ReadReceipt<AccountId> {
	/// blake2-256 of the encoded receipt: the leaf of a read-receipt batch.
	pub fn receipt_hash(&self) -> H256 {
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
			genesis: H256::repeat_byte(1),
			node: b"node-h2".to_vec().try_into().unwrap(),
			method: BlobMethod::Fetch { purpose: Purpose::Treatment },
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
		let altered: [fn(&mut BlobRequest<u64>); 7] = [
			|r| r.subject = BlobSubject::Record(43),
			|r| r.method = BlobMethod::UploadCiphertext { size: 1 },
			|r| r.method = BlobMethod::Fetch { purpose: Purpose::Emergency },
			|r| r.genesis = H256::repeat_byte(2),
			|r| r.node = b"node-h3".to_vec().try_into().unwrap(),
			|r| r.account = 8,
			|r| r.expires_at_ms += 1,
		];
		for (i, alter) in altered.iter().enumerate() {
			let mut changed = signed.clone();
			alter(&mut changed.request);
			assert_eq!(changed.verify(0), Err(RequestError::BadSignature), "alteration {i}");
		}
		let mut other_signer = signed.clone();
		other_signer.signer = key(2).verifying_key().to_bytes();
		assert_eq!(other_signer.verify(0), Err(RequestError::BadSignature));
		let mut flipped = signed;
		flipped.signature[3] ^= 1;
		assert_eq!(flipped.verify(0), Err(RequestError::BadSignature));
	}

	#[test]
	fn wrapped_key_parameters_are_signed() {
		let upload = |data_epoch, wrapped: &[u8]| BlobRequest {
			method: BlobMethod::UploadWrappedKey {
				recipient: 5u64,
				data_epoch,
				recipient_epoch: 0,
				wrapped: crate::records::wrapped_key_hash(wrapped),
			},
			..request()
		};
		let signed = sign_request(upload(0, b"key"), &key(1));
		let mut later_epoch = signed.clone();
		later_epoch.request = upload(u32::MAX, b"key");
		assert_eq!(later_epoch.verify(0), Err(RequestError::BadSignature));
		let mut other_bytes = signed;
		other_bytes.request = upload(0, b"other key");
		assert_eq!(other_bytes.verify(0), Err(RequestError::BadSignature));
	}

	#[test]
	fn receipt_hash_commits_to_the_signature_and_the_basis() {
		let receipt = |seed, basis| ReadReceipt { request: sign_request(request(), &key(seed)), basis, decided_at: H256::zero() };
		assert_ne!(receipt(1, Basis::Grant(0)).receipt_hash(), receipt(2, Basis::Grant(0)).receipt_hash());
		assert_ne!(receipt(1, Basis::Grant(0)).receipt_hash(), receipt(1, Basis::Emergency(0)).receipt_hash());
		assert_eq!(receipt(1, Basis::Owner).receipt_hash(), receipt(1, Basis::Owner).receipt_hash());
	}
}
