//! Sealing, uploading, fetching and opening records: the paths ciphertext takes between a file on
//! the user's machine and a node's blob store. Ciphertext is spooled through a temporary file, so
//! no record, whatever its size, is ever held whole in memory.

use std::{
	io::{BufReader, BufWriter, Read, Seek, Write},
	path::Path,
};

use codec::{Decode, Encode};
use indicatif::{ProgressBar, ProgressStyle};
use phr_primitives::{BlobMethod, BlobSubject, CiphertextHash, Purpose, ReadReceipt, RecordId};
use phr_rpc_api::{Base64, Bytes, PhrApiClient, WrappedKeyAnswer, CHUNK_SIZE};
use phr_runtime::AccountId;
use serde_json::{json, Value};

use crate::{
	client::Node,
	crypto::{self, DataKey},
	error::{file_error, Result, WalletError},
	keyfile::Wallet,
};

fn progress(len: u64, what: &str, quiet: bool) -> ProgressBar {
	if quiet || len < 4 * CHUNK_SIZE as u64 {
		return ProgressBar::hidden();
	}
	let bar = ProgressBar::new(len);
	bar.set_style(
		ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
			.expect("a valid template")
			.progress_chars("=> "),
	);
	bar.set_message(what.to_string());
	bar
}

/// A bar over `steps` steps (uploads, finalized registrations) for work made of many small parts.
pub fn steps(steps: u64, what: &str, quiet: bool) -> ProgressBar {
	if quiet {
		return ProgressBar::hidden();
	}
	let bar = ProgressBar::new(steps);
	bar.set_style(ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}").expect("a valid template").progress_chars("=> "));
	bar.set_message(what.to_string());
	bar
}

/// A writer that hashes what passes through it (the record hash the chain registers).
struct Hashing<W> {
	inner: W,
	state: phr_primitives::CiphertextHasher,
}

impl<W: Write> Write for Hashing<W> {
	fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
		let n = self.inner.write(buf)?;
		self.state.update(&buf[..n]);
		Ok(n)
	}
	fn flush(&mut self) -> std::io::Result<()> {
		self.inner.flush()
	}
}

fn hashing<W: Write>(inner: W) -> Hashing<W> {
	Hashing { inner, state: phr_primitives::CiphertextHasher::new() }
}

/// A sealed record in a temporary file.
pub struct Sealed {
	pub file: tempfile::NamedTempFile,
	pub hash: CiphertextHash,
	pub size: u64,
	pub key: DataKey,
}

/// Seals `input` (of `len` bytes) under a fresh data key into a temporary file.
pub fn seal(input: &mut impl Read, len: u64, quiet: bool) -> Result<Sealed> {
	let sealed = seal_stream(input, len, quiet)?;
	if sealed.size != crypto::ciphertext_len(len) {
		return Err(WalletError::Usage("the file changed while it was being encrypted: try again".into()));
	}
	Ok(sealed)
}

/// Seals all of `input` (about `len` bytes, for the progress bar) under a fresh data key.
fn seal_stream(input: &mut impl Read, len: u64, quiet: bool) -> Result<Sealed> {
	let key = DataKey::random();
	let file = tempfile::NamedTempFile::new()?;
	let bar = progress(len, "encrypting", quiet);
	let mut writer = hashing(BufWriter::new(file.reopen()?));
	crypto::seal(&key, input, &mut writer, |done| bar.set_position(done))?;
	writer.flush()?;
	bar.finish_and_clear();
	let hash = writer.state.finalize();
	let size = file.as_file().metadata()?.len();
	Ok(Sealed { file, hash, size, key })
}

/// Re-encrypts a fetched record under a fresh data key without its plaintext ever touching the
/// disk: one thread decrypts into a pipe, this one seals what comes out of it. An altered
/// ciphertext fails the decryption, and then nothing is returned.
pub fn reseal(fetched: &Fetched, quiet: bool) -> Result<Sealed> {
	let size = fetched.ciphertext.as_file().metadata()?.len();
	let (mut plaintext, mut decrypted) = std::io::pipe()?;
	std::thread::scope(|scope| {
		let opener = scope.spawn(move || {
			let mut input = BufReader::new(fetched.ciphertext.reopen()?);
			// `decrypted` is dropped when this returns: the sealer sees the end of the plaintext.
			crypto::open(&fetched.key, &mut input, &mut decrypted, |_| {})
		});
		let sealed = seal_stream(&mut plaintext, size, quiet);
		// A sealer that stopped early must not leave the opener blocked on a full pipe.
		drop(plaintext);
		let opened = opener.join().map_err(|_| WalletError::Crypto("the decrypting thread stopped".into()))?;
		opened?;
		sealed
	})
}

