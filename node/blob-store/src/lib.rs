//! # The ciphertext store
//!
//! Every member node keeps the consortium's ciphertexts under its base path, content-addressed by
//! the record hash the chain registers ([`phr_primitives::records::CiphertextHasher`]): a RocksDB
//! database of its own holds what is known about each (its state, its checksums, the wrapped keys,
//! the read receipts), and the ciphertext bytes are one file per blob beside it, in the database's
//! [`FILES_DIR`] directory, the way RocksDB's own blob files keep large values out of its tree. This
//! crate is that store and nothing else: it knows nothing of JSON-RPC, the network or the chain's
//! rules, which the node wires around it.
//!
//! Why files: an upload's bytes are written once, as they arrive, and start their way to the disk
//! at once (`sync_file_range`), so that the `fdatasync` acknowledging the upload finds little left
//! to write. Through RocksDB they were written twice (its write-ahead log, then a blob file when the
//! memtable was flushed) and copied into the memtable: 16 ms for the store's part of a 10 MiB
//! upload against 6 ms with files, on this project's machine (docs/benchmarks.md).
//!
//! ## Layout
//! Column families of the database:
//! - `meta`: hash → [`BlobMeta`] (size, lifecycle state; per-chunk hashes only for blobs stored by
//!   releases before the binary transport);
//! - `sums`: hash → the CRC-32 of each chunk of the blob's file, checked on every read; a blob is
//!   stored in a file exactly when it has an entry here;
//! - `chunks`: hash ‖ chunk index (u32, big-endian) → chunk bytes (at most [`CHUNK_SIZE`]), for
//!   blobs stored by releases before ciphertext files (still read, never written);
//! - `keys`: record ‖ recipient ‖ data-key epoch (big-endian) → the recipient's key epoch and a
//!   wrapped data key;
//! - `nonces`: signer ‖ nonce → expiry (unix ms), to refuse replayed requests;
//! - `wanted`: hash → attempts: ciphertexts registered on chain that this node must fetch from a peer;
//! - `receipts`: sequence number → a served read's signed request (opaque bytes), in serving order;
//! - `batches`: anchored batch id → (first receipt, count);
//! - `state`: the node's bookkeeping (last finalized block processed, receipts submitted, the batch
//!   in flight);
//! - `pending-owners`: hash → uploading account ‖ size, for client uploads acknowledged and not yet
//!   registered: what bounds one account's unregistered bytes.
//!
//! Files: `ciphertext/<hash in hex>` for each stored blob, `ciphertext/incoming/<upload id>` for
//! each upload in progress.
//!
//! ## Lifecycle of a blob
//! 1. An upload streams chunks in order into its file in `incoming`, hashed as they arrive (one
//!    pass of the record hash, no reading back); nothing is readable until `finish_upload` has
//!    compared that hash of the whole ciphertext with the claimed one, synced the file, renamed it
//!    into place (and synced the directory), then written its metadata and checksums with a synced
//!    write-ahead log. That synced write is the acknowledgement: an acknowledged blob survives a
//!    crash. What an unacknowledged one leaves (a file in `incoming`, or a file in place without
//!    metadata) `open` removes.
//! 2. The blob is `Pending` until the extrinsic registering its hash is final, then `Pinned`. A
//!    pending blob expires after [`StoreConfig::pending_ttl_ms`].
//! 3. When the chain erases the record (or a re-encryption replaces its ciphertext) the blob is
//!    `Purged`: a tombstone replaces its metadata and checksums in one synced write, so it is never
//!    served again, then its file is deleted (a crash in between leaves a file `open` removes).
//!
//! Reads are not hashed again: each chunk read is checked against its CRC-32, and a chunk that
//! fails it (or is missing or short) is reported as [`StoreError::Corrupt`], never served; whoever
//! reads a ciphertext checks it end to end against the hash the chain registered (the wallet, the
//! portal, a replicating node). [`BlobStore::verify_blob`] hashes a stored copy whole, to find
//! corruption that no checksum can (bytes rewritten together with their checksum).

use std::{
	collections::HashMap,
	fs::File,
	os::unix::fs::FileExt as _,
	path::{Path, PathBuf},
	sync::{
		atomic::{AtomicU64, Ordering},
		Mutex,
	},
	time::{Duration, Instant},
};

use codec::{Decode, Encode};
use phr_primitives::{records::CiphertextHasher, CiphertextHash, RecordId};
use rocksdb::{ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions, DB};
use sp_core::H256;

/// Largest chunk of an upload or a fetch (defined once, in `phr_primitives`).
pub use phr_primitives::CHUNK_SIZE;

const CF_META: &str = "meta";
const CF_CHUNKS: &str = "chunks";
const CF_KEYS: &str = "keys";
const CF_NONCES: &str = "nonces";
const CF_WANTED: &str = "wanted";
const CF_RECEIPTS: &str = "receipts";
const CF_BATCHES: &str = "batches";
const CF_STATE: &str = "state";
const CF_PENDING_OWNERS: &str = "pending-owners";
const CF_SUMS: &str = "sums";
const FAMILIES: [&str; 10] =
	[CF_META, CF_CHUNKS, CF_KEYS, CF_NONCES, CF_WANTED, CF_RECEIPTS, CF_BATCHES, CF_STATE, CF_PENDING_OWNERS, CF_SUMS];

/// The directory, inside the database's, that holds one file per stored ciphertext.
pub const FILES_DIR: &str = "ciphertext";
/// The directory, inside [`FILES_DIR`], of the uploads in progress.
const INCOMING_DIR: &str = "incoming";

const STATE_CURSOR: &[u8] = b"finalized-cursor";
const STATE_RECEIPTS_SUBMITTED: &[u8] = b"receipts-submitted";
const STATE_IN_FLIGHT: &[u8] = b"batch-in-flight";

/// blake2-256 of one chunk: the per-chunk hashes of blobs stored before the binary transport.
fn chunk_hash(bytes: &[u8]) -> H256 {
	H256::from_slice(blake2b_simd::Params::new().hash_length(32).hash(bytes).as_bytes())
}

/// Where a blob is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum BlobState {
	/// Uploaded and verified; waits for its registration to be final.
	Pending { expires_at_ms: u64 },
	/// Registered on chain, finalized: kept for good.
	Pinned,
	/// Erased or replaced on chain: bytes deleted, never served again.
	Purged { at_ms: u64 },
}

/// What the store knows about a blob.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BlobMeta {
	pub size: u64,
	/// blake2-256 of each chunk, checked on every read, for blobs stored by releases before the
	/// binary transport (the field keeps their metadata readable); empty for every blob stored
	/// since, whose reads rely on the CRC-32 of each chunk (`sums`) or, for one stored in the
	/// database's chunks, RocksDB's block checksums; and on the reader's end-to-end check.
	pub chunk_hashes: Vec<H256>,
	pub state: BlobState,
	pub stored_at_ms: u64,
}

impl BlobMeta {
	/// Chunks of the stored ciphertext (none for a tombstone).
	pub fn chunks(&self) -> u32 {
		match self.state {
			BlobState::Purged { .. } => 0,
			_ => self.size.div_ceil(CHUNK_SIZE as u64) as u32,
		}
	}

	/// Length of chunk `index` (all chunks are [`CHUNK_SIZE`] but the last).
	fn chunk_len(&self, index: u32) -> usize {
		(self.size - index as u64 * CHUNK_SIZE as u64).min(CHUNK_SIZE as u64) as usize
	}
}

/// A ciphertext registered on chain that this node does not hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Wanted {
	/// Failed fetch attempts.
	pub attempts: u32,
	/// Since when every member node asked answered that it does not hold it (unix ms; 0: not so
	/// at the last attempt).
	pub not_held_since_ms: u64,
	/// When to try again (unix ms; 0: at once).
	pub next_try_ms: u64,
	/// Given up: no member node held it for long enough (see [`BlobStore::wanted_attempt_failed`]).
	pub missing: bool,
}

