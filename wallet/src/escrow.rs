//! Break-glass without pre-distributed keys: the wallet's side of the threshold escrow.
//!
//! When a patient's wallet creates a record version's data key, it splits the key into one share
//! per member hospital, t of which recover it (`phr_crypto::escrow::threshold`: 3 of 4), and stores
//! each share sealed to that hospital's escrow key (the X25519 key the hospital's node registered
//! for its validator account), like a wrapped data key. No account, and no fewer than t hospitals
//! together, can open the record in advance.
//!
//! When an emergency opener reads with `--purpose emergency`, it holds no wrapped key: its wallet
//! signs one `ReleaseShare` request per member node and hands them to the node it talks to, which
//! relays them. Each node releases its share, sealed to the opener, only once the opening is final,
//! and receipts the release. The wallet opens the shares and combines t of them; a share that a
//! dishonest hospital altered gives a key the record's AEAD refuses, so the wallet tries the other
//! combinations of t before it gives up.

use std::io::BufReader;

use phr_crypto::escrow::{self, Share};
use phr_primitives::{BlobMethod, BlobSubject, HospitalId, NodePeerId, RecordId};
use phr_runtime::AccountId;
use phr_rpc_api::{Bytes, PhrApiClient};

use crate::{
	blobs,
	client::Node,
	crypto::{self, DataKey},
	error::{Result, WalletError},
	keyfile::Wallet,
};

/// The member hospitals at the finalized block: id, validator (escrow) account, node peer id.
/// Proven complete: a node cannot leave a hospital out (or put one in).
pub fn members(node: &Node) -> Result<Vec<(HospitalId, AccountId, NodePeerId)>> {
	use frame_support::storage::StoragePrefixedMap;
	let state = node.proven()?;
	state.prove_prefix(&pallet_consortium::Members::<phr_runtime::Runtime>::final_prefix())?;
	state.run(pallet_consortium::Pallet::<phr_runtime::Runtime>::members)
}

/// A member hospital's escrow agent: its id, its validator account and that account's key.
pub type Agent = (HospitalId, AccountId, Option<phr_primitives::KeyRecord<phr_runtime::BlockNumber>>);

/// The member hospitals' escrow agents and their keys, proven.
pub fn agents(node: &Node) -> Result<Vec<Agent>> {
	let state = node.proven()?;
	let mut agents = Vec::new();
	for (hospital, agent, _) in members(node)? {
		let keys = state.value(pallet_keys::KeyOf::<phr_runtime::Runtime>::hashed_key_for(&agent))?;
		agents.push((hospital, agent, keys));
	}
	Ok(agents)
}

/// Splits `key` (of `record`'s data-key epoch `data_epoch`) among the member hospitals `agents`
/// (read once for many records) and stores each share sealed to its hospital's escrow key. Returns
/// the hospitals that have no escrow key registered yet (their shares are missing: break-glass then
/// needs the others).
pub fn escrow_key_to(node: &Node, wallet: &Wallet, record: RecordId, data_epoch: u32, key: &DataKey, agents: &[Agent]) -> Result<Vec<HospitalId>> {
	let count = u8::try_from(agents.len()).map_err(|_| WalletError::Usage("more than 255 member hospitals".into()))?;
	let threshold = escrow::threshold(agents.len() as u32) as u8;
	let shares = escrow::split(key.bytes(), threshold, count)?;
	let mut missing = Vec::new();
	for ((hospital, agent, keys), share) in agents.iter().zip(&shares) {
		let Some(keys) = keys else {
			missing.push(*hospital);
			continue;
		};
		let sealed = escrow::seal_share(share, &keys.keys.encryption, record, data_epoch, *hospital)?;
		// One hospital's refusal must not cost the others their shares: report it and go on.
		if blobs::put_wrapped(node, wallet, record, data_epoch, agent, keys.epoch, &sealed).is_err() {
			missing.push(*hospital);
		}
	}
	Ok(missing)
}

/// The emergency opening a node's `basis` answer names ("Emergency(<id>)").
fn emergency_of(basis: &str) -> Result<u64> {
	basis
		.strip_prefix("Emergency(")
		.and_then(|rest| rest.strip_suffix(')'))
		.and_then(|id| id.parse().ok())
		.ok_or_else(|| {
			WalletError::Usage(format!(
				"the node allowed this read as {basis}, not under an emergency opening: open one with `phr emergency open`"
			))
		})
}

