//! Unit tests of the ciphertext store on a real RocksDB in a temporary directory.

use super::*;
use phr_primitives::ciphertext_hash;

fn open(dir: &tempfile::TempDir) -> BlobStore {
	open_with(dir, IDLE_MS)
}

/// How long an upload may be idle in these tests.
const IDLE_MS: u64 = 60_000;

fn open_with(dir: &tempfile::TempDir, upload_idle_ms: u64) -> BlobStore {
	let config = StoreConfig {
		max_blob_size: 8 * CHUNK_SIZE as u64,
		pending_ttl_ms: 1_000,
		max_open_uploads: 3,
		max_uploads_per_account: 2,
		max_pending_bytes_per_account: 4 * CHUNK_SIZE as u64,
		upload_idle_ms,
		fetch_give_up_ms: 60_000,
	};
	BlobStore::open(dir.path(), config).expect("the store opens")
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
	(0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn blobs_of_every_size_round_trip() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	for len in [1, 2, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 17] {
		let data = bytes(len, len as u8);
		let hash = ciphertext_hash(&data);
		let meta = store.put_blob(hash, &data, 10).unwrap();
		assert_eq!(meta.size, len as u64);
		assert_eq!(meta.chunks() as usize, len.div_ceil(CHUNK_SIZE));
		assert_eq!(meta.state, BlobState::Pending { expires_at_ms: 1_010 });
		assert_eq!(store.read_blob(&hash).unwrap(), data, "{len} bytes");
		assert_eq!(store.verify_blob(&hash), Ok(true));
	}
}

#[test]
fn a_wrong_hash_is_refused_and_leaves_nothing() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	let data = bytes(CHUNK_SIZE + 5, 1);
	let claimed = ciphertext_hash(b"something else");
	let error = store.put_blob(claimed, &data, 0).unwrap_err();
	assert_eq!(error, StoreError::HashMismatch { claimed, actual: ciphertext_hash(&data) });
	assert_eq!(store.meta(&claimed).unwrap(), None);
	assert_eq!(store.read_chunk(&claimed, 0), Err(StoreError::Unknown(claimed)));
}

#[test]
fn a_format_2_ciphertext_is_stored_under_its_blake3_name_only() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	let mut data = bytes(2 * CHUNK_SIZE + 9, 4);
	data[..5].copy_from_slice(&phr_primitives::BLAKE3_SEALED_PREFIX);
	let blake3 = H256(*blake3::hash(&data).as_bytes());
	assert_eq!(ciphertext_hash(&data), blake3);
	// The same bytes claimed under their blake2b-256 (the other function) are refused.
	let blake2 = phr_primitives::wrapped_key_hash(&data);
	assert_eq!(store.put_blob(blake2, &data, 0), Err(StoreError::HashMismatch { claimed: blake2, actual: blake3 }));
	assert_eq!(store.meta(&blake2).unwrap(), None);
	store.put_blob(blake3, &data, 0).unwrap();
	assert_eq!(store.read_blob(&blake3).unwrap(), data);
	assert_eq!(store.verify_blob(&blake3), Ok(true));
}

#[test]
fn bad_uploads_get_their_own_errors() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	let hash = ciphertext_hash(b"x");
	assert_eq!(store.begin_upload(hash, 0), Err(StoreError::Empty));
	let too_big = 8 * CHUNK_SIZE as u64 + 1;
	assert_eq!(store.begin_upload(hash, too_big), Err(StoreError::TooLarge { size: too_big, max: too_big - 1 }));
	let id = store.begin_upload(hash, 2 * CHUNK_SIZE as u64).unwrap().unwrap();
	assert_eq!(store.begin_upload(hash, 10), Err(StoreError::UploadInProgress(hash)));
	assert_eq!(store.put_chunk(id, 1, &[0; 10]), Err(StoreError::ChunkOutOfOrder { expected: 0, got: 1 }));
	assert_eq!(store.put_chunk(id, 0, &[0; 10]), Err(StoreError::BadChunk(10)), "only the last chunk may be short");
	assert_eq!(store.put_chunk(99, 0, &[0; 10]), Err(StoreError::UnknownUpload(99)));
	store.put_chunk(id, 0, &vec![0; CHUNK_SIZE]).unwrap();
	assert_eq!(
		store.finish_upload(id, 0),
		Err(StoreError::SizeMismatch { expected: 2 * CHUNK_SIZE as u64, got: CHUNK_SIZE as u64 })
	);
	assert_eq!(store.finish_upload(id, 0), Err(StoreError::UnknownUpload(id)));
}