impl Wanted {
	/// Decodes a stored entry; an entry of an older store (the attempts alone, 4 bytes big-endian)
	/// reads as that many attempts.
	fn decode_stored(bytes: &[u8]) -> Wanted {
		match <[u8; 4]>::try_from(bytes) {
			Ok(attempts) => Wanted { attempts: u32::from_be_bytes(attempts), ..Default::default() },
			Err(_) => Wanted::decode(&mut &bytes[..]).unwrap_or_default(),
		}
	}
}

/// A data key wrapped for one recipient.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct WrappedKey {
	/// Epoch of the record's data key.
	pub data_epoch: u32,
	/// Epoch of the recipient's X25519 key it is wrapped to.
	pub recipient_epoch: u32,
	/// The HPKE-wrapped data key (opaque to the node).
	pub wrapped: Vec<u8>,
	/// The uploader's signed request that covers it (SCALE, opaque to the store): relayed with the
	/// key so that another node can check who stored it and for which epochs.
	pub upload: Vec<u8>,
}

/// A batch of read receipts submitted for anchoring, not yet seen final.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BatchInFlight {
	pub first: u64,
	pub count: u32,
	pub root: H256,
	/// Finalized block number when it was submitted (for resubmission).
	pub submitted_at: u32,
}

/// Counts for the status RPC.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreSummary {
	pub pending: u64,
	pub pinned: u64,
	pub purged: u64,
	pub bytes: u64,
	/// Being fetched from peers.
	pub wanted: u64,
	/// Given up: registered on chain, and no member node holds it.
	pub missing: u64,
	pub receipts: u64,
	pub receipts_anchored: u64,
	pub uploads_in_progress: u64,
}

/// Limits of the store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
	/// Largest ciphertext accepted, in bytes.
	pub max_blob_size: u64,
	/// How long an uploaded blob waits for its registration before it is deleted.
	pub pending_ttl_ms: u64,
	/// Most client uploads in progress at once (the node's own replication is not counted).
	pub max_open_uploads: usize,
	/// Most uploads in progress at once by one account.
	pub max_uploads_per_account: usize,
	/// Most bytes one account may hold here unregistered: its uploads in progress and its
	/// acknowledged uploads still pending (not registered on chain yet), together.
	pub max_pending_bytes_per_account: u64,
	/// An upload that receives nothing for this long is abandoned: its slot and chunks are freed.
	pub upload_idle_ms: u64,
	/// A registered ciphertext that no member node holds is given up after being wanted this long.
	pub fetch_give_up_ms: u64,
}

impl Default for StoreConfig {
	fn default() -> Self {
		StoreConfig {
			max_blob_size: 4 * 1024 * 1024 * 1024,
			pending_ttl_ms: 60 * 60 * 1000,
			max_open_uploads: 64,
			max_uploads_per_account: 4,
			max_pending_bytes_per_account: 8 * 1024 * 1024 * 1024,
			upload_idle_ms: 5 * 60 * 1000,
			fetch_give_up_ms: 60 * 60 * 1000,
		}
	}
}

/// What went wrong, one variant per answer a caller must be able to tell apart.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
	#[error("the ciphertext is {size} bytes; this node accepts 1 to {max} bytes")]
	TooLarge { size: u64, max: u64 },
	#[error("a ciphertext has at least one byte")]
	Empty,
	#[error("no upload with id {0} is in progress")]
	UnknownUpload(u64),
	#[error("chunk {got} arrived where chunk {expected} was expected")]
	ChunkOutOfOrder { expected: u32, got: u32 },
	#[error("chunk of {0} bytes: chunks are 1 to {max} bytes, and only the last may be shorter", max = CHUNK_SIZE)]
	BadChunk(usize),
	#[error("the upload has {got} bytes, {expected} were announced")]
	SizeMismatch { expected: u64, got: u64 },
	#[error("the uploaded bytes hash to {actual:?}, not to the announced {claimed:?}")]
	HashMismatch { claimed: H256, actual: H256 },
	#[error("ciphertext {0:?} is already being uploaded")]
	UploadInProgress(H256),
	#[error("{0} uploads are already in progress")]
	TooManyUploads(usize),
	#[error("this account already has {0} uploads in progress: finish or abort one first")]
	TooManyUploadsOfAccount(usize),
	#[error(
		"this account already holds {held} bytes not registered on chain here, at most {max} may be: register (or let expire) what it uploaded before"
	)]
	TooMuchPendingOfAccount { held: u64, max: u64 },
	#[error("no ciphertext with hash {0:?} is stored")]
	Unknown(H256),
	#[error("ciphertext {0:?} was erased")]
	Purged(H256),
	#[error("chunk {index} of ciphertext {hash:?} does not match its hash: the local copy is corrupt")]
	Corrupt { hash: H256, index: u32 },
	#[error("chunk {index} is beyond the {chunks} chunks of ciphertext {hash:?}")]
	NoSuchChunk { hash: H256, index: u32, chunks: u32 },
	#[error("this request's nonce was already used")]
	Replayed,
	#[error("no wrapped key for this record and recipient")]
	NoWrappedKey,
	#[error("the database failed: {0}")]
	Database(String),
	#[error("stored metadata does not decode: {0}")]
	BadMetadata(String),
	#[error("the ciphertext files failed: {0}")]
	Files(String),
}

impl StoreError {
	fn files(what: &str, error: std::io::Error) -> StoreError {
		StoreError::Files(format!("{what}: {error}"))
	}
}

impl From<rocksdb::Error> for StoreError {
	fn from(error: rocksdb::Error) -> Self {
		StoreError::Database(error.into_string())
	}
}

/// What an upload received, as [`BlobStore::acknowledge`] checks it.
struct Received {
	id: u64,
	hash: H256,
	size: u64,
	received: u64,
	owner: Option<[u8; 32]>,
	io: UploadIo,
}

/// The file an upload writes and what it computed over the bytes written, in order. Taken out of
/// the upload table while a chunk is written, so that no lock is held over the disk.
struct UploadIo {
	file: File,
	/// The record hash's state over every byte received so far: the one hash pass of an upload.
	hashed: CiphertextHasher,
	/// CRC-32 of each chunk written, checked on every read.
	sums: Vec<u32>,
}

impl UploadIo {
	/// Writes chunk bytes at `offset`, starts their way to the disk (so that the synced write
	/// acknowledging the upload finds little left to do), and hashes them.
	fn write(&mut self, offset: u64, bytes: &[u8]) -> Result<(), StoreError> {
		self.file.write_all_at(bytes, offset).map_err(|e| StoreError::files("writing an upload", e))?;
		start_writeback(&self.file, offset, bytes.len());
		self.hashed.update(bytes);
		self.sums.push(crc32fast::hash(bytes));
		Ok(())
	}
}

/// Starts writing `len` bytes at `offset` of `file` out to the disk, without waiting for it. Only
/// a head start: durability comes from the `fdatasync` of the acknowledgement.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: usize) {
	use std::os::fd::AsRawFd as _;
	// SAFETY: a plain system call on a file descriptor `file` keeps open; it reads no memory.
	unsafe {
		libc::sync_file_range(file.as_raw_fd(), offset as libc::off64_t, len as libc::off64_t, libc::SYNC_FILE_RANGE_WRITE);
	}
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: usize) {}

/// An upload in progress: its place, its size and its file; its bytes are never held in memory.
struct Upload {
	hash: H256,
	size: u64,
	received: u64,
	next_chunk: u32,
	/// `None` while a chunk is being written.
	io: Option<UploadIo>,
	/// The account uploading; `None` for the node's own replication (no limits apply).
	owner: Option<[u8; 32]>,
	/// When it last received something.
	touched: Instant,
	/// Its bytes are being checked and acknowledged: no chunk, abort or second upload of the same
	/// hash until that is done (its chunks are the stored blob's from then on).
	finishing: bool,
}

