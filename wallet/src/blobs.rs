//! Sealing, uploading, fetching and opening records: the paths ciphertext takes between a file on
//! the user's machine and a node's blob store. Ciphertext is spooled through a temporary file, so
//! no record, whatever its size, is ever held whole in memory.

use std::{
	fs::File,
	io::{BufReader, BufWriter, Read, Seek, Write},
	path::Path,
};

use codec::Decode;
use indicatif::{ProgressBar, ProgressStyle};
use phr_primitives::{BlobMethod, BlobSubject, CiphertextHash, Purpose, ReadReceipt, RecordId};
use phr_runtime::AccountId;
use serde_json::{json, Value};

use crate::{
	client::{b64, to_hex, unb64, Node},
	crypto::{self, DataKey},
	error::{file_error, Result, WalletError},
	keyfile::Wallet,
};

/// Bytes per upload chunk: the node's chunk size.
const UPLOAD_CHUNK: usize = 1024 * 1024;

fn progress(len: u64, what: &str, quiet: bool) -> ProgressBar {
	if quiet || len < 4 * UPLOAD_CHUNK as u64 {
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

/// A writer that hashes what passes through it (blake2-256, the chain's ciphertext hash).
struct Hashing<W> {
	inner: W,
	state: blake2b_simd::State,
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
	Hashing { inner, state: blake2b_simd::Params::new().hash_length(32).to_state() }
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
	let key = DataKey::random();
	let file = tempfile::NamedTempFile::new()?;
	let bar = progress(len, "encrypting", quiet);
	let mut writer = hashing(BufWriter::new(file.reopen()?));
	crypto::seal(&key, input, &mut writer, |done| bar.set_position(done))?;
	writer.flush()?;
	bar.finish_and_clear();
	let hash = CiphertextHash::from_slice(writer.state.finalize().as_bytes());
	let size = file.as_file().metadata()?.len();
	if size != crypto::ciphertext_len(len) {
		return Err(WalletError::Usage("the file changed while it was being encrypted: try again".into()));
	}
	Ok(Sealed { file, hash, size, key })
}

/// Uploads a sealed record through `node` (nothing is sent when the node already has it).
pub fn upload(node: &Node, wallet: &Wallet, sealed: &Sealed, quiet: bool) -> Result<()> {
	let request = node.request(wallet, BlobMethod::UploadCiphertext { size: sealed.size }, BlobSubject::Ciphertext(sealed.hash))?;
	let started: Value = node.call("phr_uploadBegin", vec![to_hex(&codec::Encode::encode(&request)).into(), sealed.size.into()])?;
	let Some(upload) = started["upload"].as_str() else { return Ok(()) };
	let bar = progress(sealed.size, "uploading", quiet);
	let mut file = sealed.file.reopen()?;
	file.rewind()?;
	let mut chunk = vec![0u8; UPLOAD_CHUNK];
	let mut index = 0u32;
	loop {
		let n = crypto::read_full(&mut file, &mut chunk)?;
		if n == 0 {
			break;
		}
		let _: u64 = node.call("phr_uploadChunk", vec![upload.into(), index.into(), b64(&chunk[..n]).into()])?;
		bar.inc(n as u64);
		index += 1;
	}
	let _: Value = node.call("phr_uploadFinish", vec![upload.into()])?;
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
		wrapped: phr_primitives::ciphertext_hash(&wrapped),
	};
	let request = node.request(wallet, method, BlobSubject::Record(record))?;
	let _: Value = node.call(
		"phr_putWrappedKey",
		vec![
			to_hex(&codec::Encode::encode(&request)).into(),
			recipient.to_string().into(),
			data_epoch.into(),
			recipient_epoch.into(),
			b64(wrapped).into(),
		],
	)?;
	Ok(())
}

/// A record fetched and checked: its ciphertext in a temporary file and the unwrapped data key.
pub struct Fetched {
	pub ciphertext: tempfile::NamedTempFile,
	pub key: DataKey,
	pub key_epoch: u32,
	pub basis: String,
}

/// Fetches `record` through `node`: the chain's hash of it (at the finalized block) is what the
/// bytes must hash to, whatever the node says; the data key must open with this wallet's keys.
pub fn fetch(node: &Node, wallet: &Wallet, record: RecordId, purpose: &str, quiet: bool) -> Result<Fetched> {
	let request = node.request(wallet, BlobMethod::Fetch { purpose: parse_purpose(purpose)? }, BlobSubject::Record(record))?;
	let answer: Value = node.call("phr_fetch", vec![to_hex(&codec::Encode::encode(&request)).into(), purpose.into()])?;
	let finalized = node.finalized_head()?;
	let info: Option<crate::commands::RecordOnChain> = node.state_call("RecordsApi_record", record, Some(finalized))?;
	let expected = info.ok_or_else(|| WalletError::Usage(format!("record {record} does not exist")))?.ciphertext_hash;

	// Break-glass readers hold no wrapped key: the member hospitals release their escrow shares.
	let wrapped = &answer["wrappedKey"];
	let break_glass = wrapped.is_null() && purpose == "emergency";
	if wrapped.is_null() && !break_glass {
		return Err(WalletError::Usage(format!(
			"record {record}'s data key was not shared with this account: ask the patient to grant you access again"
		)));
	}

	let size = answer["size"].as_u64().unwrap_or_default();
	let bar = progress(size, "downloading", quiet);
	let ciphertext = tempfile::NamedTempFile::new()?;
	let mut writer = hashing(BufWriter::new(ciphertext.reopen()?));
	if !answer["data"].is_null() {
		writer.write_all(&unb64(&answer["data"])?)?;
	} else {
		let session = answer["session"].as_str().ok_or_else(|| WalletError::Corrupt("the node sent neither data nor a session".into()))?;
		for index in 0..answer["chunks"].as_u64().unwrap_or_default() {
			let chunk: Value = node.call("phr_fetchChunk", vec![session.into(), index.into()])?;
			let bytes = unb64(&chunk)?;
			bar.inc(bytes.len() as u64);
			writer.write_all(&bytes)?;
		}
	}
	writer.flush()?;
	bar.finish_and_clear();
	let actual = CiphertextHash::from_slice(writer.state.finalize().as_bytes());
	if actual != expected {
		return Err(WalletError::Corrupt(format!(
			"record {record}'s ciphertext from the node hashes to {actual:?}, not to the chain's {expected:?}: try another node"
		)));
	}

	let basis = answer["basis"].as_str().unwrap_or_default().to_string();
	let (key, data_epoch) = if break_glass {
		let data_epoch = answer["keyEpoch"].as_u64().unwrap_or_default() as u32;
		(crate::escrow::released_key(node, wallet, record, data_epoch, &basis, &ciphertext)?, data_epoch)
	} else {
		let data_epoch = wrapped["dataEpoch"].as_u64().unwrap_or_default() as u32;
		let recipient_epoch = wrapped["recipientEpoch"].as_u64().unwrap_or_default() as u32;
		let mine = wallet.encryption_key(recipient_epoch)?.ok_or_else(|| {
			WalletError::Usage(format!(
				"record {record}'s key was wrapped to key epoch {recipient_epoch}, which this wallet does not hold"
			))
		})?;
		(crypto::unwrap(&unb64(&wrapped["wrapped"])?, &mine, record, data_epoch)?, data_epoch)
	};
	Ok(Fetched { ciphertext, key, key_epoch: data_epoch, basis })
}

/// Decrypts a fetched record to `output` (written to `<output>.partial`, renamed when complete:
/// a failure leaves no partial plaintext under the real name).
pub fn open_to_file(fetched: &Fetched, output: &Path, quiet: bool) -> Result<u64> {
	let partial = output.with_extension("partial");
	let result = (|| {
		let mut input = BufReader::new(fetched.ciphertext.reopen()?);
		let size = fetched.ciphertext.as_file().metadata()?.len();
		let bar = progress(size, "decrypting", quiet);
		let mut writer = BufWriter::new(File::create(&partial).map_err(file_error(&partial))?);
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

/// Decodes a SCALE-encoded read receipt with its inclusion proof from 0x-hex (`phr_receiptBatch`).
pub fn decode_receipt(text: &str) -> Result<(ReadReceipt<AccountId>, phr_primitives::receipts::InclusionProof)> {
	let bytes = crate::client::from_hex(text)?;
	Decode::decode(&mut &bytes[..]).map_err(|e| WalletError::Corrupt(format!("a receipt does not decode: {e}")))
}

/// The JSON a `--json` caller gets for a fetched record.
pub fn describe(record: RecordId, fetched: &Fetched, bytes: u64, output: &Path) -> Value {
	json!({ "record": record, "bytes": bytes, "keyEpoch": fetched.key_epoch, "basis": fetched.basis, "output": output })
}