#[test]
fn uploads_are_limited_per_account_and_in_all_but_not_for_replication() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	let (alice, bob, carol) = ([1u8; 32], [2u8; 32], [3u8; 32]);
	let begin = |who: [u8; 32], name: &[u8]| store.begin_upload_by(who, ciphertext_hash(name), 1);
	let first = begin(alice, b"a1").unwrap().unwrap();
	begin(alice, b"a2").unwrap().unwrap();
	assert_eq!(begin(alice, b"a3"), Err(StoreError::TooManyUploadsOfAccount(2)), "two per account");
	begin(bob, b"b1").unwrap().unwrap();
	assert_eq!(begin(carol, b"c1"), Err(StoreError::TooManyUploads(3)), "three client uploads in all");
	// The node's own replication is never refused for the limits.
	assert!(store.begin_upload(ciphertext_hash(b"replicated"), 1).unwrap().is_some());
	// An aborted upload frees its slot at once.
	store.abort_upload(first).unwrap();
	begin(carol, b"c1").unwrap().unwrap();
}

#[test]
fn idle_uploads_are_abandoned_and_free_their_slots_and_chunks() {
	let dir = tempfile::tempdir().unwrap();
	let store = open_with(&dir, 50);
	let owner = [7u8; 32];
	let data = bytes(CHUNK_SIZE + 10, 3);
	let hash = ciphertext_hash(&data);
	let idle = store.begin_upload_by(owner, hash, data.len() as u64).unwrap().unwrap();
	store.put_chunk(idle, 0, &data[..CHUNK_SIZE]).unwrap();
	store.begin_upload_by(owner, ciphertext_hash(b"other"), 1).unwrap().unwrap();
	assert_eq!(store.begin_upload_by(owner, ciphertext_hash(b"third"), 1), Err(StoreError::TooManyUploadsOfAccount(2)));
	std::thread::sleep(Duration::from_millis(120));
	// Both idle now: the next begin abandons them (and the housekeeping would as well).
	let again = store.begin_upload_by(owner, hash, data.len() as u64).unwrap().unwrap();
	assert_eq!(store.put_chunk(idle, 1, &data[CHUNK_SIZE..]), Err(StoreError::UnknownUpload(idle)));
	assert_eq!(store.abandon_idle_uploads().unwrap(), 0, "the fresh upload is not idle");
	store.put_chunk(again, 0, &data[..CHUNK_SIZE]).unwrap();
	store.put_chunk(again, 1, &data[CHUNK_SIZE..]).unwrap();
	assert_eq!(store.finish_upload(again, 0).unwrap().0, hash);
	std::thread::sleep(Duration::from_millis(120));
	assert_eq!(store.abandon_idle_uploads().unwrap(), 0, "a finished upload is not in progress");
	assert!(store.read_blob(&hash).unwrap() == data);
}

#[test]
fn uploading_a_stored_blob_again_is_a_no_op() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	let data = bytes(100, 3);
	let hash = ciphertext_hash(&data);
	store.put_blob(hash, &data, 0).unwrap();
	assert_eq!(store.begin_upload(hash, 100), Ok(None));
}

#[test]
fn pinned_blobs_outlive_the_pending_ttl_and_unregistered_ones_expire() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	let (a, b) = (bytes(10, 1), bytes(10, 2));
	let (ha, hb) = (ciphertext_hash(&a), ciphertext_hash(&b));
	store.put_blob(ha, &a, 0).unwrap();
	store.put_blob(hb, &b, 0).unwrap();
	assert_eq!(store.pin(&ha), Ok(true));
	assert_eq!(store.pin(&ciphertext_hash(b"never uploaded")), Ok(false));
	assert_eq!(store.expire_pending(999).unwrap(), vec![]);
	assert_eq!(store.expire_pending(1_000).unwrap(), vec![hb]);
	assert_eq!(store.read_blob(&ha).unwrap(), a);
	assert_eq!(store.read_chunk(&hb, 0), Err(StoreError::Unknown(hb)));
}

