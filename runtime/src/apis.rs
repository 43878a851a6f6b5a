//! The runtime APIs: what the node and clients may ask the runtime, at any block.

use alloc::vec::Vec;
use frame_support::genesis_builder_helper::{build_state, get_preset};
#[cfg(feature = "try-runtime")]
use frame_support::weights::Weight;
use pallet_grandpa::AuthorityId as GrandpaId;
use phr_primitives::{
	AuditEntry, BatchId, CiphertextHash, Decision, Grant, GrantId, HospitalId, KeyEpoch, KeyRecord, Moment,
	NodePeerId, Purpose, ReceiptBatch, RecordId, RecordInfo, Right, RoleSet,
};
use sp_api::impl_runtime_apis;
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_core::{crypto::KeyTypeId, OpaqueMetadata};
use sp_runtime::{
	traits::{Block as BlockT, NumberFor},
	transaction_validity::{TransactionSource, TransactionValidity},
	ApplyExtrinsicResult,
};
use sp_version::RuntimeVersion;

use super::{
	Access, AccountId, Aura, Block, BlockNumber, Consortium, Executive, Grandpa, InherentDataExt, Keys,
	Nonce, Records, Runtime, RuntimeGenesisConfig, SessionKeys, System, VERSION,
};

/// Most entries a paged runtime API returns per call, whatever the caller asks for.
const MAX_PAGE: u32 = 1_000;

/// Runs `f` on the state the next block will see. In the block that enacted a runtime upgrade the
/// new code already answers, but the upgrade's migrations run only when the next block starts:
/// before them, an item whose layout changed does not decode (a patient would look unregistered
/// to the transaction pool, which would refuse and ban its transactions, with every later nonce;
/// `wallet/tests/governance.rs` caught exactly that). So in that one block, transaction validation
/// and the PHR runtime APIs first run the pending migrations; their writes stay in this call's
/// overlay, which is discarded. Otherwise the cost is one read.
fn migrated<R>(f: impl FnOnce() -> R) -> R {
	let pending = frame_system::LastRuntimeUpgrade::<Runtime>::get().map_or(true, |last| last.was_upgraded(&VERSION));
	if pending {
		Executive::execute_on_runtime_upgrade();
	}
	f()
}