/// The acknowledged client uploads still pending, by whom: what bounds one account's share of the
/// disk ([`StoreConfig::max_pending_bytes_per_account`]). Kept durably in `pending-owners` (hash →
/// owner ‖ size), summed here when the store opens; an entry goes when its blob is pinned,
/// expires, is purged or discarded.
#[derive(Default)]
struct PendingOwners {
	of_hash: HashMap<H256, ([u8; 32], u64)>,
	of_owner: HashMap<[u8; 32], u64>,
}

impl PendingOwners {
	fn add(&mut self, hash: H256, owner: [u8; 32], size: u64) {
		if self.of_hash.insert(hash, (owner, size)).is_none() {
			*self.of_owner.entry(owner).or_default() += size;
		}
	}

	fn remove(&mut self, hash: &H256) {
		let Some((owner, size)) = self.of_hash.remove(hash) else { return };
		if let Some(held) = self.of_owner.get_mut(&owner) {
			*held = held.saturating_sub(size);
			if *held == 0 {
				self.of_owner.remove(&owner);
			}
		}
	}

	fn held_by(&self, owner: &[u8; 32]) -> u64 {
		self.of_owner.get(owner).copied().unwrap_or(0)
	}
}

fn pending_owner_value(owner: &[u8; 32], size: u64) -> Vec<u8> {
	let mut value = owner.to_vec();
	value.extend_from_slice(&size.to_be_bytes());
	value
}

/// The store. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct BlobStore {
	db: DB,
	/// [`FILES_DIR`]: the acknowledged ciphertexts, a file each, named by their hash in hex.
	files: PathBuf,
	/// [`INCOMING_DIR`]: the uploads in progress, a file each, named by the upload id.
	incoming: PathBuf,
	config: StoreConfig,
	uploads: Mutex<HashMap<u64, Upload>>,
	/// Taken after `uploads` when both are needed, never before.
	pending_owners: Mutex<PendingOwners>,
	/// Serializes nonce checks, so two copies of one request cannot both pass.
	nonces: Mutex<()>,
	/// Serializes what gives a hash its file and what takes it away: an acknowledgement (its check
	/// for a tombstone, its rename and its synced write) and a deletion (its synced write and its
	/// unlink), so that neither acts on the other half done. Taken before `pending_owners`, and
	/// never together with `uploads`.
	names: Mutex<()>,
	/// Sequence number of the next read receipt.
	next_receipt: AtomicU64,
}

fn u64_key(key: &[u8]) -> Result<u64, StoreError> {
	key.try_into().map(u64::from_be_bytes).map_err(|_| StoreError::BadMetadata("a sequence key is not 8 bytes".into()))
}

fn chunk_key(hash: &H256, index: u32) -> Vec<u8> {
	let mut key = hash.as_bytes().to_vec();
	key.extend_from_slice(&index.to_be_bytes());
	key
}

/// The name of a ciphertext's file: its hash in lower-case hex, without `0x`.
fn file_name(hash: &H256) -> String {
	format!("{hash:x}")
}

/// The hash a ciphertext file is named by, if `name` is such a name (exactly as [`file_name`]
/// spells it).
fn hash_of_file_name(name: &str) -> Option<H256> {
	let spelled = name.len() == 64 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
	spelled.then(|| name.parse().ok()).flatten()
}

/// Removes `path`; one that is already gone is no failure, and any other is logged.
fn remove_logged(path: &Path) {
	match std::fs::remove_file(path) {
		Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
			log::warn!(target: "phr::blobs", "could not remove {}: {error}", path.display())
		},
		_ => {},
	}
}

fn key_prefix(record: RecordId, recipient: &[u8; 32]) -> Vec<u8> {
	let mut key = record.to_be_bytes().to_vec();
	key.extend_from_slice(recipient);
	key
}

impl BlobStore {
	/// Opens (or creates) the store at `path`, and removes what uploads a crash cut off left.
	pub fn open(path: &Path, config: StoreConfig) -> Result<BlobStore, StoreError> {
		let mut options = Options::default();
		options.create_if_missing(true);
		options.create_missing_column_families(true);
		// Write the log out while an upload streams in, so that the synced write acknowledging it
		// finds little left to flush.
		options.set_wal_bytes_per_sync(1 << 20);
		let families = FAMILIES.into_iter().map(|name| {
			let mut family = Options::default();
			if name == CF_CHUNKS {
				// Ciphertext does not compress: trying costs a pass over every byte at each flush.
				family.set_compression_type(rocksdb::DBCompressionType::None);
				// Chunks go from the memtable into blob files, and compactions move only their
				// keys: without this, every compaction copied the ciphertext again (a quarter of
				// the node's CPU while 10 MiB records streamed in, `perf` on 2026-12-05).
				family.set_enable_blob_files(true);
				family.set_min_blob_size(4096);
				family.set_enable_blob_gc(true);
			}
			ColumnFamilyDescriptor::new(name, family)
		});
		let db = DB::open_cf_descriptors(&options, path, families)?;
		let files = path.join(FILES_DIR);
		let incoming = files.join(INCOMING_DIR);
		std::fs::create_dir_all(&incoming).map_err(|e| StoreError::files("creating the ciphertext directory", e))?;
		let store = BlobStore {
			db,
			files,
			incoming,
			config,
			uploads: Mutex::new(HashMap::new()),
			pending_owners: Mutex::new(PendingOwners::default()),
			nonces: Mutex::new(()),
			names: Mutex::new(()),
			next_receipt: AtomicU64::new(0),
		};
		let next_receipt = match store.db.iterator_cf(store.cf(CF_RECEIPTS), rocksdb::IteratorMode::End).next() {
			Some(item) => u64_key(&item?.0)? + 1,
			None => 0,
		};
		store.next_receipt.store(next_receipt, Ordering::SeqCst);
		let removed = store.remove_unacknowledged_chunks()? + store.remove_unacknowledged_files()?;
		if removed > 0 {
			log::info!(target: "phr::blobs", "removed what {removed} interrupted uploads or deletions left");
		}
		store.load_pending_owners()?;
		Ok(store)
	}

	pub fn config(&self) -> &StoreConfig {
		&self.config
	}

	fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
		self.db.cf_handle(name).expect("every column family is created at open")
	}

	fn synced() -> WriteOptions {
		let mut options = WriteOptions::default();
		options.set_sync(true);
		options
	}

	/// Sums what each account holds pending, from `pending-owners`; an entry whose blob is no
	/// longer pending (written by a release that kept none) is dropped.
	fn load_pending_owners(&self) -> Result<(), StoreError> {
		let mut owners = self.pending_owners.lock().expect("pending owners lock");
		let mut stale = WriteBatch::default();
		for item in self.db.iterator_cf(self.cf(CF_PENDING_OWNERS), rocksdb::IteratorMode::Start) {
			let (key, value) = item?;
			let still_pending = key.len() == 32 &&
				matches!(self.meta(&H256::from_slice(&key))?, Some(BlobMeta { state: BlobState::Pending { .. }, .. }));
			match (still_pending, value.len()) {
				(true, 40) => {
					let owner: [u8; 32] = value[..32].try_into().expect("32 of 40 bytes");
					let size = u64::from_be_bytes(value[32..].try_into().expect("8 of 40 bytes"));
					owners.add(H256::from_slice(&key), owner, size);
				},
				_ => stale.delete_cf(self.cf(CF_PENDING_OWNERS), key),
			}
		}
		if !stale.is_empty() {
			self.db.write_opt(stale, &Self::synced())?;
		}
		Ok(())
	}

	/// Writes `batch` (which ends the pending state of `hashes`) with the owners' entries of
	/// `hashes` deleted in the same synced write, then forgets them in memory.
	fn write_ending_pending(&self, mut batch: WriteBatch, hashes: &[H256]) -> Result<(), StoreError> {
		for hash in hashes {
			batch.delete_cf(self.cf(CF_PENDING_OWNERS), hash.as_bytes());
		}
		self.db.write_opt(batch, &Self::synced())?;
		let mut owners = self.pending_owners.lock().expect("pending owners lock");
		for hash in hashes {
			owners.remove(hash);
		}
		Ok(())
	}

	/// Bytes `owner` holds here unregistered: acknowledged uploads still pending, and what its
	/// uploads in progress announced.
	pub fn pending_bytes_of(&self, owner: &[u8; 32]) -> u64 {
		let uploads = self.uploads.lock().expect("upload table lock");
		self.held_by(&uploads, owner)
	}

	fn held_by(&self, uploads: &HashMap<u64, Upload>, owner: &[u8; 32]) -> u64 {
		let in_progress: u64 = uploads.values().filter(|upload| upload.owner.as_ref() == Some(owner)).map(|upload| upload.size).sum();
		in_progress + self.pending_owners.lock().expect("pending owners lock").held_by(owner)
	}

	/// Chunks whose blob has no metadata belong to uploads never acknowledged (by a release that
	/// kept uploads in the database's chunks). Looks at the first
	/// chunk of each blob only (then seeks past the blob), so that opening does not read the whole
	/// store; a damaged block ends the look with a warning, not the node: a damaged chunk is refused
	/// as corrupt when read, and fetched again from a member node.
	fn remove_unacknowledged_chunks(&self) -> Result<usize, StoreError> {
		let mut orphans: Vec<H256> = Vec::new();
		let mut chunks = self.db.raw_iterator_cf(self.cf(CF_CHUNKS));
		chunks.seek_to_first();
		while let Some(key) = chunks.key() {
			if key.len() < 32 {
				chunks.next();
				continue;
			}
			let hash = H256::from_slice(&key[..32]);
			if self.meta(&hash)?.is_none() {
				orphans.push(hash);
			}
			// Every chunk key of this blob is `hash ‖ index (4 bytes)`: this one sorts after them all.
			let mut past = hash.as_bytes().to_vec();
			past.extend_from_slice(&[0xff; 5]);
			chunks.seek(&past);
		}
		match chunks.status() {
			Err(error) if error.kind() == rocksdb::ErrorKind::Corruption => log::warn!(
				target: "phr::blobs",
				"the blob store's chunks are damaged on disk ({}): damaged chunks are refused as corrupt and fetched again from member nodes",
				error.into_string()
			),
			Err(error) => return Err(error.into()),
			Ok(()) => {},
		}
		drop(chunks);
		if !orphans.is_empty() {
			let mut batch = WriteBatch::default();
			for hash in &orphans {
				self.delete_bytes(hash, &mut batch);
			}
			self.db.write_opt(batch, &Self::synced())?;
		}
		Ok(orphans.len())
	}

	/// Every file of an upload in progress is removed (no upload survives a restart), and so is
	/// every ciphertext file without a stored, unpurged blob and its checksums: one whose upload
	/// was renamed into place and never acknowledged, or whose deletion the crash cut short.
	fn remove_unacknowledged_files(&self) -> Result<usize, StoreError> {
		let listing = |dir: &Path| std::fs::read_dir(dir).map_err(|e| StoreError::files("listing the ciphertext files", e));
		let mut removed = 0;
		for entry in listing(&self.incoming)? {
			let entry = entry.map_err(|e| StoreError::files("listing the uploads in progress", e))?;
			std::fs::remove_file(entry.path()).map_err(|e| StoreError::files("removing an interrupted upload", e))?;
			removed += 1;
		}
		for entry in listing(&self.files)? {
			let entry = entry.map_err(|e| StoreError::files("listing the ciphertext files", e))?;
			let Some(hash) = entry.file_name().to_str().and_then(hash_of_file_name) else { continue };
			let stored = matches!(self.meta(&hash)?, Some(meta) if !matches!(meta.state, BlobState::Purged { .. }));
			if !stored || self.sums(&hash)?.is_none() {
				self.remove_file(&hash);
				removed += 1;
			}
		}
		Ok(removed)
	}

	/// Adds to `batch` the deletion of `hash`'s bytes kept in the database: its checksums (and so
	/// its file's validity) and the chunks of a blob stored before ciphertext files. The file goes
	/// once the batch is written ([`BlobStore::remove_file`]); a crash in between leaves a file
	/// that the next `open` removes.
	fn delete_bytes(&self, hash: &H256, batch: &mut WriteBatch) {
		batch.delete_cf(self.cf(CF_SUMS), hash.as_bytes());
		batch.delete_range_cf(self.cf(CF_CHUNKS), chunk_key(hash, 0), chunk_key(hash, u32::MAX));
		batch.delete_cf(self.cf(CF_CHUNKS), chunk_key(hash, u32::MAX));
	}

	/// Removes the ciphertext file of `hash`, if any. A failure is logged, not returned: the
	/// database no longer lists the file, so it is never served, and `open` removes it.
	fn remove_file(&self, hash: &H256) {
		remove_logged(&self.file_path(hash));
	}

	/// Removes the file of upload `id` (in progress, abandoned or refused), if any; as
	/// [`BlobStore::remove_file`], a failure is logged and `open` removes it.
	fn remove_incoming(&self, id: u64) {
		remove_logged(&self.incoming_path(id));
	}

	fn file_path(&self, hash: &H256) -> PathBuf {
		self.files.join(file_name(hash))
	}

	fn incoming_path(&self, id: u64) -> PathBuf {
		self.incoming.join(format!("{id:016x}"))
	}

	/// The CRC-32 of each chunk of a blob whose bytes are in a file; `None` for a blob stored in
	/// the database's chunks (before ciphertext files) or not stored.
	fn sums(&self, hash: &H256) -> Result<Option<Vec<u32>>, StoreError> {
		match self.db.get_pinned_cf(self.cf(CF_SUMS), hash.as_bytes())? {
			None => Ok(None),
			Some(bytes) => Vec::<u32>::decode(&mut &bytes[..]).map(Some).map_err(|e| StoreError::BadMetadata(e.to_string())),
		}
	}

	/// The metadata of `hash`, if stored (pending, pinned or purged).
	pub fn meta(&self, hash: &CiphertextHash) -> Result<Option<BlobMeta>, StoreError> {
		match self.db.get_pinned_cf(self.cf(CF_META), hash.as_bytes())? {
			None => Ok(None),
			Some(bytes) => BlobMeta::decode(&mut &bytes[..])
				.map(Some)
				.map_err(|e| StoreError::BadMetadata(e.to_string())),
		}
	}

	/// Starts the node's own upload (replication) of a ciphertext of `size` bytes that must hash to
	/// `hash`; no upload limit applies. Returns the upload id, or `None` when the ciphertext is
	/// already stored (nothing to send).
	pub fn begin_upload(&self, hash: CiphertextHash, size: u64) -> Result<Option<u64>, StoreError> {
		self.begin(hash, size, None)
	}

	/// Starts `owner`'s upload, as [`BlobStore::begin_upload`], within the limits: at most
	/// [`StoreConfig::max_uploads_per_account`] of the account's and [`StoreConfig::max_open_uploads`]
	/// client uploads in all. Uploads idle for [`StoreConfig::upload_idle_ms`] are abandoned first.
	pub fn begin_upload_by(&self, owner: [u8; 32], hash: CiphertextHash, size: u64) -> Result<Option<u64>, StoreError> {
		self.begin(hash, size, Some(owner))
	}

	fn begin(&self, hash: CiphertextHash, size: u64, owner: Option<[u8; 32]>) -> Result<Option<u64>, StoreError> {
		if size == 0 {
			return Err(StoreError::Empty);
		}
		if size > self.config.max_blob_size {
			return Err(StoreError::TooLarge { size, max: self.config.max_blob_size });
		}
		let mut uploads = self.uploads.lock().expect("upload table lock");
		// Under the lock: an upload of this hash that finishes meanwhile is either still in the
		// table or already stored, never neither.
		match self.meta(&hash)? {
			Some(BlobMeta { state: BlobState::Purged { .. }, .. }) => return Err(StoreError::Purged(hash)),
			Some(_) => return Ok(None),
			None => {},
		}
		if owner.is_some() {
			self.abandon_idle(&mut uploads)?;
		}
		if uploads.values().any(|upload| upload.hash == hash) {
			return Err(StoreError::UploadInProgress(hash));
		}
		if let Some(owner) = owner {
			let of_owner = uploads.values().filter(|upload| upload.owner == Some(owner)).count();
			if of_owner >= self.config.max_uploads_per_account {
				return Err(StoreError::TooManyUploadsOfAccount(of_owner));
			}
			let of_clients = uploads.values().filter(|upload| upload.owner.is_some()).count();
			if of_clients >= self.config.max_open_uploads {
				return Err(StoreError::TooManyUploads(of_clients));
			}
			let held = self.held_by(&uploads, &owner);
			let max = self.config.max_pending_bytes_per_account;
			if held.saturating_add(size) > max {
				return Err(StoreError::TooMuchPendingOfAccount { held, max });
			}
		}
		// Random, so that one uploader cannot guess (and disturb) another's upload.
		let mut id: u64 = rand::random();
		while uploads.contains_key(&id) {
			id = rand::random();
		}
		let file = std::fs::OpenOptions::new()
			.write(true)
			.create(true)
			.truncate(true)
			.open(self.incoming_path(id))
			.map_err(|e| StoreError::files("creating an upload's file", e))?;
		let upload = Upload {
			hash,
			size,
			received: 0,
			next_chunk: 0,
			io: Some(UploadIo { file, hashed: CiphertextHasher::new(), sums: Vec::new() }),
			owner,
			touched: Instant::now(),
			finishing: false,
		};
		uploads.insert(id, upload);
		Ok(Some(id))
	}

	/// Drops the client uploads that received nothing for [`StoreConfig::upload_idle_ms`], with
	/// their chunks; returns how many.
	pub fn abandon_idle_uploads(&self) -> Result<usize, StoreError> {
		self.abandon_idle(&mut self.uploads.lock().expect("upload table lock"))
	}

	fn abandon_idle(&self, uploads: &mut HashMap<u64, Upload>) -> Result<usize, StoreError> {
		let idle = Duration::from_millis(self.config.upload_idle_ms);
		let abandoned: Vec<u64> = uploads
			.iter()
			.filter(|(_, upload)| upload.owner.is_some() && !upload.finishing && upload.touched.elapsed() >= idle)
			.map(|(id, _)| *id)
			.collect();
		for id in &abandoned {
			uploads.remove(id);
			self.remove_incoming(*id);
		}
		Ok(abandoned.len())
	}

	/// Stores chunk `index` of upload `id`. Chunks come in order; all but the last are exactly
	/// [`CHUNK_SIZE`] bytes.
	/// Returns the bytes received so far.
	pub fn put_chunk(&self, id: u64, index: u32, bytes: &[u8]) -> Result<u64, StoreError> {
		let (mut io, offset) = {
			let mut uploads = self.uploads.lock().expect("upload table lock");
			let upload = uploads.get_mut(&id).filter(|upload| !upload.finishing).ok_or(StoreError::UnknownUpload(id))?;
			if index != upload.next_chunk {
				return Err(StoreError::ChunkOutOfOrder { expected: upload.next_chunk, got: index });
			}
			let after = upload.received + bytes.len() as u64;
			let is_last = after == upload.size;
			if bytes.is_empty() || bytes.len() > CHUNK_SIZE || (!is_last && bytes.len() != CHUNK_SIZE) {
				return Err(StoreError::BadChunk(bytes.len()));
			}
			if after > upload.size {
				return Err(StoreError::SizeMismatch { expected: upload.size, got: after });
			}
			// Another call is writing this upload's previous chunk: this one came too early.
			let io = upload.io.take().ok_or(StoreError::UploadInProgress(upload.hash))?;
			upload.touched = Instant::now();
			(io, upload.received)
		};
		let written = io.write(offset, bytes);
		let mut uploads = self.uploads.lock().expect("upload table lock");
		// Aborted or abandoned while the chunk was written: its file is gone with it.
		let upload = uploads.get_mut(&id).ok_or(StoreError::UnknownUpload(id))?;
		upload.io = Some(io);
		written?;
		upload.received = offset + bytes.len() as u64;
		upload.next_chunk += 1;
		upload.touched = Instant::now();
		Ok(upload.received)
	}

	/// The announced size of upload `id` and the bytes it received so far.
	pub fn upload_progress(&self, id: u64) -> Result<(u64, u64), StoreError> {
		let uploads = self.uploads.lock().expect("upload table lock");
		let upload = uploads.get(&id).filter(|upload| !upload.finishing).ok_or(StoreError::UnknownUpload(id))?;
		Ok((upload.size, upload.received))
	}

	/// Abandons upload `id` and deletes what it stored.
	pub fn abort_upload(&self, id: u64) -> Result<(), StoreError> {
		let mut uploads = self.uploads.lock().expect("upload table lock");
		match uploads.get(&id) {
			None => return Err(StoreError::UnknownUpload(id)),
			Some(upload) if upload.finishing => return Err(StoreError::UploadInProgress(upload.hash)),
			Some(_) => {},
		}
		uploads.remove(&id);
		self.remove_incoming(id);
		Ok(())
	}

	/// Checks the whole upload against its hash and, when it matches, acknowledges it durably:
	/// when this returns `Ok` the blob survives a crash. On a mismatch the chunks are deleted.
	/// Returns the ciphertext's hash and metadata.
	pub fn finish_upload(&self, id: u64, now_ms: u64) -> Result<(CiphertextHash, BlobMeta), StoreError> {
		let received = {
			let mut uploads = self.uploads.lock().expect("upload table lock");
			let upload = uploads.get_mut(&id).filter(|upload| !upload.finishing).ok_or(StoreError::UnknownUpload(id))?;
			let io = upload.io.take().ok_or(StoreError::UploadInProgress(upload.hash))?;
			upload.finishing = true;
			Received { id, hash: upload.hash, size: upload.size, received: upload.received, owner: upload.owner, io }
		};
		let result = self.acknowledge(received, now_ms);
		self.uploads.lock().expect("upload table lock").remove(&id);
		result
	}

	/// The checks and the durable write of [`BlobStore::finish_upload`], while the upload keeps its
	/// place in the table.
	fn acknowledge(&self, upload: Received, now_ms: u64) -> Result<(CiphertextHash, BlobMeta), StoreError> {
		let Received { id, hash, size, received, owner, io } = upload;
		let checked = self.check_and_sync(hash, size, received, io);
		let names = self.names.lock().expect("names lock");
		let placed = checked.and_then(|sums| {
			// Erased on chain while it was uploaded (replication fetching it, say): the tombstone stays.
			if let Some(BlobMeta { state: BlobState::Purged { .. }, .. }) = self.meta(&hash)? {
				return Err(StoreError::Purged(hash));
			}
			self.move_into_place(id, &hash)?;
			Ok(sums)
		});
		let sums = match placed {
			Ok(sums) => sums,
			Err(error) => {
				self.remove_incoming(id);
				return Err(error);
			},
		};
		let meta = BlobMeta {
			size,
			chunk_hashes: Vec::new(),
			state: BlobState::Pending { expires_at_ms: now_ms.saturating_add(self.config.pending_ttl_ms) },
			stored_at_ms: now_ms,
		};
		// The file is durable in place; this synced write makes it the stored blob. Should it fail,
		// the file stays: the write may have reached the log even so, and `open` removes the file
		// if its metadata did not.
		let mut batch = WriteBatch::default();
		batch.put_cf(self.cf(CF_META), hash.as_bytes(), meta.encode());
		batch.put_cf(self.cf(CF_SUMS), hash.as_bytes(), sums.encode());
		if let Some(owner) = owner {
			batch.put_cf(self.cf(CF_PENDING_OWNERS), hash.as_bytes(), pending_owner_value(&owner, size));
		}
		self.db.write_opt(batch, &Self::synced())?;
		if let Some(owner) = owner {
			self.pending_owners.lock().expect("pending owners lock").add(hash, owner, size);
		}
		drop(names);
		Ok((hash, meta))
	}

	/// Checks what an upload received against its announced size and hash and, when both match,
	/// syncs its file (`fdatasync`, which finds little left to write); returns the CRC-32 of each
	/// chunk. Hashed as the chunks came in: nothing is read back.
	fn check_and_sync(&self, hash: H256, size: u64, received: u64, io: UploadIo) -> Result<Vec<u32>, StoreError> {
		if received != size {
			return Err(StoreError::SizeMismatch { expected: size, got: received });
		}
		let UploadIo { file, hashed, sums } = io;
		let actual = hashed.finalize();
		if actual != hash {
			return Err(StoreError::HashMismatch { claimed: hash, actual });
		}
		file.sync_data().map_err(|e| StoreError::files("syncing an upload", e))?;
		Ok(sums)
	}

	/// Renames upload `id`'s synced file to `hash`'s name, and syncs the directory.
	fn move_into_place(&self, id: u64, hash: &H256) -> Result<(), StoreError> {
		std::fs::rename(self.incoming_path(id), self.file_path(hash))
			.map_err(|e| StoreError::files("moving an upload into place", e))?;
		File::open(&self.files)
			.and_then(|dir| dir.sync_all())
			.map_err(|e| StoreError::files("syncing the ciphertext directory", e))
	}

	/// Stores a whole ciphertext in one call (replication, tests): begin, chunks, finish.
	pub fn put_blob(&self, hash: CiphertextHash, bytes: &[u8], now_ms: u64) -> Result<BlobMeta, StoreError> {
		let Some(id) = self.begin_upload(hash, bytes.len() as u64)? else {
			return self.meta(&hash)?.ok_or(StoreError::Unknown(hash));
		};
		for (index, chunk) in bytes.chunks(CHUNK_SIZE).enumerate() {
			if let Err(error) = self.put_chunk(id, index as u32, chunk) {
				let _ = self.abort_upload(id);
				return Err(error);
			}
		}
		self.finish_upload(id, now_ms).map(|(_, meta)| meta)
	}

	/// Chunk `index` of a stored (pending or pinned) ciphertext. A chunk that does not match its
	/// CRC-32, that is missing or short, or (for a blob stored in the database's chunks by an
	/// earlier release) that RocksDB finds corrupt or that does not match its recorded hash, is
	/// [`StoreError::Corrupt`].
	pub fn read_chunk(&self, hash: &CiphertextHash, index: u32) -> Result<Vec<u8>, StoreError> {
		let meta = self.meta(hash)?.ok_or(StoreError::Unknown(*hash))?;
		self.read_chunk_of(hash, &meta, index)
	}

	/// [`BlobStore::read_chunk`] with the metadata already read (a reader going through every chunk
	/// of one ciphertext reads it once).
	pub fn read_chunk_of(&self, hash: &CiphertextHash, meta: &BlobMeta, index: u32) -> Result<Vec<u8>, StoreError> {
		if let BlobState::Purged { .. } = meta.state {
			return Err(StoreError::Purged(*hash));
		}
		if index >= meta.chunks() {
			return Err(StoreError::NoSuchChunk { hash: *hash, index, chunks: meta.chunks() });
		}
		let corrupt = StoreError::Corrupt { hash: *hash, index };
		if let Some(sums) = self.sums(hash)? {
			let Some(&expected) = sums.get(index as usize) else { return Err(corrupt) };
			let file = match File::open(self.file_path(hash)) {
				Ok(file) => file,
				Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(corrupt),
				Err(error) => return Err(StoreError::files("opening a ciphertext", error)),
			};
			let mut chunk = vec![0u8; meta.chunk_len(index)];
			match file.read_exact_at(&mut chunk, index as u64 * CHUNK_SIZE as u64) {
				Ok(()) => {},
				Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Err(corrupt),
				Err(error) => return Err(StoreError::files("reading a ciphertext", error)),
			}
			return if crc32fast::hash(&chunk) == expected { Ok(chunk) } else { Err(corrupt) };
		}
		let chunk = match self.db.get_cf(self.cf(CF_CHUNKS), chunk_key(hash, index)) {
			Ok(Some(chunk)) => chunk,
			Ok(None) => return Err(corrupt),
			Err(error) if error.kind() == rocksdb::ErrorKind::Corruption => return Err(corrupt),
			Err(error) => return Err(error.into()),
		};
		if chunk.len() != meta.chunk_len(index) {
			return Err(corrupt);
		}
		if let Some(expected) = meta.chunk_hashes.get(index as usize) {
			if chunk_hash(&chunk) != *expected {
				return Err(corrupt);
			}
		}
		Ok(chunk)
	}

	/// The whole ciphertext, checked chunk by chunk (tests and small blobs).
	pub fn read_blob(&self, hash: &CiphertextHash) -> Result<Vec<u8>, StoreError> {
		let meta = self.meta(hash)?.ok_or(StoreError::Unknown(*hash))?;
		let mut bytes = Vec::with_capacity(meta.size as usize);
		for index in 0..meta.chunks() {
			bytes.extend_from_slice(&self.read_chunk_of(hash, &meta, index)?);
		}
		Ok(bytes)
	}

	/// Reads the whole ciphertext back, one chunk at a time, and checks it against its hash:
	/// `Ok(false)` when the local copy is corrupt.
	pub fn verify_blob(&self, hash: &CiphertextHash) -> Result<bool, StoreError> {
		let meta = self.meta(hash)?.ok_or(StoreError::Unknown(*hash))?;
		let mut whole = CiphertextHasher::new();
		for index in 0..meta.chunks() {
			match self.read_chunk_of(hash, &meta, index) {
				Ok(chunk) => {
					whole.update(&chunk);
				},
				Err(StoreError::Corrupt { .. }) => return Ok(false),
				Err(error) => return Err(error),
			}
		}
		Ok(whole.finalize() == *hash)
	}

	/// The registration of `hash` is final: keep the blob for good. A blob not stored yet is
	/// left to replication; returns whether it was stored here.
	pub fn pin(&self, hash: &CiphertextHash) -> Result<bool, StoreError> {
		// Under `names`: an expiry or a discard deciding meanwhile on the state read here would
		// delete what this makes pinned.
		let _names = self.names.lock().expect("names lock");
		let Some(mut meta) = self.meta(hash)? else { return Ok(false) };
		if let BlobState::Pending { .. } = meta.state {
			meta.state = BlobState::Pinned;
			let mut batch = WriteBatch::default();
			batch.put_cf(self.cf(CF_META), hash.as_bytes(), meta.encode());
			self.write_ending_pending(batch, &[*hash])?;
		}
		Ok(!matches!(meta.state, BlobState::Purged { .. }))
	}

	/// The chain erased (or replaced) the ciphertext: delete its bytes and keep a tombstone.
	pub fn purge(&self, hash: &CiphertextHash, now_ms: u64) -> Result<(), StoreError> {
		let _names = self.names.lock().expect("names lock");
		let size = self.meta(hash)?.map_or(0, |m| m.size);
		let tombstone = BlobMeta { size, chunk_hashes: Vec::new(), state: BlobState::Purged { at_ms: now_ms }, stored_at_ms: now_ms };
		let mut batch = WriteBatch::default();
		batch.put_cf(self.cf(CF_META), hash.as_bytes(), tombstone.encode());
		batch.delete_cf(self.cf(CF_WANTED), hash.as_bytes());
		self.delete_bytes(hash, &mut batch);
		self.write_ending_pending(batch, &[*hash])?;
		self.remove_file(hash);
		Ok(())
	}

	/// Deletes pending blobs whose registration did not come in time; returns their hashes.
	pub fn expire_pending(&self, now_ms: u64) -> Result<Vec<CiphertextHash>, StoreError> {
		let is_expired = |meta: &BlobMeta| matches!(meta.state, BlobState::Pending { expires_at_ms } if expires_at_ms <= now_ms);
		let mut candidates = Vec::new();
		for item in self.db.iterator_cf(self.cf(CF_META), rocksdb::IteratorMode::Start) {
			let (key, value) = item?;
			let meta = BlobMeta::decode(&mut &value[..]).map_err(|e| StoreError::BadMetadata(e.to_string()))?;
			if is_expired(&meta) {
				candidates.push(H256::from_slice(&key));
			}
		}
		let mut expired = Vec::new();
		for hash in candidates {
			let _names = self.names.lock().expect("names lock");
			// Pinned or purged since the look above: not this sweep's to delete.
			if !self.meta(&hash)?.is_some_and(|meta| is_expired(&meta)) {
				continue;
			}
			let mut batch = WriteBatch::default();
			batch.delete_cf(self.cf(CF_META), hash.as_bytes());
			self.delete_bytes(&hash, &mut batch);
			self.write_ending_pending(batch, &[hash])?;
			self.remove_file(&hash);
			expired.push(hash);
		}
		Ok(expired)
	}

	/// Stores `wrapped`: the data key of `record` at `data_epoch`, wrapped with HPKE to the X25519 key
	/// of `recipient` at `recipient_epoch`. A later wrap for the same data epoch replaces it (the
	/// recipient rotated its key).
	pub fn put_wrapped_key(
		&self,
		record: RecordId,
		recipient: &[u8; 32],
		data_epoch: u32,
		recipient_epoch: u32,
		wrapped: &[u8],
		upload: &[u8],
	) -> Result<(), StoreError> {
		let mut key = key_prefix(record, recipient);
		key.extend_from_slice(&data_epoch.to_be_bytes());
		let value = WrappedKey { data_epoch, recipient_epoch, wrapped: wrapped.to_vec(), upload: upload.to_vec() };
		self.db.put_cf_opt(self.cf(CF_KEYS), key, value.encode(), &Self::synced())?;
		Ok(())
	}

	/// The wrapped key of `record` for `recipient` at the highest data-key epoch.
	pub fn wrapped_key(&self, record: RecordId, recipient: &[u8; 32]) -> Result<WrappedKey, StoreError> {
		let prefix = key_prefix(record, recipient);
		let mut upper = prefix.clone();
		upper.extend_from_slice(&u32::MAX.to_be_bytes());
		let mode = rocksdb::IteratorMode::From(&upper, rocksdb::Direction::Reverse);
		for item in self.db.iterator_cf(self.cf(CF_KEYS), mode) {
			let (key, value) = item?;
			if !key.starts_with(&prefix) {
				break;
			}
			return WrappedKey::decode(&mut &value[..]).map_err(|e| StoreError::BadMetadata(e.to_string()));
		}
		Err(StoreError::NoWrappedKey)
	}

	/// Every wrapped key kept for `record`: (recipient, key), every recipient and data epoch.
	pub fn wrapped_keys_of(&self, record: RecordId) -> Result<Vec<([u8; 32], WrappedKey)>, StoreError> {
		let prefix = record.to_be_bytes();
		let mode = rocksdb::IteratorMode::From(&prefix, rocksdb::Direction::Forward);
		let mut keys = Vec::new();
		for item in self.db.iterator_cf(self.cf(CF_KEYS), mode) {
			let (key, value) = item?;
			if !key.starts_with(&prefix) {
				break;
			}
			let recipient: [u8; 32] = key
				.get(8..40)
				.and_then(|bytes| bytes.try_into().ok())
				.ok_or_else(|| StoreError::BadMetadata("a wrapped key's database key is too short".into()))?;
			keys.push((recipient, WrappedKey::decode(&mut &value[..]).map_err(|e| StoreError::BadMetadata(e.to_string()))?));
		}
		Ok(keys)
	}

	/// Deletes every wrapped key of `record` (its erasure is final).
	pub fn purge_wrapped_keys(&self, record: RecordId) -> Result<(), StoreError> {
		let from = record.to_be_bytes().to_vec();
		let to = record.saturating_add(1).to_be_bytes().to_vec();
		let mut batch = WriteBatch::default();
		batch.delete_range_cf(self.cf(CF_KEYS), from, to);
		self.db.write_opt(batch, &Self::synced())?;
		Ok(())
	}

	/// Records `nonce` of `signer`, valid until `expires_at_ms`; refuses one already recorded.
	pub fn use_nonce(&self, signer: &[u8; 32], nonce: &[u8; 16], expires_at_ms: u64) -> Result<(), StoreError> {
		let mut key = signer.to_vec();
		key.extend_from_slice(nonce);
		let _guard = self.nonces.lock().expect("nonce lock");
		if self.db.get_pinned_cf(self.cf(CF_NONCES), &key)?.is_some() {
			return Err(StoreError::Replayed);
		}
		self.db.put_cf(self.cf(CF_NONCES), key, expires_at_ms.to_be_bytes())?;
		Ok(())
	}

	/// Forgets nonces of requests that expired (they would be refused as expired anyway).
	pub fn prune_nonces(&self, now_ms: u64) -> Result<usize, StoreError> {
		let mut batch = WriteBatch::default();
		let mut pruned = 0;
		for item in self.db.iterator_cf(self.cf(CF_NONCES), rocksdb::IteratorMode::Start) {
			let (key, value) = item?;
			let expires = u64::from_be_bytes(value[..8].try_into().unwrap_or([0xff; 8]));
			if expires < now_ms {
				batch.delete_cf(self.cf(CF_NONCES), key);
				pruned += 1;
			}
		}
		self.db.write(batch)?;
		Ok(pruned)
	}

	/// Every stored blob with its metadata (status RPC, replication).
	pub fn blobs(&self) -> Result<Vec<(CiphertextHash, BlobMeta)>, StoreError> {
		self.db
			.iterator_cf(self.cf(CF_META), rocksdb::IteratorMode::Start)
			.map(|item| {
				let (key, value) = item?;
				let meta = BlobMeta::decode(&mut &value[..]).map_err(|e| StoreError::BadMetadata(e.to_string()))?;
				Ok((H256::from_slice(&key), meta))
			})
			.collect()
	}

	/// Drops a local copy found corrupt (metadata and chunks), so that replication fetches it
	/// again; returns whether the blob was pinned (and so must be fetched again).
	pub fn discard_corrupt(&self, hash: &CiphertextHash) -> Result<bool, StoreError> {
		let _names = self.names.lock().expect("names lock");
		let Some(meta) = self.meta(hash)? else { return Ok(false) };
		if let BlobState::Purged { .. } = meta.state {
			return Ok(false);
		}
		let pinned = meta.state == BlobState::Pinned;
		let mut batch = WriteBatch::default();
		batch.delete_cf(self.cf(CF_META), hash.as_bytes());
		self.delete_bytes(hash, &mut batch);
		if pinned {
			batch.put_cf(self.cf(CF_WANTED), hash.as_bytes(), Wanted::default().encode());
		}
		self.write_ending_pending(batch, &[*hash])?;
		self.remove_file(hash);
		Ok(pinned)
	}

	/// Marks `hash` as registered on chain but missing here: replication fetches it. A hash
	/// already wanted (or given up as missing) stays as it is.
	pub fn want(&self, hash: &CiphertextHash) -> Result<(), StoreError> {
		if self.db.get_pinned_cf(self.cf(CF_WANTED), hash.as_bytes())?.is_none() {
			self.db.put_cf_opt(self.cf(CF_WANTED), hash.as_bytes(), Wanted::default().encode(), &Self::synced())?;
		}
		Ok(())
	}

	/// Stops wanting `hash` (fetched, or erased on chain).
	pub fn unwant(&self, hash: &CiphertextHash) -> Result<(), StoreError> {
		self.db.delete_cf_opt(self.cf(CF_WANTED), hash.as_bytes(), &Self::synced())?;
		Ok(())
	}

	/// Ciphertexts registered on chain but not stored here: being fetched, or given up.
	pub fn wanted(&self) -> Result<Vec<(CiphertextHash, Wanted)>, StoreError> {
		self.db
			.iterator_cf(self.cf(CF_WANTED), rocksdb::IteratorMode::Start)
			.map(|item| {
				let (key, value) = item?;
				Ok((H256::from_slice(&key), Wanted::decode_stored(&value)))
			})
			.collect()
	}

	/// Counts one more failed attempt to fetch `hash` at `now_ms`, to be tried again after
	/// `retry_after_ms`. Once every member node has answered that it does not hold it
	/// (`nobody_has_it`) at every attempt for [`StoreConfig::fetch_give_up_ms`], the store gives up:
	/// the hash is *missing*, and replication stops asking for it. Returns whether it gave up now.
	pub fn wanted_attempt_failed(
		&self,
		hash: &CiphertextHash,
		now_ms: u64,
		nobody_has_it: bool,
		retry_after_ms: u64,
	) -> Result<bool, StoreError> {
		let Some(value) = self.db.get_pinned_cf(self.cf(CF_WANTED), hash.as_bytes())? else { return Ok(false) };
		let mut wanted = Wanted::decode_stored(&value);
		drop(value);
		if wanted.missing {
			return Ok(false);
		}
		wanted.attempts = wanted.attempts.saturating_add(1);
		wanted.next_try_ms = now_ms.saturating_add(retry_after_ms);
		wanted.not_held_since_ms = match (nobody_has_it, wanted.not_held_since_ms) {
			(false, _) => 0,
			(true, 0) => now_ms,
			(true, since) => since,
		};
		wanted.missing =
			nobody_has_it && now_ms.saturating_sub(wanted.not_held_since_ms) >= self.config.fetch_give_up_ms;
		self.db.put_cf(self.cf(CF_WANTED), hash.as_bytes(), wanted.encode())?;
		Ok(wanted.missing)
	}

	/// Appends a served read's receipt; returns its sequence number. Written to the write-ahead log
	/// without waiting for the disk: a node crash loses nothing, a power loss may lose the last
	/// receipts (a synced write per read would cost a disk flush on every fetch).
	pub fn append_receipt(&self, receipt: &[u8]) -> Result<u64, StoreError> {
		let seq = self.next_receipt.fetch_add(1, Ordering::SeqCst);
		self.db.put_cf(self.cf(CF_RECEIPTS), seq.to_be_bytes(), receipt)?;
		Ok(seq)
	}

	/// Up to `limit` receipts from sequence number `from`, in order.
	pub fn receipts(&self, from: u64, limit: u32) -> Result<Vec<Vec<u8>>, StoreError> {
		let start = from.to_be_bytes();
		let mode = rocksdb::IteratorMode::From(&start, rocksdb::Direction::Forward);
		self.db
			.iterator_cf(self.cf(CF_RECEIPTS), mode)
			.take(limit as usize)
			.map(|item| Ok(item?.1.to_vec()))
			.collect()
	}

	/// How many receipts were ever appended.
	pub fn receipt_count(&self) -> u64 {
		self.next_receipt.load(Ordering::SeqCst)
	}

	fn state_u64(&self, key: &[u8]) -> Result<Option<u64>, StoreError> {
		match self.db.get_pinned_cf(self.cf(CF_STATE), key)? {
			None => Ok(None),
			Some(bytes) => u64_key(&bytes).map(Some),
		}
	}

	/// The last finalized block whose events this node has applied to the store.
	pub fn finalized_cursor(&self) -> Result<Option<u32>, StoreError> {
		Ok(self.state_u64(STATE_CURSOR)?.map(|n| n as u32))
	}

	pub fn set_finalized_cursor(&self, block: u32) -> Result<(), StoreError> {
		self.db.put_cf_opt(self.cf(CF_STATE), STATE_CURSOR, (block as u64).to_be_bytes(), &Self::synced())?;
		Ok(())
	}

	/// Receipts before this sequence number are anchored (or in the batch in flight).
	pub fn receipts_submitted(&self) -> Result<u64, StoreError> {
		Ok(self.state_u64(STATE_RECEIPTS_SUBMITTED)?.unwrap_or(0))
	}

	/// The batch submitted for anchoring and not yet seen final.
	pub fn batch_in_flight(&self) -> Result<Option<BatchInFlight>, StoreError> {
		match self.db.get_pinned_cf(self.cf(CF_STATE), STATE_IN_FLIGHT)? {
			None => Ok(None),
			Some(bytes) => BatchInFlight::decode(&mut &bytes[..]).map(Some).map_err(|e| StoreError::BadMetadata(e.to_string())),
		}
	}

	pub fn set_batch_in_flight(&self, batch: &BatchInFlight) -> Result<(), StoreError> {
		self.db.put_cf_opt(self.cf(CF_STATE), STATE_IN_FLIGHT, batch.encode(), &Self::synced())?;
		Ok(())
	}

	/// The batch in flight was anchored as `batch_id`: remember where its receipts are and move on.
	pub fn batch_anchored(&self, batch_id: u64, in_flight: &BatchInFlight) -> Result<(), StoreError> {
		let mut batch = WriteBatch::default();
		batch.put_cf(self.cf(CF_BATCHES), batch_id.to_be_bytes(), (in_flight.first, in_flight.count).encode());
		let submitted = in_flight.first + in_flight.count as u64;
		batch.put_cf(self.cf(CF_STATE), STATE_RECEIPTS_SUBMITTED, submitted.to_be_bytes());
		batch.delete_cf(self.cf(CF_STATE), STATE_IN_FLIGHT);
		self.db.write_opt(batch, &Self::synced())?;
		Ok(())
	}

	/// Where the receipts of anchored batch `batch_id` are: (first sequence number, count).
	pub fn anchored_batch(&self, batch_id: u64) -> Result<Option<(u64, u32)>, StoreError> {
		match self.db.get_pinned_cf(self.cf(CF_BATCHES), batch_id.to_be_bytes())? {
			None => Ok(None),
			Some(bytes) => <(u64, u32)>::decode(&mut &bytes[..]).map(Some).map_err(|e| StoreError::BadMetadata(e.to_string())),
		}
	}

	/// Counts for the status RPC (walks the metadata: a status call, not a hot path).
	pub fn summary(&self) -> Result<StoreSummary, StoreError> {
		let mut summary = StoreSummary::default();
		for (_, meta) in self.blobs()? {
			match meta.state {
				BlobState::Pending { .. } => summary.pending += 1,
				BlobState::Pinned => summary.pinned += 1,
				BlobState::Purged { .. } => summary.purged += 1,
			}
			if !matches!(meta.state, BlobState::Purged { .. }) {
				summary.bytes += meta.size;
			}
		}
		for (_, wanted) in self.wanted()? {
			if wanted.missing {
				summary.missing += 1;
			} else {
				summary.wanted += 1;
			}
		}
		summary.receipts = self.receipt_count();
		summary.receipts_anchored = self.receipts_submitted()?;
		summary.uploads_in_progress = self.uploads.lock().expect("upload table lock").len() as u64;
		Ok(summary)
	}
}

#[cfg(test)]
mod tests;