#[test]
fn purged_blobs_are_never_served_or_accepted_again() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	let data = bytes(CHUNK_SIZE + 1, 9);
	let hash = ciphertext_hash(&data);
	store.put_blob(hash, &data, 0).unwrap();
	store.pin(&hash).unwrap();
	store.purge(&hash, 50).unwrap();
	assert_eq!(store.read_chunk(&hash, 0), Err(StoreError::Purged(hash)));
	assert_eq!(store.begin_upload(hash, data.len() as u64), Err(StoreError::Purged(hash)));
	assert_eq!(store.meta(&hash).unwrap().unwrap().state, BlobState::Purged { at_ms: 50 });
	assert_eq!(store.pin(&hash), Ok(false));
}

/// The files in the store's directory of uploads in progress.
fn incoming_files(store: &BlobStore) -> usize {
	std::fs::read_dir(&store.incoming).unwrap().count()
}

#[test]
fn a_chunk_corrupted_on_disk_is_detected_by_its_checksum_not_served() {
	let dir = tempfile::tempdir().unwrap();
	let data = bytes(2 * CHUNK_SIZE + 5, 4);
	let hash = ciphertext_hash(&data);
	let path = {
		let store = open(&dir);
		store.put_blob(hash, &data, 0).unwrap();
		store.file_path(&hash)
	};
	// Flip one byte in the middle of the second chunk, behind the store's back.
	let mut file = std::fs::read(&path).unwrap();
	assert_eq!(file, data, "the file is the ciphertext, byte for byte");
	file[CHUNK_SIZE + CHUNK_SIZE / 2] ^= 0x40;
	std::fs::write(&path, &file).unwrap();

	let store = open(&dir);
	assert_eq!(store.read_chunk(&hash, 0).unwrap(), data[..CHUNK_SIZE]);
	assert_eq!(store.read_chunk(&hash, 1), Err(StoreError::Corrupt { hash, index: 1 }));
	assert_eq!(store.read_chunk(&hash, 2).unwrap(), data[2 * CHUNK_SIZE..]);
	assert_eq!(store.verify_blob(&hash), Ok(false));
	assert_eq!(store.read_chunk(&hash, 3), Err(StoreError::NoSuchChunk { hash, index: 3, chunks: 3 }));
	// Cut short: the chunks past the end are corrupt, not short.
	std::fs::write(&path, &data[..CHUNK_SIZE + 10]).unwrap();
	assert_eq!(store.read_chunk(&hash, 0).unwrap(), data[..CHUNK_SIZE]);
	assert_eq!(store.read_chunk(&hash, 1), Err(StoreError::Corrupt { hash, index: 1 }));
	assert_eq!(store.read_chunk(&hash, 2), Err(StoreError::Corrupt { hash, index: 2 }));
	// Gone: every chunk is corrupt (and so fetched again from a member node), none is unknown.
	std::fs::remove_file(&path).unwrap();
	assert_eq!(store.read_chunk(&hash, 0), Err(StoreError::Corrupt { hash, index: 0 }));
	assert_eq!(store.verify_blob(&hash), Ok(false));
}

#[test]
fn a_chunk_rewritten_with_its_checksum_fails_verification() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	let data = bytes(2 * CHUNK_SIZE, 4);
	let hash = ciphertext_hash(&data);
	store.put_blob(hash, &data, 0).unwrap();
	// A write no checksum can tell from the real one: only the whole hash (verify, and every
	// reader's end-to-end check against the chain's hash) finds it.
	let mut altered = data.clone();
	altered[CHUNK_SIZE + 7] ^= 0x40;
	std::fs::write(store.file_path(&hash), &altered).unwrap();
	let sums: Vec<u32> = altered.chunks(CHUNK_SIZE).map(crc32fast::hash).collect();
	store.db.put_cf(store.cf(CF_SUMS), hash.as_bytes(), sums.encode()).unwrap();
	assert_eq!(store.read_blob(&hash).unwrap(), altered);
	assert_eq!(store.verify_blob(&hash), Ok(false));
}