/// Uploads a sealed record through `node` (nothing is sent when the node already has it).
pub fn upload(node: &Node, wallet: &Wallet, sealed: &Sealed, quiet: bool) -> Result<()> {
	let request = node.request(wallet, BlobMethod::UploadCiphertext { size: sealed.size }, BlobSubject::Ciphertext(sealed.hash))?;
	let started = node.wait("phr_uploadBegin", node.phr().upload_begin(Bytes(request.encode()), sealed.size))?;
	let Some(upload) = started.upload else { return Ok(()) };
	if started.chunk_size as usize != CHUNK_SIZE {
		return Err(WalletError::Usage(format!(
			"the node takes chunks of {} bytes, this wallet sends {CHUNK_SIZE}: use a wallet of the node's version",
			started.chunk_size
		)));
	}
	let bar = progress(sealed.size, "uploading", quiet);
	let mut file = sealed.file.reopen()?;
	file.rewind()?;
	if let Some(endpoint) = node.binary()? {
		let sent = bar.clone();
		let reader = BufReader::with_capacity(CHUNK_SIZE, file);
		node.run(crate::binary::put(&endpoint, &upload, reader, sealed.size, move |n| sent.inc(n)))?;
		bar.finish_and_clear();
		return Ok(());
	}
	let mut chunk = vec![0u8; CHUNK_SIZE];
	let mut index = 0u32;
	loop {
		let n = crypto::read_full(&mut file, &mut chunk)?;
		if n == 0 {
			break;
		}
		node.wait("phr_uploadChunk", node.phr().upload_chunk(upload.clone(), index, Base64::encode(&chunk[..n])))?;
		bar.inc(n as u64);
		index += 1;
	}
	node.wait("phr_uploadFinish", node.phr().upload_finish(upload))?;
	bar.finish_and_clear();
	Ok(())
}

/// Stores `key` wrapped for `recipient` (whose X25519 key `recipient_key` has `recipient_epoch`).
pub fn share_key(
	node: &Node,
	wallet: &Wallet,
	record: RecordId,
	data_epoch: u32,
	key: &DataKey,
	recipient: &AccountId,
	recipient_key: &[u8; 32],
	recipient_epoch: u32,
) -> Result<()> {
	let wrapped = crypto::wrap(key, recipient_key, record, data_epoch)?;
	put_wrapped(node, wallet, record, data_epoch, recipient, recipient_epoch, &wrapped)
}

/// Stores `wrapped` (a wrapped data key, or an escrow share sealed to a hospital's escrow key) for
/// `recipient` at `data_epoch` and the recipient's key epoch `recipient_epoch`.
pub fn put_wrapped(
	node: &Node,
	wallet: &Wallet,
	record: RecordId,
	data_epoch: u32,
	recipient: &AccountId,
	recipient_epoch: u32,
	wrapped: &[u8],
) -> Result<()> {
	let method = BlobMethod::UploadWrappedKey {
		recipient: recipient.clone(),
		data_epoch,
		recipient_epoch,
		wrapped: phr_primitives::wrapped_key_hash(wrapped),
	};
	let request = node.request(wallet, method, BlobSubject::Record(record))?;
	let call = node.phr().put_wrapped_key(
		Bytes(request.encode()),
		recipient.clone(),
		data_epoch,
		recipient_epoch,
		Base64::encode(wrapped),
	);
	node.wait("phr_putWrappedKey", call)
}

/// A record fetched and checked: its ciphertext in a temporary file and the unwrapped data key.
pub struct Fetched {
	pub ciphertext: tempfile::NamedTempFile,
	pub key: DataKey,
	pub key_epoch: u32,
	pub basis: String,
	/// The version as the chain registered it (proven): its author (who signed its registration),
	/// version number and block. The ciphertext hashed to the hash registered with it.
	pub registered: Option<crate::commands::RecordOnChain>,
}

