//! What `phr-node benchmark overhead` needs from the node: signed `System::remark`s in this
//! runtime's extrinsic format, and the inherents of an empty block.
//!
//! The remarks are signed by `//Alice` (the dev chain's admin and validator, a registered signer),
//! immortal, with increasing nonces, exactly as a wallet signs them (`phr_runtime::signed_extrinsic`).
//! The overhead benchmark fills one block with as many as the runtime admits (the rate window of
//! one signer, or the block's weight) and divides the block's execution time by their number.

use std::sync::Arc;

use codec::{Decode, Encode};
use frame_benchmarking_cli::ExtrinsicBuilder;
use phr_runtime::{opaque::Block, RuntimeCall, SigningContext, SystemCall, VERSION};
use sc_client_api::UsageProvider;
use sp_blockchain::HeaderBackend;
use sp_keyring::Sr25519Keyring;
use sp_runtime::OpaqueExtrinsic;

/// Builds `System::remark` extrinsics signed by `//Alice`.
pub struct RemarkBuilder {
	context: SigningContext,
}

impl RemarkBuilder {
	pub fn new<C: HeaderBackend<Block> + UsageProvider<Block>>(client: Arc<C>) -> Self {
		let genesis = client.usage_info().chain.genesis_hash;
		Self {
			context: SigningContext {
				genesis,
				spec_version: VERSION.spec_version,
				transaction_version: VERSION.transaction_version,
			},
		}
	}
}

impl ExtrinsicBuilder for RemarkBuilder {
	fn pallet(&self) -> &str {
		"system"
	}

	fn extrinsic(&self) -> &str {
		"remark"
	}

	fn build(&self, nonce: u32) -> Result<OpaqueExtrinsic, &'static str> {
		let signer = Sr25519Keyring::Alice;
		let call = RuntimeCall::System(SystemCall::remark { remark: Vec::new() });
		let extrinsic = phr_runtime::signed_extrinsic(&self.context, call, signer.to_account_id(), nonce, |payload| {
			signer.sign(payload).into()
		});
		OpaqueExtrinsic::decode(&mut &extrinsic.encode()[..]).map_err(|_| "a signed remark is not an opaque extrinsic")
	}
}

/// The inherents of a block built for a benchmark: the timestamp 0, which is slot 0, the slot of
/// the genesis state the benchmark builds on (Aura checks that the two agree).
pub fn inherent_data() -> Result<sp_inherents::InherentData, String> {
	let mut data = sp_inherents::InherentData::new();
	data.put_data(sp_timestamp::INHERENT_IDENTIFIER, &sp_timestamp::Timestamp::new(0))
		.map_err(|e| format!("the timestamp inherent: {e}"))?;
	Ok(data)
}
