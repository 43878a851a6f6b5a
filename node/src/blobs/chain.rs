//! What the blob store asks the chain: keys, records and access decisions at the FINALIZED block
//! (a revocation counts once final, and so does a grant), and the events of finalized blocks.

use codec::Decode;
use pallet_access_runtime_api::AccessApi;
use pallet_consortium_runtime_api::ConsortiumApi;
use pallet_keys_runtime_api::KeysApi;
use pallet_records_runtime_api::RecordsApi;
use phr_primitives::{Decision, GuardianPowers, KeyRecord, Moment, Purpose, RecordId, RecordInfo, Right, Role};
use phr_runtime::{AccountId, BlockNumber, Hash, RuntimeEvent};
use sc_client_api::StorageProvider;
use sp_api::ProvideRuntimeApi;
use sp_blockchain::HeaderBackend;
use sp_core::storage::StorageKey;

use crate::service::FullClient;

pub type Record = RecordInfo<AccountId, BlockNumber>;

/// A runtime API call failed: the node's state is unreadable (pruned, or a runtime mismatch).
#[derive(Debug)]
pub struct ChainError(pub String);

impl std::fmt::Display for ChainError {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.write_str(&self.0)
	}
}

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
		let mut key = sp_crypto_hashing::twox_128(b"Timestamp").to_vec();
		key.extend_from_slice(&sp_crypto_hashing::twox_128(b"Now"));
		let data = self
			.client
			.storage(at, &StorageKey(key))
			.map_err(|e| ChainError(format!("cannot read the timestamp of block {at}: {e}")))?;
		// Genesis has no timestamp: nothing can be decided before block 1 anyway.
		Ok(data.and_then(|data| Moment::decode(&mut &data.0[..]).ok()).unwrap_or(0))
	}

	/// The events of block `at` (System::Events, decoded with this node's runtime types).
	pub fn events(&self, at: Hash) -> Result<Vec<RuntimeEvent>, ChainError> {
		let mut key = sp_crypto_hashing::twox_128(b"System").to_vec();
		key.extend_from_slice(&sp_crypto_hashing::twox_128(b"Events"));
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