/// Stores `data` as a release before ciphertext files did: its chunks in the database, with a
/// blake2-256 per chunk in its metadata when `per_chunk_hashes` (releases before the binary
/// transport).
fn put_in_database(store: &BlobStore, hash: H256, data: &[u8], per_chunk_hashes: bool) {
	for (index, chunk) in data.chunks(CHUNK_SIZE).enumerate() {
		store.db.put_cf(store.cf(CF_CHUNKS), chunk_key(&hash, index as u32), chunk).unwrap();
	}
	let meta = BlobMeta {
		size: data.len() as u64,
		chunk_hashes: if per_chunk_hashes { data.chunks(CHUNK_SIZE).map(chunk_hash).collect() } else { Vec::new() },
		state: BlobState::Pinned,
		stored_at_ms: 0,
	};
	store.db.put_cf(store.cf(CF_META), hash.as_bytes(), meta.encode()).unwrap();
}

#[test]
fn blobs_stored_in_the_database_by_earlier_releases_are_still_served_checked_and_purged() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	// Stored with per-chunk hashes: checked against them.
	let data = bytes(2 * CHUNK_SIZE, 8);
	let hash = ciphertext_hash(&data);
	put_in_database(&store, hash, &data, true);
	assert_eq!(store.read_blob(&hash).unwrap(), data);
	assert_eq!(store.verify_blob(&hash), Ok(true));
	let mut chunk = data[CHUNK_SIZE..].to_vec();
	chunk[7] ^= 0x40;
	store.db.put_cf(store.cf(CF_CHUNKS), chunk_key(&hash, 1), &chunk).unwrap();
	assert_eq!(store.read_chunk(&hash, 1), Err(StoreError::Corrupt { hash, index: 1 }));
	// Stored without: RocksDB's checksums, the length, and the whole hash.
	let other = bytes(2 * CHUNK_SIZE + 3, 9);
	let other_hash = ciphertext_hash(&other);
	put_in_database(&store, other_hash, &other, false);
	assert_eq!(store.read_blob(&other_hash).unwrap(), other);
	store.db.put_cf(store.cf(CF_CHUNKS), chunk_key(&other_hash, 1), &other[CHUNK_SIZE..CHUNK_SIZE + 100]).unwrap();
	assert_eq!(store.read_chunk(&other_hash, 1), Err(StoreError::Corrupt { hash: other_hash, index: 1 }));
	// Purged: its chunks go with it.
	store.purge(&other_hash, 7).unwrap();
	assert!(store.db.get_cf(store.cf(CF_CHUNKS), chunk_key(&other_hash, 0)).unwrap().is_none());
	assert_eq!(store.read_chunk(&other_hash, 0), Err(StoreError::Purged(other_hash)));
}

#[test]
fn acknowledged_blobs_survive_reopening_and_interrupted_uploads_are_cleaned() {
	let dir = tempfile::tempdir().unwrap();
	let data = bytes(CHUNK_SIZE + 3, 5);
	let hash = ciphertext_hash(&data);
	let half = bytes(2 * CHUNK_SIZE, 6);
	let half_hash = ciphertext_hash(&half);
	let unacknowledged = bytes(10, 7);
	let unacknowledged_hash = ciphertext_hash(&unacknowledged);
	let legacy_orphan = ciphertext_hash(b"chunks of an earlier release's interrupted upload");
	{
		let store = open(&dir);
		store.put_blob(hash, &data, 0).unwrap();
		let id = store.begin_upload(half_hash, half.len() as u64).unwrap().unwrap();
		store.put_chunk(id, 0, &half[..CHUNK_SIZE]).unwrap();
		assert_eq!(incoming_files(&store), 1);
		// A crash after an upload's file was moved into place, before its metadata was written.
		std::fs::write(store.file_path(&unacknowledged_hash), &unacknowledged).unwrap();
		store.db.put_cf(store.cf(CF_CHUNKS), chunk_key(&legacy_orphan, 0), b"orphan").unwrap();
		std::fs::write(store.files.join("README"), b"not a ciphertext: left alone").unwrap();
		// Dropped mid-upload: like a crash after some chunks.
	}
	let store = open(&dir);
	assert_eq!(store.read_blob(&hash).unwrap(), data);
	assert_eq!(store.meta(&half_hash).unwrap(), None);
	assert_eq!(incoming_files(&store), 0, "the interrupted upload's file is removed");
	assert!(!store.file_path(&unacknowledged_hash).exists(), "a file without metadata is removed");
	assert!(store.db.get_cf(store.cf(CF_CHUNKS), chunk_key(&legacy_orphan, 0)).unwrap().is_none());
	assert!(store.files.join("README").exists());
	// The interrupted uploads can simply start again.
	store.put_blob(half_hash, &half, 0).unwrap();
	store.put_blob(unacknowledged_hash, &unacknowledged, 0).unwrap();
	assert_eq!(store.read_blob(&unacknowledged_hash).unwrap(), unacknowledged);
}

