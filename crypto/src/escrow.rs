//! Threshold escrow of data keys, for break-glass without pre-distributed keys.
//!
//! Nobody holds an emergency copy of a data key. The patient's wallet splits each record version's
//! data key into one share per member hospital, t of which recover it ([`threshold`]), and seals
//! each share to that hospital's escrow key (the X25519 key registered on chain for the hospital's
//! validator account, whose secret only the hospital's node holds). When an emergency opening is
//! final, each hospital's node opens its own share and seals it again, to the opener's X25519 key
//! ([`reseal_for_opener`]); the opener's wallet combines t released shares ([`combine`]).
//! Fewer than t hospitals together learn nothing about the key (Shamir's scheme is perfectly
//! hiding below the threshold).
//!
//! A share's plaintext is SCALE-encoded [`Share`]: the threshold, the share's x coordinate and the
//! 32 bytes of y. Each sealed share is bound (HPKE `info`) to its record, data-key epoch and
//! hospital, so a share cannot be passed off as another record's or another hospital's.

use codec::{Decode, Encode};
use zeroize::Zeroizing;

use crate::{context, open_with, seal_to, CryptoError, EncryptionKey};

/// The shares that recover a key escrowed among `members` hospitals: all but the
/// f = ⌊(members − 1) / 3⌋ that GRANDPA tolerates being faulty (4 members: 3 of 4). So a break-glass
/// opening still succeeds whenever the chain can finalize it, and no f colluding hospitals (f ≥ 1
/// from 4 members on) ever reach the threshold: with up to one dishonest member, t ≥ 2 suffices.
pub fn threshold(members: u32) -> u32 {
	members.saturating_sub(members.saturating_sub(1) / 3).max(1)
}

/// One share of a data key.
#[derive(Clone, PartialEq, Eq, Encode, Decode)]
pub struct Share {
	/// Shares needed to recover the key.
	pub threshold: u8,
	/// The share's x coordinate (1..=255), distinct per hospital.
	pub x: u8,
	pub y: [u8; 32],
}

impl core::fmt::Debug for Share {
	fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
		write!(f, "Share {{ threshold: {}, x: {}, y: <secret> }}", self.threshold, self.x)
	}
}

impl Drop for Share {
	fn drop(&mut self) {
		zeroize::Zeroize::zeroize(&mut self.y);
	}
}

/// Splits `key` into `count` shares, any `threshold` of which recover it.
pub fn split(key: &[u8; 32], threshold: u8, count: u8) -> Result<Vec<Share>, CryptoError> {
	if threshold == 0 || threshold > count {
		return Err(CryptoError::BadShare(format!("a threshold of {threshold} of {count} shares")));
	}
	blahaj::Sharks(threshold)
		.dealer(key)
		.take(count as usize)
		.map(|share| {
			let bytes = Zeroizing::new(Vec::<u8>::from(&share));
			let (x, y) = bytes.split_first().ok_or_else(|| CryptoError::BadShare("an empty share".into()))?;
			let y: [u8; 32] = y.try_into().map_err(|_| CryptoError::BadShare("a share of the wrong length".into()))?;
			Ok(Share { threshold, x: *x, y })
		})
		.collect()
}

/// Recovers the key from at least `threshold` shares of distinct x (extra ones are ignored).
pub fn combine(shares: &[Share]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
	let threshold = shares.first().ok_or_else(|| CryptoError::Combine("no shares".into()))?.threshold;
	if shares.iter().any(|s| s.threshold != threshold) {
		return Err(CryptoError::Combine("the shares name different thresholds".into()));
	}
	let mut distinct: Vec<&Share> = Vec::new();
	for share in shares {
		if share.x == 0 {
			return Err(CryptoError::Combine("a share at x = 0".into()));
		}
		if !distinct.iter().any(|s| s.x == share.x) {
			distinct.push(share);
		}
	}
	if distinct.len() < threshold as usize || threshold == 0 {
		return Err(CryptoError::Combine(format!("{} distinct shares, {threshold} needed", distinct.len())));
	}
	let parsed = distinct[..threshold as usize]
		.iter()
		.map(|share| {
			let mut bytes = Zeroizing::new(Vec::with_capacity(33));
			bytes.push(share.x);
			bytes.extend_from_slice(&share.y);
			blahaj::Share::try_from(&bytes[..]).map_err(|e| CryptoError::Combine(e.to_string()))
		})
		.collect::<Result<Vec<_>, _>>()?;
	let secret = Zeroizing::new(
		blahaj::Sharks(threshold).recover(parsed.iter()).map_err(|e| CryptoError::Combine(e.to_string()))?,
	);
	let mut key = Zeroizing::new([0u8; 32]);
	if secret.len() != 32 {
		return Err(CryptoError::Combine("the recovered key is not 32 bytes".into()));
	}
	key.copy_from_slice(&secret);
	Ok(key)
}

fn share_info(record: u64, data_epoch: u32, hospital: u32) -> Vec<u8> {
	context(b"phr-escrow-share-v1", record, data_epoch, Some(hospital))
}

