//! Keeps the store in step with FINALIZED chain state, driven by the node's finality notifications.
//!
//! For every finalized block, in order and exactly once (a cursor in the store survives restarts, so
//! blocks finalized while the node was down are applied when it comes back):
//! - `RecordRegistered` / `RecordAmended`: pin the ciphertext, or mark it wanted (replication);
//! - `CiphertextReplaced` (re-encryption): pin the new ciphertext, purge the old;
//! - `RecordErased`: purge every version's ciphertext and wrapped keys, end their read sessions;
//! - `ReceiptsAnchored` for this node's batch in flight: remember the batch id.
//!
//! Every [`HOUSEKEEPING_EVERY`] it also deletes unregistered uploads past their time-to-live and
//! forgets the nonces of expired requests.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use phr_blob_store::{BlobState, StoreError};
use phr_primitives::CiphertextHash;
use phr_runtime::{Hash, RuntimeEvent};
use sc_client_api::BlockchainEvents;
use sp_blockchain::HeaderBackend;
use sp_runtime::traits::Header as _;

use super::{chain::ChainView, now_ms, receipts::Anchor, Blobs};

const LOG_TARGET: &str = "phr::blobs";
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(30);

/// What one finalized block asks of the store.
#[derive(Debug, Default, PartialEq, Eq)]
struct Changes {
	pin: Vec<CiphertextHash>,
	purge: Vec<CiphertextHash>,
	/// Roots of erased records (their versions' wrapped keys go too).
	erased_roots: Vec<phr_primitives::RecordId>,
	anchored: Vec<(u64, sp_core::H256, u32)>,
}

fn changes_of(events: Vec<RuntimeEvent>) -> Changes {
	use pallet_records::Event as Records;
	let mut changes = Changes::default();
	for event in events {
		match event {
			RuntimeEvent::Records(Records::RecordRegistered { ciphertext_hash, .. }) |
			RuntimeEvent::Records(Records::RecordAmended { ciphertext_hash, .. }) => changes.pin.push(ciphertext_hash),
			RuntimeEvent::Records(Records::CiphertextReplaced { old_hash, new_hash, .. }) => {
				changes.pin.push(new_hash);
				changes.purge.push(old_hash);
			},
			RuntimeEvent::Records(Records::RecordErased { root, ciphertext_hashes, .. }) => {
				changes.purge.extend(ciphertext_hashes);
				changes.erased_roots.push(root);
			},
			RuntimeEvent::Access(pallet_access::Event::ReceiptsAnchored { batch, root, count, .. }) =>
				changes.anchored.push((batch, root, count)),
			_ => {},
		}
	}
	changes
}

/// Applies finalized block `number` (hash `at`) to the store.
fn apply_block(blobs: &Blobs, number: u32, at: Hash) -> Result<(), String> {
	let chain = ChainView { client: &blobs.client };
	let changes = changes_of(chain.events(at).map_err(|e| e.to_string())?);
	let store = &blobs.store;
	let now = now_ms();
	let mut woke = false;
	for hash in &changes.pin {
		match store.meta(hash).map_err(|e| e.to_string())? {
			None => {
				store.want(hash).map_err(|e| e.to_string())?;
				woke = true;
			},
			Some(meta) if matches!(meta.state, BlobState::Pending { .. }) => {
				store.pin(hash).map_err(|e| e.to_string())?;
			},
			Some(_) => {},
		}
	}
	for hash in &changes.purge {
		store.purge(hash, now).map_err(|e| e.to_string())?;
	}
	for root in &changes.erased_roots {
		let mut records = chain.versions(at, *root).map_err(|e| e.to_string())?;
		records.push(*root);
		for record in records {
			store.purge_wrapped_keys(record).map_err(|e| e.to_string())?;
		}
	}
	if !changes.purge.is_empty() {
		blobs.prune_sessions(now, &changes.purge);
		log::info!(target: LOG_TARGET, "block {number}: purged {} erased or replaced ciphertexts", changes.purge.len());
	}
	if let Some(in_flight) = store.batch_in_flight().map_err(|e| e.to_string())? {
		let ours = |(_, root, count): &&(u64, sp_core::H256, u32)| *root == in_flight.root && *count == in_flight.count;
		if let Some((batch, ..)) = changes.anchored.iter().find(ours) {
			store.batch_anchored(*batch, &in_flight).map_err(|e| e.to_string())?;
			log::info!(target: LOG_TARGET, "read receipts {}..{} anchored as batch {batch}", in_flight.first, in_flight.first + in_flight.count as u64);
		}
	}
	store.set_finalized_cursor(number).map_err(|e| e.to_string())?;
	if woke {
		blobs.wanted.notify_one();
	}
	Ok(())
}