#[test]
fn no_file_outlives_its_blob_or_its_upload() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	let blob = |seed: u8| {
		let data = bytes(CHUNK_SIZE + seed as usize, seed);
		(ciphertext_hash(&data), data)
	};
	// Refused uploads: a wrong hash, a short body, an abort.
	let (hash, data) = blob(1);
	let wrong = ciphertext_hash(b"claimed");
	assert!(matches!(store.put_blob(wrong, &data, 0), Err(StoreError::HashMismatch { .. })));
	let id = store.begin_upload(hash, data.len() as u64).unwrap().unwrap();
	store.put_chunk(id, 0, &data[..CHUNK_SIZE]).unwrap();
	assert!(matches!(store.finish_upload(id, 0), Err(StoreError::SizeMismatch { .. })));
	let id = store.begin_upload(hash, data.len() as u64).unwrap().unwrap();
	store.put_chunk(id, 0, &data[..CHUNK_SIZE]).unwrap();
	store.abort_upload(id).unwrap();
	assert_eq!(incoming_files(&store), 0);
	assert!(!store.file_path(&wrong).exists() && !store.file_path(&hash).exists());
	// Stored blobs: purged, expired, discarded as corrupt.
	let (purged, expired, discarded) = (blob(2), blob(3), blob(4));
	for (hash, data) in [&purged, &expired, &discarded] {
		store.put_blob(*hash, data, 0).unwrap();
		assert!(store.file_path(hash).exists());
	}
	store.pin(&purged.0).unwrap();
	store.pin(&discarded.0).unwrap();
	store.purge(&purged.0, 5).unwrap();
	assert_eq!(store.expire_pending(1_000).unwrap(), vec![expired.0]);
	assert_eq!(store.discard_corrupt(&discarded.0), Ok(true));
	for (hash, _) in [&purged, &expired, &discarded] {
		assert!(!store.file_path(hash).exists(), "{hash:?}");
		assert_eq!(store.sums(hash), Ok(None));
	}
	// What replication does with the discarded one: stored again, from a peer's copy.
	store.put_blob(discarded.0, &discarded.1, 9).unwrap();
	assert_eq!(store.read_blob(&discarded.0).unwrap(), discarded.1);
}

#[test]
fn a_ciphertext_erased_while_it_is_uploaded_keeps_its_tombstone() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	let data = bytes(CHUNK_SIZE + 1, 6);
	let hash = ciphertext_hash(&data);
	let id = store.begin_upload(hash, data.len() as u64).unwrap().unwrap();
	store.put_chunk(id, 0, &data[..CHUNK_SIZE]).unwrap();
	store.put_chunk(id, 1, &data[CHUNK_SIZE..]).unwrap();
	store.purge(&hash, 3).unwrap();
	assert_eq!(store.finish_upload(id, 4), Err(StoreError::Purged(hash)));
	assert_eq!(store.meta(&hash).unwrap().unwrap().state, BlobState::Purged { at_ms: 3 });
	assert!(!store.file_path(&hash).exists());
	assert_eq!(incoming_files(&store), 0);
}