/// Fetches `record` through `node`: the chain's hash of it (at the finalized block) is what the
/// bytes must hash to, whatever the node says; the data key must open with this wallet's keys.
pub fn fetch(node: &Node, wallet: &Wallet, record: RecordId, purpose: &str, quiet: bool) -> Result<Fetched> {
	let request = node.request(wallet, BlobMethod::Fetch { purpose: parse_purpose(purpose)? }, BlobSubject::Record(record))?;
	let answer = node.wait("phr_fetch", node.phr().fetch(Bytes(request.encode()), Some(purpose.into()), None))?;
	let info: Option<crate::commands::RecordOnChain> =
		node.proven()?.value(pallet_records::RecordOf::<phr_runtime::Runtime>::hashed_key_for(record))?;
	let expected = info.as_ref().ok_or_else(|| WalletError::Usage(format!("record {record} does not exist")))?.ciphertext_hash;

	// Break-glass readers hold no wrapped key: the member hospitals release their escrow shares.
	let break_glass = answer.wrapped_key.is_none() && purpose == "emergency";
	if answer.wrapped_key.is_none() && !break_glass {
		return Err(WalletError::Usage(format!(
			"record {record}'s data key was not shared with this account: ask the patient to grant you access again"
		)));
	}

	let bar = progress(answer.size, "downloading", quiet);
	let ciphertext = tempfile::NamedTempFile::new()?;
	let mut writer = hashing(BufWriter::new(ciphertext.reopen()?));
	let binary = if answer.session.is_some() { node.binary()? } else { None };
	match (&answer.data, &answer.session) {
		(Some(data), _) => writer.write_all(&data.0)?,
		(None, Some(session)) if binary.is_some() => {
			let endpoint = binary.expect("just checked");
			node.run(crate::binary::get(&endpoint, session, answer.size, &mut writer, |n| bar.inc(n)))?;
		},
		(None, Some(session)) =>
			for index in 0..answer.chunks {
				let Base64(bytes) = node.wait("phr_fetchChunk", node.phr().fetch_chunk(session.clone(), index))?;
				bar.inc(bytes.len() as u64);
				writer.write_all(&bytes)?;
			},
		(None, None) => return Err(WalletError::Corrupt("the node sent neither data nor a session".into())),
	}
	writer.flush()?;
	bar.finish_and_clear();
	let actual = writer.state.finalize();
	if actual != expected {
		return Err(WalletError::Corrupt(format!(
			"record {record}'s ciphertext from the node hashes to {actual:?}, not to the chain's {expected:?}: try another node"
		)));
	}

	let basis = answer.basis;
	let (key, data_epoch) = match answer.wrapped_key {
		None => {
			let data_epoch = answer.key_epoch;
			(crate::escrow::released_key(node, wallet, record, data_epoch, &basis, &ciphertext)?, data_epoch)
		},
		Some(wrapped) => open_wrapped(wallet, record, &wrapped)?,
	};
	Ok(Fetched { ciphertext, key, key_epoch: data_epoch, basis, registered: info })
}

/// The data key of `record` wrapped for this wallet, asked of `node` without the ciphertext (a
/// `key_only` fetch, decided and receipted like any read), with its data-key epoch.
pub fn fetch_key(node: &Node, wallet: &Wallet, record: RecordId) -> Result<(DataKey, u32)> {
	let request = node.request(wallet, BlobMethod::Fetch { purpose: Purpose::Treatment }, BlobSubject::Record(record))?;
	let answer = node.wait("phr_fetch", node.phr().fetch(Bytes(request.encode()), Some("treatment".into()), Some(true)))?;
	let wrapped = answer.wrapped_key.ok_or_else(|| {
		WalletError::Usage(format!(
			"record {record}'s data key was not shared with this account: ask the patient to grant you access again"
		))
	})?;
	open_wrapped(wallet, record, &wrapped)
}

/// Opens `record`'s data key wrapped for this wallet; returns it with its data-key epoch.
fn open_wrapped(wallet: &Wallet, record: RecordId, wrapped: &WrappedKeyAnswer) -> Result<(DataKey, u32)> {
	let mine = wallet.encryption_key(wrapped.recipient_epoch)?.ok_or_else(|| {
		WalletError::Usage(format!(
			"record {record}'s key was wrapped to key epoch {}, which this wallet does not hold",
			wrapped.recipient_epoch
		))
	})?;
	Ok((crypto::unwrap(&wrapped.wrapped.0, &mine, record, wrapped.data_epoch)?, wrapped.data_epoch))
}

