//! What the blob store asks the chain: keys, records and access decisions at the FINALIZED block
//! (a revocation counts once final, and so does a grant), and the events of finalized blocks.

use codec::Decode;
use pallet_access_runtime_api::AccessApi;
use pallet_consortium_runtime_api::ConsortiumApi;
use pallet_keys_runtime_api::KeysApi;
use pallet_records_runtime_api::RecordsApi;
use phr_primitives::{
	BatchId, Decision, GuardianPowers, KeyRecord, Moment, Purpose, ReceiptBatch, RecordId, RecordInfo, Right, Role,
};
use phr_runtime::{AccountId, BlockNumber, Hash, RuntimeEvent};
use sc_client_api::StorageProvider;
use sp_api::ProvideRuntimeApi;
use sp_blockchain::HeaderBackend;
use sp_core::storage::StorageKey;

use crate::service::FullClient;

pub type Record = RecordInfo<AccountId, BlockNumber>;

/// The key prefix of storage item `item` of pallet `pallet` (as named in the runtime).
fn storage_prefix(pallet: &[u8], item: &[u8]) -> [u8; 32] {
	let mut prefix = [0u8; 32];
	prefix[..16].copy_from_slice(&sp_crypto_hashing::twox_128(pallet));
	prefix[16..].copy_from_slice(&sp_crypto_hashing::twox_128(item));
	prefix
}

/// A runtime API call failed: the node's state is unreadable (pruned, or a runtime mismatch).
#[derive(Debug)]
pub struct ChainError(pub String);

impl std::fmt::Display for ChainError {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.write_str(&self.0)
	}
}

impl std::error::Error for ChainError {}

fn api_error(what: &str) -> impl Fn(sp_api::ApiError) -> ChainError + '_ {
	move |error| ChainError(format!("cannot read {what} from the chain: {error}"))
}

/// The chain as the blob store sees it.
pub struct ChainView<'a> {
	pub client: &'a FullClient,
}

