//! Keeps the store in step with FINALIZED chain state.
//!
//! What the store must hold follows from the chain's current finalized state alone, and
//! [`reconcile`] converges the store to it: pin every live record's ciphertext (or fetch it from
//! peers), purge every ciphertext no live record names (erased or replaced; tombstones stay),
//! drop the wrapped keys and shares of erased records, and note an anchored receipt batch. It
//! runs when the node starts, when the finalized chain moved on by more than [`REPLAY_AT_MOST`]
//! blocks since the store last looked (a node down for a day, restored from a backup, or new),
//! when a block's events cannot be read (their state is pruned), and every [`RECONCILE_EVERY`].
//! Correctness never depends on having seen a block's events.
//!
//! In between, the events of each newly finalized block wake the store up early, in order (a
//! cursor in the store remembers the last one applied):
//! - `RecordRegistered` / `RecordAmended`: pin the ciphertext, or mark it wanted (replication);
//! - `CiphertextReplaced` (re-encryption): pin the new ciphertext, purge the old;
//! - `RecordErased`: purge every version's ciphertext and wrapped keys, end their read sessions;
//! - `ReceiptsAnchored` for this node's batch in flight: remember the batch id.
//!
//! Every [`HOUSEKEEPING_EVERY`] it also deletes unregistered uploads past their time-to-live (by
//! the finalized block's timestamp: a stall of finality stops the clock of pending uploads),
//! abandons uploads left idle, and forgets the nonces of expired requests.

use std::{collections::HashSet, sync::Arc, time::Duration};

use futures::StreamExt;
use phr_blob_store::BlobState;
use phr_primitives::CiphertextHash;
use phr_runtime::{Hash, RuntimeEvent};
use sc_client_api::BlockchainEvents;
use sp_blockchain::HeaderBackend;
use sp_runtime::traits::Header as _;

use super::{chain::ChainView, error::BlobError, now_ms, receipts::Anchor, Blobs};

const LOG_TARGET: &str = "phr::blobs";
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(30);
/// A full reconciliation this often, whatever the events said.
const RECONCILE_EVERY: Duration = Duration::from_secs(600);
/// More finalized blocks than this since the cursor are reconciled, not replayed one by one.
const REPLAY_AT_MOST: u32 = 64;

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
fn apply_block(blobs: &Blobs, number: u32, at: Hash) -> Result<(), BlobError> {
	let chain = ChainView { client: &blobs.client };
	let changes = changes_of(chain.events(at)?);
	let store = &blobs.store;
	let now = now_ms();
	let mut woke = false;
	for hash in &changes.pin {
		match store.meta(hash)? {
			None => {
				store.want(hash)?;
				woke = true;
			},
			Some(meta) if matches!(meta.state, BlobState::Pending { .. }) => {
				store.pin(hash)?;
			},
			Some(_) => {},
		}
	}
	for hash in &changes.purge {
		store.purge(hash, now)?;
	}
	for root in &changes.erased_roots {
		let mut records = chain.versions(at, *root)?;
		records.push(*root);
		for record in records {
			store.purge_wrapped_keys(record)?;
		}
	}
	if !changes.purge.is_empty() {
		blobs.prune_sessions(now, &changes.purge);
		log::info!(target: LOG_TARGET, "block {number}: purged {} erased or replaced ciphertexts", changes.purge.len());
	}
	if let Some(in_flight) = store.batch_in_flight()? {
		let ours = |(_, root, count): &&(u64, sp_core::H256, u32)| *root == in_flight.root && *count == in_flight.count;
		if let Some((batch, ..)) = changes.anchored.iter().find(ours) {
			store.batch_anchored(*batch, &in_flight)?;
			log::info!(target: LOG_TARGET, "read receipts {}..{} anchored as batch {batch}", in_flight.first, in_flight.first + in_flight.count as u64);
		}
	}
	store.set_finalized_cursor(number)?;
	if woke {
		blobs.wanted.notify_one();
	}
	Ok(())
}

/// What one reconciliation changed.
#[derive(Debug, Default)]
struct Reconciled {
	pinned: usize,
	purged: Vec<CiphertextHash>,
	wanted: usize,
	unwanted: usize,
	tombstones: usize,
	erased_keys: usize,
}