impl_runtime_apis! {
	impl sp_api::Core<Block> for Runtime {
		fn version() -> RuntimeVersion {
			VERSION
		}

		fn execute_block(block: <Block as BlockT>::LazyBlock) {
			Executive::execute_block(block);
		}

		fn initialize_block(header: &<Block as BlockT>::Header) -> sp_runtime::ExtrinsicInclusionMode {
			Executive::initialize_block(header)
		}
	}

	impl sp_api::Metadata<Block> for Runtime {
		fn metadata() -> OpaqueMetadata {
			OpaqueMetadata::new(Runtime::metadata().into())
		}

		fn metadata_at_version(version: u32) -> Option<OpaqueMetadata> {
			Runtime::metadata_at_version(version)
		}

		fn metadata_versions() -> Vec<u32> {
			Runtime::metadata_versions()
		}
	}

	impl sp_block_builder::BlockBuilder<Block> for Runtime {
		fn apply_extrinsic(extrinsic: <Block as BlockT>::Extrinsic) -> ApplyExtrinsicResult {
			Executive::apply_extrinsic(extrinsic)
		}

		fn finalize_block() -> <Block as BlockT>::Header {
			Executive::finalize_block()
		}

		fn inherent_extrinsics(data: sp_inherents::InherentData) -> Vec<<Block as BlockT>::Extrinsic> {
			data.create_extrinsics()
		}

		fn check_inherents(
			block: <Block as BlockT>::LazyBlock,
			data: sp_inherents::InherentData,
		) -> sp_inherents::CheckInherentsResult {
			data.check_extrinsics(&block)
		}
	}

	impl sp_transaction_pool::runtime_api::TaggedTransactionQueue<Block> for Runtime {
		fn validate_transaction(
			source: TransactionSource,
			tx: <Block as BlockT>::Extrinsic,
			block_hash: <Block as BlockT>::Hash,
		) -> TransactionValidity {
			migrated(|| Executive::validate_transaction(source, tx, block_hash))
		}
	}

	impl sp_offchain::OffchainWorkerApi<Block> for Runtime {
		fn offchain_worker(header: &<Block as BlockT>::Header) {
			Executive::offchain_worker(header)
		}
	}

	impl sp_consensus_aura::AuraApi<Block, AuraId> for Runtime {
		fn slot_duration() -> sp_consensus_aura::SlotDuration {
			sp_consensus_aura::SlotDuration::from_millis(Aura::slot_duration())
		}

		fn authorities() -> Vec<AuraId> {
			pallet_aura::Authorities::<Runtime>::get().into_inner()
		}
	}

	impl sp_session::SessionKeys<Block> for Runtime {
		fn generate_session_keys(owner: Vec<u8>, seed: Option<Vec<u8>>) -> sp_session::OpaqueGeneratedSessionKeys {
			SessionKeys::generate(&owner, seed).into()
		}

		fn decode_session_keys(encoded: Vec<u8>) -> Option<Vec<(Vec<u8>, KeyTypeId)>> {
			SessionKeys::decode_into_raw_public_keys(&encoded)
		}
	}

	impl sp_consensus_grandpa::GrandpaApi<Block> for Runtime {
		fn grandpa_authorities() -> sp_consensus_grandpa::AuthorityList {
			Grandpa::grandpa_authorities()
		}

		fn current_set_id() -> sp_consensus_grandpa::SetId {
			Grandpa::current_set_id()
		}

		fn submit_report_equivocation_unsigned_extrinsic(
			_equivocation_proof: sp_consensus_grandpa::EquivocationProof<
				<Block as BlockT>::Hash,
				NumberFor<Block>,
			>,
			_key_owner_proof: sp_consensus_grandpa::OpaqueKeyOwnershipProof,
		) -> Option<()> {
			None
		}

		fn generate_key_ownership_proof(
			_set_id: sp_consensus_grandpa::SetId,
			_authority_id: GrandpaId,
		) -> Option<sp_consensus_grandpa::OpaqueKeyOwnershipProof> {
			// `KeyOwnerProof` is `Void`: there is no proof to give.
			None
		}
	}

	impl frame_system_rpc_runtime_api::AccountNonceApi<Block, AccountId, Nonce> for Runtime {
		fn account_nonce(account: AccountId) -> Nonce {
			System::account_nonce(account)
		}
	}

	#[api_version(3)]
	impl pallet_consortium_runtime_api::ConsortiumApi<Block, AccountId> for Runtime {
		fn member_nodes() -> Vec<NodePeerId> {
			migrated(|| Consortium::member_nodes())
		}

		fn is_registered(who: AccountId) -> bool {
			migrated(|| Consortium::is_registered(&who))
		}

		fn roles_of(who: AccountId) -> Option<(HospitalId, RoleSet)> {
			migrated(|| Consortium::roles_of(&who))
		}

		fn approvals_needed() -> u32 {
			migrated(|| Consortium::approvals_needed(pallet_consortium::MemberCount::<Runtime>::get()))
		}

		fn staff(start_after: Option<AccountId>, limit: u32) -> Vec<(AccountId, phr_primitives::StaffView)> {
			migrated(|| Consortium::staff_page(start_after, limit.min(MAX_PAGE)))
		}

		fn members() -> Vec<(HospitalId, AccountId, NodePeerId)> {
			migrated(|| Consortium::members())
		}
	}

	impl pallet_records_runtime_api::RecordsApi<Block, AccountId, BlockNumber> for Runtime {
		fn record(id: RecordId) -> Option<RecordInfo<AccountId, BlockNumber>> {
			migrated(|| Records::record(id))
		}

		fn patient_records(patient: AccountId, from: u32, limit: u32) -> Vec<(RecordId, RecordInfo<AccountId, BlockNumber>)> {
			migrated(|| Records::patient_records(&patient, from, limit.min(MAX_PAGE)))
		}

		fn versions(id: RecordId) -> Vec<RecordId> {
			migrated(|| Records::versions(id))
		}

		fn record_by_hash(hash: CiphertextHash) -> Option<RecordId> {
			migrated(|| pallet_records::RecordByHash::<Runtime>::get(hash))
		}
	}

	impl pallet_keys_runtime_api::KeysApi<Block, AccountId, BlockNumber> for Runtime {
		fn current_key(who: AccountId) -> Option<KeyRecord<BlockNumber>> {
			migrated(|| pallet_keys::KeyOf::<Runtime>::get(who))
		}

		fn key_at(who: AccountId, epoch: KeyEpoch) -> Option<KeyRecord<BlockNumber>> {
			migrated(|| Keys::key_at(&who, epoch))
		}

		fn keys_due(start_after: Option<AccountId>, limit: u32) -> Vec<AccountId> {
			migrated(|| Keys::keys_due(start_after, limit.min(MAX_PAGE)))
		}

		fn records_due(patient: AccountId, from: u32, limit: u32) -> Vec<RecordId> {
			migrated(|| Keys::records_due(&patient, from, limit.min(MAX_PAGE)))
		}
	}

	impl pallet_access_runtime_api::AccessApi<Block, AccountId, BlockNumber> for Runtime {
		fn decide(who: AccountId, record: RecordId, right: Right, purpose: Purpose, now: Moment) -> Decision {
			migrated(|| Access::decide(&who, record, right, purpose, now))
		}

		fn audit_trail(patient: AccountId, from: u32, limit: u32) -> Vec<AuditEntry<AccountId, BlockNumber>> {
			migrated(|| Access::audit_trail(&patient, from, limit.min(MAX_PAGE)))
		}

		fn audit_length(patient: AccountId) -> u32 {
			migrated(|| pallet_access::AuditLength::<Runtime>::get(patient))
		}

		fn grants_of(patient: AccountId) -> Vec<(GrantId, Grant<AccountId, BlockNumber>)> {
			migrated(|| Access::grants_of(&patient))
		}

		fn grants_to(who: AccountId) -> Vec<(GrantId, AccountId)> {
			migrated(|| Access::grants_to(&who))
		}

		fn receipt_batch(batch: BatchId) -> Option<ReceiptBatch<AccountId, BlockNumber>> {
			migrated(|| pallet_access::ReceiptBatchOfId::<Runtime>::get(batch))
		}
	}

	#[cfg(feature = "runtime-benchmarks")]
	impl frame_benchmarking::Benchmark<Block> for Runtime {
		fn benchmark_metadata(extra: bool) -> (
			Vec<frame_benchmarking::BenchmarkList>,
			Vec<frame_support::traits::StorageInfo>,
		) {
			use frame_benchmarking::{BenchmarkList, Benchmarking};
			use frame_support::traits::StorageInfoTrait;

			let mut list = Vec::<BenchmarkList>::new();
			frame_benchmarking::list_benchmark!(list, extra, pallet_consortium, Consortium);
			frame_benchmarking::list_benchmark!(list, extra, pallet_records, Records);
			frame_benchmarking::list_benchmark!(list, extra, pallet_keys, Keys);
			frame_benchmarking::list_benchmark!(list, extra, pallet_access, Access);
			let storage_info = crate::AllPalletsWithSystem::storage_info();
			(list, storage_info)
		}

		fn dispatch_benchmark(
			config: frame_benchmarking::BenchmarkConfig
		) -> Result<Vec<frame_benchmarking::BenchmarkBatch>, alloc::string::String> {
			use frame_benchmarking::{BenchmarkBatch, Benchmarking};
			use frame_support::traits::WhitelistedStorageKeys;
			use sp_storage::TrackedStorageKey;

			let whitelist: Vec<TrackedStorageKey> = crate::AllPalletsWithSystem::whitelisted_storage_keys();
			let mut batches = Vec::<BenchmarkBatch>::new();
			let params = (&config, &whitelist);
			frame_benchmarking::add_benchmark!(params, batches, pallet_consortium, Consortium);
			frame_benchmarking::add_benchmark!(params, batches, pallet_records, Records);
			frame_benchmarking::add_benchmark!(params, batches, pallet_keys, Keys);
			frame_benchmarking::add_benchmark!(params, batches, pallet_access, Access);
			Ok(batches)
		}
	}

	#[cfg(feature = "try-runtime")]
	impl frame_try_runtime::TryRuntime<Block> for Runtime {
		fn on_runtime_upgrade(checks: frame_try_runtime::UpgradeCheckSelect) -> (Weight, Weight) {
			let weight = Executive::try_runtime_upgrade(checks).unwrap();
			(weight, super::configs::RuntimeBlockWeights::get().max_block)
		}

		fn execute_block(
			block: <Block as BlockT>::LazyBlock,
			state_root_check: bool,
			signature_check: bool,
			select: frame_try_runtime::TryStateSelect,
		) -> Weight {
			Executive::try_execute_block(block, state_root_check, signature_check, select)
				.expect("execute-block failed")
		}
	}

	impl sp_genesis_builder::GenesisBuilder<Block> for Runtime {
		fn build_state(config: Vec<u8>) -> sp_genesis_builder::Result {
			build_state::<RuntimeGenesisConfig>(config)
		}

		fn get_preset(id: &Option<sp_genesis_builder::PresetId>) -> Option<Vec<u8>> {
			get_preset::<RuntimeGenesisConfig>(id, crate::genesis_config_presets::get_preset)
		}

		fn preset_names() -> Vec<sp_genesis_builder::PresetId> {
			crate::genesis_config_presets::preset_names()
		}
	}
}