#[test]
fn a_chunk_sent_while_the_previous_one_is_written_is_refused_not_interleaved() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	let data = bytes(2 * CHUNK_SIZE, 3);
	let hash = ciphertext_hash(&data);
	let id = store.begin_upload(hash, data.len() as u64).unwrap().unwrap();
	// As if another call were writing chunk 0 now.
	let io = store.uploads.lock().unwrap().get_mut(&id).unwrap().io.take();
	assert_eq!(store.put_chunk(id, 0, &data[..CHUNK_SIZE]), Err(StoreError::UploadInProgress(hash)));
	assert_eq!(store.finish_upload(id, 0), Err(StoreError::UploadInProgress(hash)));
	store.uploads.lock().unwrap().get_mut(&id).unwrap().io = io;
	store.put_chunk(id, 0, &data[..CHUNK_SIZE]).unwrap();
	store.put_chunk(id, 1, &data[CHUNK_SIZE..]).unwrap();
	assert_eq!(store.finish_upload(id, 0).unwrap().0, hash);
	assert_eq!(store.read_blob(&hash).unwrap(), data);
}

#[test]
fn wrapped_keys_are_kept_per_record_recipient_and_epoch() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	let (alice, bob) = ([1u8; 32], [2u8; 32]);
	let wrapped = |data_epoch, recipient_epoch, bytes: &[u8]| WrappedKey {
		data_epoch,
		recipient_epoch,
		wrapped: bytes.to_vec(),
		upload: [b"signed ".as_slice(), bytes].concat(),
	};
	store.put_wrapped_key(7, &alice, 0, 0, b"k0", &[b"signed ".as_slice(), b"k0".as_slice()].concat()).unwrap();
	store.put_wrapped_key(7, &alice, 2, 0, b"k2", &[b"signed ".as_slice(), b"k2".as_slice()].concat()).unwrap();
	store.put_wrapped_key(7, &alice, 1, 0, b"k1", &[b"signed ".as_slice(), b"k1".as_slice()].concat()).unwrap();
	store.put_wrapped_key(7, &bob, 0, 3, b"b0", &[b"signed ".as_slice(), b"b0".as_slice()].concat()).unwrap();
	store.put_wrapped_key(8, &alice, 5, 0, b"other record", &[b"signed ".as_slice(), b"other record".as_slice()].concat()).unwrap();
	assert_eq!(store.wrapped_key(7, &alice).unwrap(), wrapped(2, 0, b"k2"));
	assert_eq!(store.wrapped_key(7, &bob).unwrap(), wrapped(0, 3, b"b0"));
	// Bob rotated his key: the data key of epoch 0 is wrapped again, to his key of epoch 4.
	store.put_wrapped_key(7, &bob, 0, 4, b"b0'", &[b"signed ".as_slice(), b"b0'".as_slice()].concat()).unwrap();
	assert_eq!(store.wrapped_key(7, &bob).unwrap(), wrapped(0, 4, b"b0'"));
	assert_eq!(store.wrapped_key(6, &alice), Err(StoreError::NoWrappedKey));
	let of_7 = store.wrapped_keys_of(7).unwrap();
	assert_eq!(of_7.len(), 4, "three epochs for Alice, one for Bob");
	assert!(of_7.iter().all(|(recipient, _)| *recipient == alice || *recipient == bob));
	store.purge_wrapped_keys(7).unwrap();
	assert!(store.wrapped_keys_of(7).unwrap().is_empty());
	assert_eq!(store.wrapped_key(7, &alice), Err(StoreError::NoWrappedKey));
	assert_eq!(store.wrapped_key(8, &alice).unwrap(), wrapped(5, 0, b"other record"));
}

#[test]
fn a_discarded_corrupt_copy_is_wanted_again_and_a_replica_pins_it() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	let data = bytes(CHUNK_SIZE + 9, 8);
	let hash = ciphertext_hash(&data);
	store.put_blob(hash, &data, 0).unwrap();
	store.pin(&hash).unwrap();
	assert_eq!(store.discard_corrupt(&hash), Ok(true));
	assert_eq!(store.meta(&hash).unwrap(), None);
	assert_eq!(store.wanted().unwrap(), vec![(hash, Wanted::default())]);
	assert_eq!(store.wanted_attempt_failed(&hash, 1_000, false, 10), Ok(false), "a peer unreachable: no give-up");
	assert_eq!(
		store.wanted().unwrap(),
		vec![(hash, Wanted { attempts: 1, not_held_since_ms: 0, next_try_ms: 1_010, missing: false })]
	);
	// What replication does with the copy a peer sent.
	store.put_blob(hash, &data, 5).unwrap();
	store.pin(&hash).unwrap();
	store.unwant(&hash).unwrap();
	assert_eq!(store.meta(&hash).unwrap().unwrap().state, BlobState::Pinned);
	assert_eq!(store.wanted().unwrap(), vec![]);
	// A wanted blob erased on chain is no longer wanted.
	let other = ciphertext_hash(b"never arrives");
	store.want(&other).unwrap();
	store.purge(&other, 9).unwrap();
	assert_eq!(store.wanted().unwrap(), vec![]);
	let summary = store.summary().unwrap();
	assert_eq!((summary.pinned, summary.purged, summary.bytes), (1, 1, data.len() as u64));
}