impl ChainView<'_> {
	pub fn finalized(&self) -> Hash {
		self.client.info().finalized_hash
	}

	pub fn genesis(&self) -> Hash {
		self.client.info().genesis_hash
	}

	pub fn best(&self) -> Hash {
		self.client.info().best_hash
	}

	pub fn is_registered(&self, at: Hash, who: &AccountId) -> Result<bool, ChainError> {
		self.client.runtime_api().is_registered(at, who.clone()).map_err(api_error("the registry"))
	}

	pub fn current_key(&self, at: Hash, who: &AccountId) -> Result<Option<KeyRecord<BlockNumber>>, ChainError> {
		self.client.runtime_api().current_key(at, who.clone()).map_err(api_error("the account's keys"))
	}

	pub fn key_at(&self, at: Hash, who: &AccountId, epoch: u32) -> Result<Option<KeyRecord<BlockNumber>>, ChainError> {
		self.client.runtime_api().key_at(at, who.clone(), epoch).map_err(api_error("the account's keys"))
	}

	/// Every member hospital with its validator account and node peer id.
	pub fn members(&self, at: Hash) -> Result<Vec<(phr_primitives::HospitalId, AccountId, Vec<u8>)>, ChainError> {
		let members = self.client.runtime_api().members(at).map_err(api_error("the members"))?;
		Ok(members.into_iter().map(|(id, validator, node)| (id, validator, node.into_inner())).collect())
	}

	/// Whether `signer` is, or was at an earlier key epoch, `who`'s registered request key.
	pub fn was_request_key_of(&self, at: Hash, who: &AccountId, signer: &[u8; 32]) -> Result<bool, ChainError> {
		let Some(current) = self.current_key(at, who)? else { return Ok(false) };
		if current.keys.request_signing == *signer {
			return Ok(true);
		}
		for epoch in (0..current.epoch).rev() {
			let earlier = self.key_at(at, who, epoch)?;
			if earlier.is_some_and(|key| key.keys.request_signing == *signer) {
				return Ok(true);
			}
		}
		Ok(false)
	}

	/// Auditors and members' admins may read whole receipt batches (every patient's reads).
	pub fn may_read_all_receipts(&self, at: Hash, who: &AccountId) -> Result<bool, ChainError> {
		let roles = self.client.runtime_api().roles_of(at, who.clone()).map_err(api_error("the account's roles"))?;
		Ok(roles.is_some_and(|(_, roles)| roles.contains(Role::Auditor) || roles.contains(Role::Admin)))
	}

	/// The patient, and a guardian of the patient with the read power, may read the receipts of
	/// the patient's records.
	pub fn may_read_receipts_of(&self, at: Hash, who: &AccountId, patient: &AccountId) -> Result<bool, ChainError> {
		if who == patient {
			return Ok(true);
		}
		let key = pallet_access::GuardianOf::<phr_runtime::Runtime>::hashed_key_for(patient, who);
		let Some(data) = self
			.client
			.storage(at, &StorageKey(key))
			.map_err(|e| ChainError(format!("cannot read the guardians of a patient at {at}: {e}")))?
		else {
			return Ok(false);
		};
		let powers = GuardianPowers::decode(&mut &data.0[..])
			.map_err(|e| ChainError(format!("a guardianship does not decode (is this node older than the runtime?): {e}")))?;
		Ok(powers.read)
	}

	pub fn record(&self, at: Hash, id: RecordId) -> Result<Option<Record>, ChainError> {
		self.client.runtime_api().record(at, id).map_err(api_error("the record"))
	}

	pub fn record_by_hash(&self, at: Hash, hash: phr_primitives::CiphertextHash) -> Result<Option<RecordId>, ChainError> {
		self.client.runtime_api().record_by_hash(at, hash).map_err(api_error("the record of a ciphertext"))
	}

	pub fn versions(&self, at: Hash, id: RecordId) -> Result<Vec<RecordId>, ChainError> {
		self.client.runtime_api().versions(at, id).map_err(api_error("the record's versions"))
	}

	/// The one access decision, at the finalized block `at`, at the later of that block's timestamp
	/// and this node's clock: an expiry takes effect on time even while finality is stalled, and
	/// a node whose clock lags the chain still decides no later than the chain's own time.
	pub fn decide(&self, at: Hash, who: &AccountId, record: RecordId, right: Right, purpose: Purpose) -> Result<Decision, ChainError> {
		let now = self.timestamp(at)?.max(super::now_ms());
		self.client
			.runtime_api()
			.decide(at, who.clone(), record, right, purpose, now)
			.map_err(api_error("the access decision"))
	}

	/// The timestamp (unix ms) block `at` recorded (`Timestamp::Now`).
	pub fn timestamp(&self, at: Hash) -> Result<Moment, ChainError> {
		let key = storage_prefix(b"Timestamp", b"Now").to_vec();
		let data = self
			.client
			.storage(at, &StorageKey(key))
			.map_err(|e| ChainError(format!("cannot read the timestamp of block {at}: {e}")))?;
		// Genesis has no timestamp: nothing can be decided before block 1 anyway.
		Ok(data.and_then(|data| Moment::decode(&mut &data.0[..]).ok()).unwrap_or(0))
	}

	/// Every record version at `at`, with its id: the whole `Records::RecordOf` map, read from
	/// storage (the runtime API answers one record at a time).
	pub fn all_records(&self, at: Hash) -> Result<Vec<(RecordId, Record)>, ChainError> {
		let prefix = storage_prefix(b"Records", b"RecordOf");
		let pairs = self
			.client
			.storage_pairs(at, Some(&StorageKey(prefix.to_vec())), None)
			.map_err(|e| ChainError(format!("cannot list the records at {at}: {e}")))?;
		let records = pairs
			.map(|(key, value)| {
				// prefix ++ blake2_128(id) ++ id
				let id = key.0.get(prefix.len() + 16..).and_then(|mut tail| RecordId::decode(&mut tail).ok());
				let record = Record::decode(&mut &value.0[..]).ok();
				id.zip(record).ok_or_else(|| {
					ChainError(format!("a record at {at} does not decode (is this node older than the runtime?)"))
				})
			})
			.collect::<Result<Vec<_>, _>>()?;
		// Versions are never removed (an erased one keeps its entry): ids 0..NextRecordId. A store
		// that trusted a short list would purge what is still live.
		let next = self
			.client
			.storage(at, &StorageKey(storage_prefix(b"Records", b"NextRecordId").to_vec()))
			.map_err(|e| ChainError(format!("cannot read the next record id at {at}: {e}")))?
			.map_or(Ok(0), |data| RecordId::decode(&mut &data.0[..]))
			.map_err(|e| ChainError(format!("the next record id at {at} does not decode: {e}")))?;
		if records.len() as u64 != next {
			return Err(ChainError(format!(
				"found {} records at {at} where the chain has registered {next} (is this node older than the runtime?)",
				records.len()
			)));
		}
		Ok(records)
	}

	/// The anchored receipt batch with `root` and `count`, if the chain holds one at `at`.
	pub fn anchored_batch(&self, at: Hash, root: sp_core::H256, count: u32) -> Result<Option<BatchId>, ChainError> {
		let prefix = storage_prefix(b"Access", b"ReceiptBatchOfId");
		let pairs = self
			.client
			.storage_pairs(at, Some(&StorageKey(prefix.to_vec())), None)
			.map_err(|e| ChainError(format!("cannot list the receipt batches at {at}: {e}")))?;
		for (key, value) in pairs {
			// prefix ++ twox64(id) ++ id
			let id = key.0.get(prefix.len() + 8..).and_then(|mut tail| BatchId::decode(&mut tail).ok());
			let batch = ReceiptBatch::<AccountId, BlockNumber>::decode(&mut &value.0[..]).ok();
			let (Some(id), Some(batch)) = (id, batch) else {
				return Err(ChainError(format!("a receipt batch at {at} does not decode (is this node older than the runtime?)")));
			};
			if batch.root == root && batch.count == count {
				return Ok(Some(id));
			}
		}
		Ok(None)
	}

	/// The events of block `at` (System::Events, decoded with this node's runtime types).
	pub fn events(&self, at: Hash) -> Result<Vec<RuntimeEvent>, ChainError> {
		let key = storage_prefix(b"System", b"Events").to_vec();
		let Some(data) = self
			.client
			.storage(at, &StorageKey(key))
			.map_err(|e| ChainError(format!("cannot read the events of block {at}: {e}")))?
		else {
			return Ok(Vec::new());
		};
		let records = Vec::<frame_system::EventRecord<RuntimeEvent, Hash>>::decode(&mut &data.0[..])
			.map_err(|e| ChainError(format!("the events of block {at} do not decode (is this node older than the runtime?): {e}")))?;
		Ok(records.into_iter().map(|record| record.event).collect())
	}
}
