//! Read receipts: a node keeps every read it served ([`ReadReceipt`]: the reader's signed request
//! and the basis of the decision) and anchors them on chain in batches,
//! as the root of a binary Merkle tree (blake2-256) over the receipts' hashes, with their count.
//! With a receipt, its index and the proof, anyone can check against the chain that the read
//! happened and was anchored; the count says how many receipts the batch holds, so a node cannot
//! later claim a shorter batch.

use crate::request::ReadReceipt;
use alloc::vec::Vec;
use codec::{Decode, Encode};
use scale_info::TypeInfo;
use sp_core::H256;
use sp_runtime::traits::BlakeTwo256;

/// A receipt's place in its batch and the sibling hashes from it to the root.
#[derive(Clone, PartialEq, Eq, Encode, Decode, TypeInfo, Debug)]
pub struct InclusionProof {
	pub leaf_index: u32,
	pub leaf_count: u32,
	pub siblings: Vec<H256>,
}

/// The Merkle root over `leaves` (receipt hashes, in serving order).
pub fn batch_root(leaves: &[H256]) -> H256 {
	binary_merkle_tree::merkle_root::<BlakeTwo256, _>(leaves.iter().map(|leaf| leaf.as_bytes()))
}

/// The proof that `leaves[index]` is in the batch; `None` when `index` is out of range.
pub fn inclusion_proof(leaves: &[H256], index: u32) -> Option<InclusionProof> {
	if index as usize >= leaves.len() {
		return None;
	}
	let proof = binary_merkle_tree::merkle_proof::<BlakeTwo256, _, _>(leaves.iter().map(|leaf| leaf.as_bytes()), index);
	Some(InclusionProof { leaf_index: index, leaf_count: leaves.len() as u32, siblings: proof.proof })
}

/// Whether `receipt` is included at the proof's index in a batch with this `root` and `count`.
pub fn verify_receipt<AccountId: Encode>(
	root: &H256,
	count: u32,
	receipt: &ReadReceipt<AccountId>,
	proof: &InclusionProof,
) -> bool {
	if proof.leaf_count != count || proof.leaf_index >= count {
		return false;
	}
	let leaf = receipt.receipt_hash();
	binary_merkle_tree::verify_proof::<BlakeTwo256, _, _>(
		root,
		proof.siblings.iter().copied(),
		count,
		proof.leaf_index,
		&leaf,
	)
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::{
		access::{Basis, Purpose},
		request::{sign_request, BlobMethod, BlobRequest, BlobSubject},
	};

	fn receipts(n: u8) -> Vec<ReadReceipt<u64>> {
		let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
		(0..n)
			.map(|i| {
				let request = BlobRequest {
					genesis: H256::repeat_byte(1),
					node: b"node".to_vec().try_into().unwrap(),
					method: BlobMethod::Fetch { purpose: Purpose::Treatment },
					account: 100 + i as u64,
					subject: BlobSubject::Record(i as u64),
					nonce: [i; 16],
					expires_at_ms: 1_000,
				};
				ReadReceipt { request: sign_request(request, &key), basis: Basis::Grant(i as u64), decided_at: H256::zero() }
			})
			.collect()
	}

	#[test]
	fn every_receipt_of_a_batch_verifies() {
		for size in [1u8, 2, 3, 7, 8, 33] {
			let batch = receipts(size);
			let leaves: Vec<H256> = batch.iter().map(|r| r.receipt_hash()).collect();
			let root = batch_root(&leaves);
			for (i, receipt) in batch.iter().enumerate() {
				let proof = inclusion_proof(&leaves, i as u32).unwrap();
				assert!(verify_receipt(&root, size as u32, receipt, &proof), "receipt {i} of {size}");
			}
			assert!(inclusion_proof(&leaves, size as u32).is_none());
		}
	}

	#[test]
	fn forged_or_altered_receipts_do_not_verify() {
		let batch = receipts(5);
		let leaves: Vec<H256> = batch.iter().map(|r| r.receipt_hash()).collect();
		let root = batch_root(&leaves);
		let proof = inclusion_proof(&leaves, 2).unwrap();

		let mut altered = batch[2].clone();
		altered.request.request.subject = BlobSubject::Record(999);
		assert!(!verify_receipt(&root, 5, &altered, &proof), "altered request");
		let mut other_basis = batch[2].clone();
		other_basis.basis = Basis::Emergency(0);
		assert!(!verify_receipt(&root, 5, &other_basis, &proof), "another basis");
		let mut altered = batch[2].clone();
		altered.request.request.subject = BlobSubject::Record(999);
		assert!(!verify_receipt(&root, 5, &altered, &proof), "altered request");

		let forged = receipts(6).pop().unwrap();
		assert!(!verify_receipt(&root, 5, &forged, &proof), "a receipt never in the batch");

		assert!(!verify_receipt(&root, 5, &batch[3], &proof), "right receipt, wrong index");
		assert!(!verify_receipt(&root, 4, &batch[2], &proof), "a shorter batch than anchored");

		let mut bad_sibling = proof.clone();
		bad_sibling.siblings[0] = H256::repeat_byte(1);
		assert!(!verify_receipt(&root, 5, &batch[2], &bad_sibling), "tampered proof");
		assert!(!verify_receipt(&H256::zero(), 5, &batch[2], &proof), "another root");
	}
}