/// Applies every finalized block after the cursor, up to the latest finalized one.
fn catch_up(blobs: &Blobs) -> Result<(), String> {
	let finalized = blobs.client.info().finalized_number;
	let next = match blobs.store.finalized_cursor().map_err(|e| e.to_string())? {
		Some(done) => done + 1,
		None => 0,
	};
	for number in next..=finalized {
		let Some(hash) = blobs.client.hash(number).map_err(|e| e.to_string())? else {
			return Err(format!("finalized block {number} is not in the database"));
		};
		apply_block(blobs, number, hash)?;
	}
	Ok(())
}

fn housekeeping(blobs: &Blobs) -> Result<(), StoreError> {
	let now = now_ms();
	let expired = blobs.store.expire_pending(now)?;
	if !expired.is_empty() {
		log::info!(target: LOG_TARGET, "deleted {} uploads never registered on chain", expired.len());
	}
	blobs.store.prune_nonces(now)?;
	blobs.prune_sessions(now, &expired);
	Ok(())
}

/// Runs for the node's lifetime.
pub async fn run(blobs: Arc<Blobs>, anchor: Option<Anchor>) {
	let mut finality = blobs.client.finality_notification_stream();
	let mut ticks = tokio::time::interval(HOUSEKEEPING_EVERY);
	if let Err(error) = catch_up(&blobs) {
		log::error!(target: LOG_TARGET, "cannot apply finalized blocks to the blob store: {error}");
	}
	loop {
		tokio::select! {
			notification = finality.next() => {
				let Some(notification) = notification else { break };
				if let Err(error) = catch_up(&blobs) {
					log::error!(target: LOG_TARGET, "cannot apply finalized blocks to the blob store: {error}");
				}
				if let Some(anchor) = &anchor {
					anchor.on_finalized(&blobs, *notification.header.number()).await;
					// The hospital's escrow key, registered (or rotated) on chain by the same key.
					let finalized = *notification.header.number();
					if let Some(agent) = blobs.escrow.get() {
						if let Some(call) = agent.registration_needed(&blobs, finalized) {
							match anchor.submit_call(&blobs, call).await {
								Ok(()) => agent.registration_submitted(finalized),
								Err(error) => log::warn!(target: LOG_TARGET, "cannot register this hospital's escrow key yet: {error}"),
							}
						}
					}
				}
			},
			_ = ticks.tick() => {
				if let Err(error) = housekeeping(&blobs) {
					log::error!(target: LOG_TARGET, "blob store housekeeping failed: {error}");
				}
			},
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use sp_core::H256;

	#[test]
	fn events_map_to_store_changes() {
		let alice = phr_runtime::AccountId::new([1; 32]);
		let (a, b, c) = (H256::repeat_byte(1), H256::repeat_byte(2), H256::repeat_byte(3));
		let events = vec![
			RuntimeEvent::Records(pallet_records::Event::RecordRegistered {
				record: 1,
				patient: alice.clone(),
				author: alice.clone(),
				category: phr_primitives::Category::Observation,
				ciphertext_hash: a,
				size: 10,
			}),
			RuntimeEvent::Records(pallet_records::Event::CiphertextReplaced { record: 1, old_hash: a, new_hash: b, key_epoch: 1 }),
			RuntimeEvent::Records(pallet_records::Event::RecordErased {
				root: 1,
				patient: alice,
				ciphertext_hashes: vec![b, c].try_into().unwrap(),
			}),
			RuntimeEvent::Access(pallet_access::Event::ReceiptsAnchored { batch: 4, hospital: 1, root: c, count: 9 }),
		];
		assert_eq!(
			changes_of(events),
			Changes { pin: vec![a, b], purge: vec![a, b, c], erased_roots: vec![1], anchored: vec![(4, c, 9)] }
		);
	}
}