fn release_info(record: u64, data_epoch: u32, hospital: u32) -> Vec<u8> {
	context(b"phr-escrow-release-v1", record, data_epoch, Some(hospital))
}

/// Seals `share` of `record`'s data key of `data_epoch` to `hospital`'s escrow key (the wallet).
pub fn seal_share(share: &Share, escrow_key: &[u8; 32], record: u64, data_epoch: u32, hospital: u32) -> Result<Vec<u8>, CryptoError> {
	seal_to(escrow_key, &share_info(record, data_epoch, hospital), &Zeroizing::new(share.encode()))
}

fn decode_share(plain: &[u8]) -> Result<Share, CryptoError> {
	let share = Share::decode(&mut &plain[..]).map_err(|e| CryptoError::BadShare(e.to_string()))?;
	if share.x == 0 || share.threshold == 0 {
		return Err(CryptoError::BadShare("x and the threshold are at least 1".into()));
	}
	Ok(share)
}

/// Opens a share sealed to `hospital`'s escrow key with that key.
pub fn open_share(escrow: &EncryptionKey, sealed_share: &[u8], record: u64, data_epoch: u32, hospital: u32) -> Result<Share, CryptoError> {
	decode_share(&open_with(escrow, &share_info(record, data_epoch, hospital), sealed_share)?)
}

/// The hospital's node: opens its sealed share with its escrow key and seals it again to the
/// opener's X25519 key. The node sees the share (one of t), never the data key.
pub fn reseal_for_opener(
	escrow: &EncryptionKey,
	sealed_share: &[u8],
	record: u64,
	data_epoch: u32,
	hospital: u32,
	opener_key: &[u8; 32],
) -> Result<Vec<u8>, CryptoError> {
	let share = open_share(escrow, sealed_share, record, data_epoch, hospital)?;
	seal_to(opener_key, &release_info(record, data_epoch, hospital), &Zeroizing::new(share.encode()))
}

/// The opener's wallet: opens a share `hospital`'s node released to it.
pub fn open_released(mine: &EncryptionKey, released: &[u8], record: u64, data_epoch: u32, hospital: u32) -> Result<Share, CryptoError> {
	let plain = open_with(mine, &release_info(record, data_epoch, hospital), released)?;
	decode_share(&plain)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn thresholds_follow_the_faults_grandpa_tolerates() {
		let table = [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (6, 5), (7, 5), (10, 7)];
		for (members, t) in table {
			assert_eq!(threshold(members), t, "{members} members");
		}
	}

	#[test]
	fn any_threshold_of_shares_recover_the_key_and_fewer_do_not() {
		let key = [42u8; 32];
		let shares = split(&key, 3, 4).unwrap();
		assert_eq!(shares.len(), 4);
		for skip in 0..4 {
			let three: Vec<Share> = shares.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, s)| s.clone()).collect();
			assert_eq!(*combine(&three).unwrap(), key, "without share {skip}");
		}
		assert!(combine(&shares[..2]).is_err(), "two of a 3-of-4 split");
		let duplicated = vec![shares[0].clone(), shares[0].clone(), shares[1].clone()];
		assert!(combine(&duplicated).is_err(), "the same share twice counts once");
		let mut forged = shares[..3].to_vec();
		forged[1].y[0] ^= 1;
		assert_ne!(*combine(&forged).unwrap(), key, "an altered share gives another key (the record's AEAD then fails)");
		assert!(split(&key, 0, 4).is_err() && split(&key, 5, 4).is_err());
	}

	#[test]
	fn splitting_the_same_key_twice_gives_fresh_shares() {
		// Below the threshold Shamir's scheme is perfectly hiding only if every split draws fresh
		// random coefficients: the same key split twice gives unrelated shares.
		let key = [7u8; 32];
		let a = split(&key, 3, 4).unwrap();
		let b = split(&key, 3, 4).unwrap();
		assert_ne!(a[0].y, b[0].y);
		assert_ne!(a[1].y, b[1].y);
	}

	#[test]
	fn a_share_travels_from_patient_to_hospital_to_opener_bound_to_its_context() {
		let hospital_key = EncryptionKey::generate();
		let opener = EncryptionKey::generate();
		let share = split(&[9u8; 32], 3, 4).unwrap().remove(1);
		let sealed = seal_share(&share, &hospital_key.public(), 5, 2, 3).unwrap();
		let released = reseal_for_opener(&hospital_key, &sealed, 5, 2, 3, &opener.public()).unwrap();
		assert_eq!(open_released(&opener, &released, 5, 2, 3).unwrap(), share);
		// Another hospital's context, record or epoch does not open.
		assert!(reseal_for_opener(&hospital_key, &sealed, 5, 2, 4, &opener.public()).is_err());
		assert!(reseal_for_opener(&hospital_key, &sealed, 6, 2, 3, &opener.public()).is_err());
		assert!(open_released(&opener, &released, 5, 3, 3).is_err());
		// The hospital's key cannot open what was released to the opener, nor can another opener.
		assert!(open_released(&hospital_key, &released, 5, 2, 3).is_err());
		assert!(open_released(&EncryptionKey::generate(), &released, 5, 2, 3).is_err());
	}
}