#[test]
fn a_ciphertext_nobody_holds_is_given_up_after_a_while_and_stays_missing() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	let hash = ciphertext_hash(b"registered, never uploaded");
	store.want(&hash).unwrap();
	let failed = |now: u64, nobody: bool| store.wanted_attempt_failed(&hash, now, nobody, 1_000);
	assert_eq!(failed(10_000, true), Ok(false), "not yet: nobody had it for 0 s");
	assert_eq!(failed(50_000, false), Ok(false), "a member unreachable: the clock starts again");
	assert_eq!(failed(60_000, true), Ok(false));
	assert_eq!(failed(119_999, true), Ok(false), "59.999 s");
	assert_eq!(failed(120_000, true), Ok(true), "nobody had it, for 60 s");
	assert_eq!(
		store.wanted().unwrap(),
		vec![(hash, Wanted { attempts: 5, not_held_since_ms: 60_000, next_try_ms: 121_000, missing: true })]
	);
	// Given up for good: wanting it again (a reconciliation) changes nothing; another failure neither.
	store.want(&hash).unwrap();
	assert_eq!(failed(190_000, true), Ok(false));
	assert_eq!(store.wanted().unwrap()[0].1.attempts, 5);
	let summary = store.summary().unwrap();
	assert_eq!((summary.wanted, summary.missing), (0, 1));
	// The patient uploads it after all: it is stored, no longer missing.
	store.put_blob(hash, b"registered, never uploaded", 1).unwrap();
	store.pin(&hash).unwrap();
	store.unwant(&hash).unwrap();
	assert_eq!(store.summary().unwrap().missing, 0);
}

#[test]
fn receipts_keep_their_order_and_batches_across_reopening() {
	let dir = tempfile::tempdir().unwrap();
	{
		let store = open(&dir);
		for i in 0..5u8 {
			assert_eq!(store.append_receipt(&[i; 3]).unwrap(), i as u64);
		}
		assert_eq!(store.receipts(1, 2).unwrap(), vec![vec![1; 3], vec![2; 3]]);
		let flight = BatchInFlight { first: 0, count: 3, root: H256::repeat_byte(7), submitted_at: 12 };
		store.set_batch_in_flight(&flight).unwrap();
		assert_eq!(store.batch_in_flight().unwrap(), Some(flight.clone()));
		store.batch_anchored(4, &flight).unwrap();
		store.set_finalized_cursor(40).unwrap();
	}
	let store = open(&dir);
	assert_eq!(store.receipt_count(), 5);
	assert_eq!(store.append_receipt(&[9]).unwrap(), 5, "numbering continues after a restart");
	assert_eq!(store.batch_in_flight().unwrap(), None);
	assert_eq!(store.receipts_submitted().unwrap(), 3);
	assert_eq!(store.anchored_batch(4).unwrap(), Some((0, 3)));
	assert_eq!(store.anchored_batch(5).unwrap(), None);
	assert_eq!(store.finalized_cursor().unwrap(), Some(40));
}

#[test]
fn a_nonce_is_accepted_once() {
	let dir = tempfile::tempdir().unwrap();
	let store = open(&dir);
	let signer = [3u8; 32];
	store.use_nonce(&signer, &[1; 16], 100).unwrap();
	assert_eq!(store.use_nonce(&signer, &[1; 16], 100), Err(StoreError::Replayed));
	store.use_nonce(&signer, &[2; 16], 100).unwrap();
	store.use_nonce(&[4u8; 32], &[1; 16], 100).unwrap();
	assert_eq!(store.prune_nonces(101).unwrap(), 3);
	// After its expiry the nonce is forgotten; the request itself is refused as expired elsewhere.
	store.use_nonce(&signer, &[1; 16], 200).unwrap();
}