/// The data key of `record` (epoch `data_epoch`) recovered from the escrow shares the member
/// hospitals release to this wallet under its final emergency opening; checked against the
/// fetched `ciphertext`.
pub fn released_key(
	node: &Node,
	wallet: &Wallet,
	record: RecordId,
	data_epoch: u32,
	basis: &str,
	ciphertext: &tempfile::NamedTempFile,
) -> Result<DataKey> {
	let emergency = emergency_of(basis)?;
	let members = members(node)?;
	let mut requests = Vec::new();
	for (_, _, peer) in &members {
		let request = node.request_for(wallet, peer.clone(), BlobMethod::ReleaseShare { emergency }, BlobSubject::Record(record))?;
		requests.push(Bytes(codec::Encode::encode(&request)));
	}
	let answers = node.wait("phr_releaseShares", node.phr().release_shares(requests))?;
	let mut shares: Vec<Share> = Vec::new();
	let mut refusals = Vec::new();
	for ((hospital, ..), answer) in members.iter().zip(&answers) {
		let Some(share) = &answer.share else {
			refusals.push(format!("hospital {hospital}: {}", answer.error.as_deref().unwrap_or("no answer")));
			continue;
		};
		let recipient_epoch = share.recipient_epoch;
		let opened = wallet
			.encryption_key(recipient_epoch)?
			.ok_or_else(|| WalletError::Crypto(format!("a share was sealed to key epoch {recipient_epoch}, which this wallet does not hold")))
			.and_then(|mine| {
				let epoch = share.data_epoch;
				if epoch != data_epoch {
					return Err(WalletError::Corrupt(format!("a share of data-key epoch {epoch}, not {data_epoch}")));
				}
				Ok(escrow::open_released(&mine, &share.sealed, record, data_epoch, *hospital)?)
			});
		match opened {
			Ok(share) => shares.push(share),
			Err(error) => refusals.push(format!("hospital {hospital}: its share does not open ({error})")),
		}
	}
	// A share's threshold is what the patient's wallet wrote into it; a dishonest hospital may
	// claim another one. Each claimed threshold is tried with the shares that agree on it.
	let mut thresholds: Vec<usize> = shares.iter().map(|s| s.threshold as usize).collect();
	thresholds.sort();
	thresholds.dedup();
	let expected = escrow::threshold(members.len() as u32) as usize;
	if !thresholds.iter().any(|t| shares.iter().filter(|s| s.threshold as usize == *t).count() >= *t) {
		return Err(WalletError::Usage(format!(
			"break-glass needs the escrow shares of {expected} hospitals and {} released theirs ({}): the others must be \
			 online and have finalized your opening; try again shortly",
			shares.len(),
			refusals.join("; ")
		)));
	}
	for threshold in thresholds {
		let agreeing: Vec<&Share> = shares.iter().filter(|s| s.threshold as usize == threshold).collect();
		for subset in subsets(agreeing.len(), threshold) {
			let chosen: Vec<Share> = subset.iter().map(|&i| agreeing[i].clone()).collect();
			let Ok(bytes) = escrow::combine(&chosen) else { continue };
			let key = DataKey::from_bytes(bytes);
			if opens(&key, ciphertext)? {
				return Ok(key);
			}
		}
	}
	Err(WalletError::Corrupt(format!(
		"the {} released shares of record {record} do not combine into its data key: a hospital released a false share",
		shares.len()
	)))
}

/// Whether `key` opens the whole ciphertext (every chunk authenticates).
fn opens(key: &DataKey, ciphertext: &tempfile::NamedTempFile) -> Result<bool> {
	let mut input = BufReader::new(ciphertext.reopen()?);
	Ok(crypto::open(key, &mut input, &mut std::io::sink(), |_| {}).is_ok())
}

/// Every `k`-subset of `0..n`, in lexicographic order.
fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
	fn extend(start: usize, n: usize, k: usize, current: &mut Vec<usize>, all: &mut Vec<Vec<usize>>) {
		if current.len() == k {
			all.push(current.clone());
			return;
		}
		for i in start..n {
			current.push(i);
			extend(i + 1, n, k, current, all);
			current.pop();
		}
	}
	let mut all = Vec::new();
	extend(0, n, k, &mut Vec::new(), &mut all);
	all
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn subsets_of_three_of_four() {
		assert_eq!(subsets(4, 3), vec![vec![0, 1, 2], vec![0, 1, 3], vec![0, 2, 3], vec![1, 2, 3]]);
		assert_eq!(subsets(2, 3), Vec::<Vec<usize>>::new());
	}

	#[test]
	fn the_emergency_opening_is_read_from_the_basis() {
		assert_eq!(emergency_of("Emergency(12)").unwrap(), 12);
		assert!(emergency_of("Grant(3)").is_err());
		assert!(emergency_of("Emergency(x)").is_err());
	}

	#[test]
	fn a_key_split_for_escrow_is_recovered_and_opens_its_record() {
		let key = DataKey::random();
		let sealed = blobs::seal(&mut &b"an emergency record"[..], 19, true).unwrap();
		let shares = escrow::split(sealed.key.bytes(), 3, 4).unwrap();
		let recovered = DataKey::from_bytes(escrow::combine(&shares[1..]).unwrap());
		assert!(opens(&recovered, &sealed.file).unwrap());
		assert!(!opens(&key, &sealed.file).unwrap(), "another key does not open it");
	}
}