/// Decrypts a fetched record to `output` (written to `<output>.partial`, renamed when complete:
/// a failure leaves no partial plaintext under the real name).
pub fn open_to_file(fetched: &Fetched, output: &Path, quiet: bool) -> Result<u64> {
	let partial = crate::files::partial_of(output);
	let result = (|| {
		let mut input = BufReader::new(fetched.ciphertext.reopen()?);
		let size = fetched.ciphertext.as_file().metadata()?.len();
		let bar = progress(size, "decrypting", quiet);
		// Owner-only from its first byte: it is plaintext.
		let mut writer = BufWriter::new(crate::files::create_private(&partial)?);
		let mut written = 0;
		crypto::open(&fetched.key, &mut input, &mut writer, |done| {
			written = done;
			bar.set_position(done)
		})?;
		writer.flush()?;
		bar.finish_and_clear();
		Ok(written)
	})();
	match result {
		Ok(written) => {
			std::fs::rename(&partial, output).map_err(file_error(output))?;
			Ok(written)
		},
		Err(error) => {
			let _ = std::fs::remove_file(&partial);
			Err(error)
		},
	}
}

/// Decrypts a fetched record into memory (FHIR export of small resources).
pub fn open_to_vec(fetched: &Fetched) -> Result<Vec<u8>> {
	let mut input = BufReader::new(fetched.ciphertext.reopen()?);
	let mut plain = Vec::new();
	crypto::open(&fetched.key, &mut input, &mut plain, |_| {})?;
	Ok(plain)
}

/// The purpose of a read as the node's `phr_fetch` names it: `treatment`, `emergency` or
/// `research:<code>`.
pub fn parse_purpose(purpose: &str) -> Result<Purpose> {
	Purpose::from_param(purpose)
		.ok_or_else(|| WalletError::Usage(format!("'{purpose}' is not a purpose: use treatment, emergency or research:<code>")))
}

/// Decodes a SCALE-encoded read receipt with its inclusion proof (`phr_receiptBatch`).
pub fn decode_receipt(bytes: &[u8]) -> Result<(ReadReceipt<AccountId>, phr_primitives::receipts::InclusionProof)> {
	Decode::decode(&mut &bytes[..]).map_err(|e| WalletError::Corrupt(format!("a receipt does not decode: {e}")))
}

/// The JSON a `--json` caller gets for a fetched record.
pub fn describe(record: RecordId, fetched: &Fetched, bytes: u64, output: &Path) -> Value {
	use sp_core::crypto::Ss58Codec;
	let mut described = json!({ "record": record, "bytes": bytes, "keyEpoch": fetched.key_epoch, "basis": fetched.basis, "output": output });
	if let Some(info) = &fetched.registered {
		described["author"] = json!(info.author.to_ss58check());
		described["patient"] = json!(info.patient.to_ss58check());
		described["version"] = json!(info.version);
		described["registeredAt"] = json!(info.registered_at);
		described["previous"] = json!(info.previous);
	}
	described
}

/// Who wrote the version read, as the chain registered it (a sentence).
pub fn provenance(fetched: &Fetched) -> String {
	use sp_core::crypto::Ss58Codec;
	match &fetched.registered {
		Some(info) => format!(
			" Version {} written by {}, registered at block {} (verified against the finalized chain; the bytes are the ones registered).",
			info.version,
			info.author.to_ss58check(),
			info.registered_at
		),
		None => String::new(),
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn fetched_from(sealed: Sealed) -> Fetched {
		Fetched { ciphertext: sealed.file, key: sealed.key, key_epoch: 0, basis: "Owner".into(), registered: None }
	}

	#[test]
	fn resealing_keeps_the_plaintext_under_a_new_key_and_refuses_an_altered_ciphertext() {
		// Several STREAM chunks and more than a pipe's buffer, so both threads block in turn.
		let plain: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
		let first = seal(&mut &plain[..], plain.len() as u64, true).unwrap();
		let old_key = *first.key.bytes();
		let fetched = fetched_from(first);
		let again = reseal(&fetched, true).unwrap();
		assert_ne!(*again.key.bytes(), old_key, "a fresh data key");
		assert_eq!(again.size, crypto::ciphertext_len(plain.len() as u64));
		assert_eq!(open_to_vec(&fetched_from(again)).unwrap(), plain);

		// One flipped byte in the middle: the reseal fails, and says why.
		let mut bytes = std::fs::read(fetched.ciphertext.path()).unwrap();
		bytes[300_000] ^= 1;
		std::fs::write(fetched.ciphertext.path(), &bytes).unwrap();
		let error = reseal(&fetched, true).err().expect("an altered ciphertext is refused");
		assert!(matches!(error, WalletError::Corrupt(_)), "{error}");
	}
}