#[test]
fn one_account_holds_a_bounded_number_of_unregistered_bytes_even_across_a_restart() {
	let dir = tempfile::tempdir().unwrap();
	let (alice, bob) = ([1u8; 32], [2u8; 32]);
	let upload = |store: &BlobStore, who: [u8; 32], data: &[u8]| -> Result<CiphertextHash, StoreError> {
		let hash = ciphertext_hash(data);
		let id = store.begin_upload_by(who, hash, data.len() as u64)?.expect("not stored yet");
		for (index, chunk) in data.chunks(CHUNK_SIZE).enumerate() {
			store.put_chunk(id, index as u32, chunk)?;
		}
		store.finish_upload(id, 0).map(|(hash, _)| hash)
	};
	let (first, second, third) = (bytes(2 * CHUNK_SIZE, 1), bytes(CHUNK_SIZE, 2), bytes(CHUNK_SIZE + 1, 3));
	let (first_hash, second_hash);
	{
		let store = open(&dir);
		first_hash = upload(&store, alice, &first).unwrap();
		second_hash = upload(&store, alice, &second).unwrap();
		assert_eq!(store.pending_bytes_of(&alice), 3 * CHUNK_SIZE as u64);
		// One more byte than the bound allows, counting an upload in progress too.
		let started = store.begin_upload_by(alice, ciphertext_hash(b"one chunk"), CHUNK_SIZE as u64).unwrap().unwrap();
		let refused = store.begin_upload_by(alice, ciphertext_hash(&third), third.len() as u64);
		assert_eq!(refused, Err(StoreError::TooMuchPendingOfAccount { held: 4 * CHUNK_SIZE as u64, max: 4 * CHUNK_SIZE as u64 }));
		store.abort_upload(started).unwrap();
		// Another account is not held back by Alice's bytes, nor is the node's replication.
		upload(&store, bob, &third).unwrap();
		assert!(store.begin_upload(ciphertext_hash(&bytes(8 * CHUNK_SIZE, 9)), 8 * CHUNK_SIZE as u64).unwrap().is_some());
	}
	// The account's pending bytes survive a restart: the bound is not reset by one.
	let store = open(&dir);
	assert_eq!(store.pending_bytes_of(&alice), 3 * CHUNK_SIZE as u64);
	assert_eq!(store.pending_bytes_of(&bob), third.len() as u64);
	assert!(matches!(
		store.begin_upload_by(alice, ciphertext_hash(b"two chunks"), 2 * CHUNK_SIZE as u64),
		Err(StoreError::TooMuchPendingOfAccount { .. })
	));
	// Registered (pinned) bytes stop counting; so do purged and expired ones.
	assert!(store.pin(&first_hash).unwrap());
	assert_eq!(store.pending_bytes_of(&alice), CHUNK_SIZE as u64);
	store.purge(&second_hash, 5).unwrap();
	assert_eq!(store.pending_bytes_of(&alice), 0);
	let fourth = bytes(CHUNK_SIZE + 1, 4);
	upload(&store, alice, &fourth).unwrap();
	assert_eq!(store.pending_bytes_of(&alice), fourth.len() as u64);
	assert_eq!(store.expire_pending(u64::MAX).unwrap().len(), 2, "Bob's third and Alice's fourth");
	assert_eq!((store.pending_bytes_of(&alice), store.pending_bytes_of(&bob)), (0, 0));
	drop(store);
	let store = open(&dir);
	assert_eq!((store.pending_bytes_of(&alice), store.pending_bytes_of(&bob)), (0, 0), "nothing left after a restart");
}

#[test]
fn ciphertext_file_names_have_one_spelling() {
	let hash = ciphertext_hash(b"named");
	let name = file_name(&hash);
	assert_eq!(name.len(), 64);
	assert_eq!(hash_of_file_name(&name), Some(hash));
	for other in [format!("0x{name}"), name.to_uppercase(), name[..63].to_string(), format!("{name}0"), "README".into()] {
		assert_eq!(hash_of_file_name(&other), None, "{other}");
	}
}