/// Converges the store to the chain's state at finalized block `number` (hash `at`): see the
/// module's documentation. Leaves the cursor at `number`.
fn reconcile(blobs: &Blobs, number: u32, at: Hash) -> Result<Reconciled, BlobError> {
	let store = &blobs.store;
	// Never against an older state than the store has seen (a chain database resynced or restored
	// from a backup under a kept store): what is pinned there may not be registered yet at `number`.
	if let Some(seen) = store.finalized_cursor()? {
		if number < seen {
			log::info!(target: LOG_TARGET, "not reconciling with finalized block {number}: the store has seen block {seen} (the chain is behind it)");
			return Ok(Reconciled::default());
		}
	}
	let chain = ChainView { client: &blobs.client };
	let records = chain.all_records(at)?;
	let (erased, kept): (Vec<_>, Vec<_>) = records.iter().partition(|(_, record)| record.is_erased());
	let live: HashSet<CiphertextHash> = kept.iter().map(|(_, record)| record.ciphertext_hash).collect();
	let dead: HashSet<CiphertextHash> = erased.iter().map(|(_, record)| record.ciphertext_hash).collect();
	let now = now_ms();
	let mut done = Reconciled::default();
	let mut held = HashSet::new();
	for (hash, meta) in store.blobs()? {
		held.insert(hash);
		match meta.state {
			BlobState::Purged { .. } => {},
			// Erased on chain: for good.
			_ if dead.contains(&hash) => {
				store.purge(&hash, now)?;
				done.purged.push(hash);
			},
			BlobState::Pending { .. } if live.contains(&hash) => {
				store.pin(&hash)?;
				done.pinned += 1;
			},
			// Pinned here, so registered at a block the store saw (at or before `number`), and no
			// version names it at `number`: replaced by a re-encryption. Unless a block finalized
			// since names it (an upload or a fetch pinned it meanwhile).
			BlobState::Pinned if !live.contains(&hash) && !registered_now(&chain, hash)? => {
				store.purge(&hash, now)?;
				done.purged.push(hash);
			},
			_ => {},
		}
	}
	// A node that never held an erased ciphertext (a new one, or one restored from a backup)
	// keeps its tombstone too: that hash is never taken again.
	for hash in dead.iter().filter(|hash| !held.contains(*hash)) {
		store.purge(hash, now)?;
		done.tombstones += 1;
	}
	for hash in live.iter().filter(|hash| !held.contains(*hash)) {
		store.want(hash)?;
		done.wanted += 1;
	}
	for (hash, _) in store.wanted()? {
		if !live.contains(&hash) {
			store.unwant(&hash)?;
			done.unwanted += 1;
		}
	}
	for (id, _) in &erased {
		if !store.wrapped_keys_of(*id)?.is_empty() {
			store.purge_wrapped_keys(*id)?;
			done.erased_keys += 1;
		}
	}
	if let Some(in_flight) = store.batch_in_flight()? {
		if let Some(batch) = chain.anchored_batch(at, in_flight.root, in_flight.count)? {
			store.batch_anchored(batch, &in_flight)?;
			log::info!(target: LOG_TARGET, "read receipts {}..{} anchored as batch {batch}", in_flight.first, in_flight.first + in_flight.count as u64);
		}
	}
	store.set_finalized_cursor(number)?;
	if !done.purged.is_empty() {
		blobs.prune_sessions(now, &done.purged);
	}
	if done.wanted > 0 {
		blobs.wanted.notify_one();
	}
	log::info!(
		target: LOG_TARGET,
		"reconciled with finalized block {number}: {} records, {} pinned, {} purged, {} tombstones of erased ones, {} to fetch, {} no longer wanted, keys of {} erased records dropped",
		records.len(),
		done.pinned,
		done.purged.len(),
		done.tombstones,
		done.wanted,
		done.unwanted,
		done.erased_keys,
	);
	Ok(done)
}

/// Whether a live record version names `hash` at the newest finalized block.
fn registered_now(chain: &ChainView<'_>, hash: CiphertextHash) -> Result<bool, BlobError> {
	Ok(chain.record_by_hash(chain.finalized(), hash)?.is_some())
}

/// Reconciles with the latest finalized block.
fn reconcile_finalized(blobs: &Blobs) -> Result<(), BlobError> {
	let info = blobs.client.info();
	reconcile(blobs, info.finalized_number, info.finalized_hash).map(|_| ())
}

/// Applies every finalized block after the cursor, up to the latest finalized one; reconciles
/// instead when they are too many or one cannot be read.
fn catch_up(blobs: &Blobs) -> Result<(), BlobError> {
	let finalized = blobs.client.info().finalized_number;
	let Some(done) = blobs.store.finalized_cursor()? else {
		return reconcile_finalized(blobs);
	};
	if finalized.saturating_sub(done) > REPLAY_AT_MOST {
		return reconcile_finalized(blobs);
	}
	for number in done + 1..=finalized {
		let applied = match blobs.client.hash(number)? {
			Some(hash) => apply_block(blobs, number, hash),
			None => Err(BlobError::MissingBlock(number)),
		};
		if let Err(error) = applied {
			log::warn!(target: LOG_TARGET, "cannot apply finalized block {number} ({error}): reconciling instead");
			return reconcile_finalized(blobs);
		}
	}
	Ok(())
}

fn housekeeping(blobs: &Blobs) -> Result<(), BlobError> {
	let now = now_ms();
	// An unregistered upload's time-to-live runs on the FINALIZED chain's clock, not the node's:
	// while finality stalls its registration may wait in an unfinalized block, and the upload must
	// still be here when that block is final.
	let chain = ChainView { client: &blobs.client };
	let finalized_time = chain.timestamp(chain.finalized())?;
	let expired = blobs.store.expire_pending(finalized_time)?;
	if !expired.is_empty() {
		log::info!(target: LOG_TARGET, "deleted {} uploads never registered on chain", expired.len());
	}
	blobs.store.prune_nonces(now)?;
	blobs.prune_sessions(now, &expired);
	let abandoned = blobs.store.abandon_idle_uploads()?;
	if abandoned > 0 {
		log::info!(target: LOG_TARGET, "abandoned {abandoned} idle uploads");
	}
	Ok(())
}

/// Runs for the node's lifetime.
pub async fn run(blobs: Arc<Blobs>, anchor: Option<Anchor>) {
	let mut finality = blobs.client.finality_notification_stream();
	let mut ticks = tokio::time::interval(HOUSEKEEPING_EVERY);
	// Starts with a reconciliation (the first tick is immediate), whatever the store saw before.
	let mut reconciliations = tokio::time::interval(RECONCILE_EVERY);
	loop {
		tokio::select! {
			_ = reconciliations.tick() => {
				if let Err(error) = reconcile_finalized(&blobs) {
					log::error!(target: LOG_TARGET, "cannot reconcile the blob store with the finalized chain: {error}");
				}
			},
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
