//! Client-side encryption. Nothing here is hand-rolled: the payload is sealed with
//! ChaCha20-Poly1305 in the STREAM construction of the `aead` crate (chunked, so memory stays flat
//! for any size, and truncation, reordering or an appended chunk is detected), and each data key is
//! wrapped for a reader with HPKE (RFC 9180, base mode, X25519-HKDF-SHA256 / HKDF-SHA256 /
//! ChaCha20-Poly1305, the `hpke` crate, through `phr-crypto`, which the node shares).
//!
//! Ciphertext format (all of it hashed and registered on chain):
//! ```text
//! "PHRC" | version (2) | chunk size (u32 BE) | STREAM nonce prefix (7 bytes)
//! chunk 0 … chunk n   each ≤ chunk size plaintext bytes + 16-byte tag; the last one is flagged
//! ```
//! Every chunk authenticates the header as associated data. An empty plaintext is one empty, last
//! chunk (16 bytes of tag).
//!
//! The version names the record hash too: a version-2 ciphertext is registered under its
//! BLAKE3-256, a version-1 ciphertext (sealed before) under its blake2b-256
//! ([`phr_primitives::CiphertextHasher`]). The encryption of both is the same, and both open.

use std::io::{Read, Write};

use chacha20poly1305::{
	aead::{stream, KeyInit, Payload},
	ChaCha20Poly1305,
};
use zeroize::Zeroizing;

use crate::error::{Result, WalletError};

const MAGIC: &[u8; 4] = b"PHRC";
/// The version this wallet seals.
const VERSION: u8 = 2;
/// The versions it opens: 1 differs from 2 only by the record hash that names it.
const OPENS: [u8; 2] = [1, 2];
/// Plaintext bytes per STREAM chunk.
pub const PLAINTEXT_CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const NONCE_PREFIX: usize = 7;
pub const HEADER_LEN: usize = 4 + 1 + 4 + NONCE_PREFIX;
/// Domain of a data-key wrap; the record and data-key epoch are appended.

/// A record version's 256-bit data key.
pub struct DataKey(pub Zeroizing<[u8; 32]>);

impl DataKey {
	pub fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> DataKey {
		DataKey(bytes)
	}

	pub fn bytes(&self) -> &[u8; 32] {
		&self.0
	}

	pub fn random() -> DataKey {
		let mut key = Zeroizing::new([0u8; 32]);
		rand::RngCore::fill_bytes(&mut rand::rng(), key.as_mut());
		DataKey(key)
	}
}

/// The size of the ciphertext of a `len`-byte plaintext.
pub fn ciphertext_len(len: u64) -> u64 {
	let chunks = if len == 0 { 1 } else { len.div_ceil(PLAINTEXT_CHUNK as u64) };
	HEADER_LEN as u64 + len + chunks * TAG as u64
}

/// Reads up to `buf.len()` bytes, fewer only at the end of the input.
pub fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
	let mut filled = 0;
	while filled < buf.len() {
		match input.read(&mut buf[filled..])? {
			0 => break,
			n => filled += n,
		}
	}
	Ok(filled)
}

/// Encrypts all of `input` into `output` under `key`; `progress` is told the plaintext bytes done.
pub fn seal(key: &DataKey, input: &mut impl Read, output: &mut impl Write, progress: impl FnMut(u64)) -> Result<()> {
	seal_as(VERSION, key, input, output, progress)
}

/// What a wallet before format 2 sealed: the same bytes but the version (for the tests that check
/// such ciphertexts still open and keep their blake2b-256 name).
#[cfg(test)]
pub(crate) fn seal_format_1(key: &DataKey, input: &mut impl Read, output: &mut impl Write) -> Result<()> {
	seal_as(1, key, input, output, |_| {})
}

fn seal_as(
	version: u8,
	key: &DataKey,
	input: &mut impl Read,
	output: &mut impl Write,
	mut progress: impl FnMut(u64),
) -> Result<()> {
	let mut prefix = [0u8; NONCE_PREFIX];
	rand::RngCore::fill_bytes(&mut rand::rng(), &mut prefix);
	let mut header = Vec::with_capacity(HEADER_LEN);
	header.extend_from_slice(MAGIC);
	header.push(version);
	header.extend_from_slice(&(PLAINTEXT_CHUNK as u32).to_be_bytes());
	header.extend_from_slice(&prefix);
	output.write_all(&header)?;

	let aead = ChaCha20Poly1305::new(key.0.as_ref().into());
	let mut encryptor = stream::EncryptorBE32::from_aead(aead, prefix.as_ref().into());
	// Read one chunk ahead: the last chunk must be known as last when it is sealed.
	let mut current = vec![0u8; PLAINTEXT_CHUNK];
	let mut next = vec![0u8; PLAINTEXT_CHUNK];
	let mut current_len = read_full(input, &mut current)?;
	let mut done = 0u64;
	loop {
		let next_len = if current_len == PLAINTEXT_CHUNK { read_full(input, &mut next)? } else { 0 };
		let payload = Payload { msg: &current[..current_len], aad: &header };
		if next_len == 0 {
			let sealed = encryptor.encrypt_last(payload).map_err(|_| WalletError::Crypto("sealing failed".into()))?;
			output.write_all(&sealed)?;
			progress(done + current_len as u64);
			return Ok(());
		}
		let sealed = encryptor.encrypt_next(payload).map_err(|_| WalletError::Crypto("sealing failed".into()))?;
		output.write_all(&sealed)?;
		done += current_len as u64;
		progress(done);
		std::mem::swap(&mut current, &mut next);
		current_len = next_len;
	}
}

/// Decrypts `input` (a whole ciphertext) into `output`; any altered, missing, reordered or extra
/// byte is an error, and nothing after the first bad chunk is written.
pub fn open(key: &DataKey, input: &mut impl Read, output: &mut impl Write, mut progress: impl FnMut(u64)) -> Result<()> {
	let mut header = [0u8; HEADER_LEN];
	if read_full(input, &mut header)? != HEADER_LEN || &header[..4] != MAGIC {
		return Err(WalletError::Corrupt("this is not a PHR ciphertext".into()));
	}
	if !OPENS.contains(&header[4]) {
		return Err(WalletError::Corrupt(format!("ciphertext format {} is not supported", header[4])));
	}
	let chunk = u32::from_be_bytes(header[5..9].try_into().expect("4 bytes")) as usize;
	if chunk == 0 || chunk > 16 * 1024 * 1024 {
		return Err(WalletError::Corrupt(format!("implausible chunk size {chunk}")));
	}
	let aead = ChaCha20Poly1305::new(key.0.as_ref().into());
	let mut decryptor = stream::DecryptorBE32::from_aead(aead, header[9..].into());
	let sealed_chunk = chunk + TAG;
	let mut current = vec![0u8; sealed_chunk];
	let mut next = vec![0u8; sealed_chunk];
	let mut current_len = read_full(input, &mut current)?;
	let mut done = 0u64;
	let tampered = || WalletError::Corrupt("the ciphertext was altered, or the data key is wrong".into());
	loop {
		if current_len < TAG {
			return Err(WalletError::Corrupt("the ciphertext is truncated".into()));
		}
		let next_len = if current_len == sealed_chunk { read_full(input, &mut next)? } else { 0 };
		let payload = Payload { msg: &current[..current_len], aad: &header };
		if next_len == 0 {
			let plain = decryptor.decrypt_last(payload).map_err(|_| tampered())?;
			output.write_all(&plain)?;
			progress(done + plain.len() as u64);
			return Ok(());
		}
		let plain = Zeroizing::new(decryptor.decrypt_next(payload).map_err(|_| tampered())?);
		output.write_all(&plain)?;
		done += plain.len() as u64;
		progress(done);
		std::mem::swap(&mut current, &mut next);
		current_len = next_len;
	}
}

/// An X25519 key pair for receiving wrapped data keys (and released escrow shares).
pub use phr_crypto::EncryptionKey;

impl From<phr_crypto::CryptoError> for WalletError {
	fn from(error: phr_crypto::CryptoError) -> Self {
		WalletError::Crypto(error.to_string())
	}
}

/// Wraps `key` for the X25519 key `recipient`, bound to `record` and `data_epoch`.
pub fn wrap(key: &DataKey, recipient: &[u8; 32], record: u64, data_epoch: u32) -> Result<Vec<u8>> {
	Ok(phr_crypto::seal_to(recipient, &phr_crypto::data_key_info(record, data_epoch), key.0.as_ref())?)
}

/// Opens a data key wrapped for this wallet's `mine` key.
pub fn unwrap(wrapped: &[u8], mine: &EncryptionKey, record: u64, data_epoch: u32) -> Result<DataKey> {
	let wrong = || {
		WalletError::Crypto(
			"the wrapped data key does not open with this wallet's key: it is for another key or was altered".into(),
		)
	};
	if wrapped.len() != 32 + phr_crypto::SEAL_OVERHEAD {
		return Err(wrong());
	}
	let plain = phr_crypto::open_with(mine, &phr_crypto::data_key_info(record, data_epoch), wrapped).map_err(|_| wrong())?;
	let mut key = Zeroizing::new([0u8; 32]);
	key.copy_from_slice(&plain);
	Ok(DataKey(key))
}

#[cfg(test)]
mod tests {
	use super::*;

	fn roundtrip(len: usize) {
		let key = DataKey::random();
		let plain: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
		let mut sealed = Vec::new();
		seal(&key, &mut &plain[..], &mut sealed, |_| {}).unwrap();
		assert_eq!(sealed.len() as u64, ciphertext_len(len as u64), "{len} bytes");
		let mut opened = Vec::new();
		open(&key, &mut &sealed[..], &mut opened, |_| {}).unwrap();
		assert!(opened == plain, "{len} bytes round trip");
	}

	#[test]
	fn every_size_round_trips() {
		for len in [0, 1, PLAINTEXT_CHUNK - 1, PLAINTEXT_CHUNK, PLAINTEXT_CHUNK + 1, 3 * PLAINTEXT_CHUNK, 3 * PLAINTEXT_CHUNK + 5] {
			roundtrip(len);
		}
	}

	#[test]
	fn format_1_still_opens_and_keeps_its_blake2_name_format_2_is_named_by_blake3() {
		let key = DataKey::random();
		let plain = vec![9u8; PLAINTEXT_CHUNK + 10];
		let (mut v1, mut v2) = (Vec::new(), Vec::new());
		seal_format_1(&key, &mut &plain[..], &mut v1).unwrap();
		seal(&key, &mut &plain[..], &mut v2, |_| {}).unwrap();
		assert_eq!((v1[4], v2[4]), (1, 2));
		for sealed in [&v1, &v2] {
			let mut opened = Vec::new();
			open(&key, &mut &sealed[..], &mut opened, |_| {}).unwrap();
			assert!(opened == plain);
		}
		assert_eq!(phr_primitives::ciphertext_hash(&v1).0, sp_crypto_hashing::blake2_256(&v1));
		assert_ne!(phr_primitives::ciphertext_hash(&v2).0, sp_crypto_hashing::blake2_256(&v2), "BLAKE3 (primitives' tests)");
		// The version is authenticated: relabelling a format-1 ciphertext as format 2 does not open.
		let mut relabelled = v1.clone();
		relabelled[4] = 2;
		assert!(open(&key, &mut &relabelled[..], &mut Vec::new(), |_| {}).is_err());
	}

	#[test]
	fn a_hundred_mebibytes_round_trip_in_constant_memory() {
		// Streamed from a generator to a hasher: neither side ever holds the whole payload.
		struct Pattern(u64, u64);
		impl Read for Pattern {
			fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
				let n = buf.len().min((self.1 - self.0) as usize);
				for (i, b) in buf[..n].iter_mut().enumerate() {
					*b = ((self.0 + i as u64) % 251) as u8;
				}
				self.0 += n as u64;
				Ok(n)
			}
		}
		struct Check(u64, bool);
		impl Write for Check {
			fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
				for (i, b) in buf.iter().enumerate() {
					self.1 &= *b == ((self.0 + i as u64) % 251) as u8;
				}
				self.0 += buf.len() as u64;
				Ok(buf.len())
			}
			fn flush(&mut self) -> std::io::Result<()> {
				Ok(())
			}
		}
		let len = 100 * 1024 * 1024;
		let key = DataKey::random();
		let mut sealed = Vec::with_capacity(ciphertext_len(len) as usize);
		seal(&key, &mut Pattern(0, len), &mut sealed, |_| {}).unwrap();
		let mut check = Check(0, true);
		open(&key, &mut &sealed[..], &mut check, |_| {}).unwrap();
		assert_eq!((check.0, check.1), (len, true));
	}

	#[test]
	fn a_flipped_byte_anywhere_is_detected() {
		let key = DataKey::random();
		let plain = vec![5u8; 2 * PLAINTEXT_CHUNK + 100];
		let mut sealed = Vec::new();
		seal(&key, &mut &plain[..], &mut sealed, |_| {}).unwrap();
		let positions = [0, 4, 6, HEADER_LEN - 1, HEADER_LEN, HEADER_LEN + PLAINTEXT_CHUNK + 3, sealed.len() - 1];
		for position in positions {
			let mut bad = sealed.clone();
			bad[position] ^= 0x01;
			assert!(open(&key, &mut &bad[..], &mut Vec::new(), |_| {}).is_err(), "flip at {position}");
		}
		// Truncated at a chunk boundary, or with an extra byte.
		let cut = HEADER_LEN + PLAINTEXT_CHUNK + TAG;
		assert!(open(&key, &mut &sealed[..cut], &mut Vec::new(), |_| {}).is_err(), "truncated");
		let mut longer = sealed.clone();
		longer.push(0);
		assert!(open(&key, &mut &longer[..], &mut Vec::new(), |_| {}).is_err(), "appended");
	}

	#[test]
	fn the_wrong_key_is_a_clear_error() {
		let mut sealed = Vec::new();
		seal(&DataKey::random(), &mut &b"secret"[..], &mut sealed, |_| {}).unwrap();
		let error = open(&DataKey::random(), &mut &sealed[..], &mut Vec::new(), |_| {}).unwrap_err();
		assert!(error.to_string().contains("data key is wrong"), "{error}");
	}

	#[test]
	fn wrapped_keys_open_only_for_their_recipient_record_and_epoch() {
		let (reader, other) = (EncryptionKey::generate(), EncryptionKey::generate());
		let key = DataKey::random();
		let wrapped = wrap(&key, &reader.public(), 7, 1).unwrap();
		assert_eq!(wrapped.len(), 80);
		assert_eq!(*unwrap(&wrapped, &reader, 7, 1).unwrap().0, *key.0);
		assert!(unwrap(&wrapped, &other, 7, 1).is_err(), "another reader");
		assert!(unwrap(&wrapped, &reader, 8, 1).is_err(), "another record");
		assert!(unwrap(&wrapped, &reader, 7, 2).is_err(), "another epoch");
		for position in [0, 31, 32, 79] {
			let mut bad = wrapped.clone();
			bad[position] ^= 0x80;
			assert!(unwrap(&bad, &reader, 7, 1).is_err(), "flip at {position}");
		}
		let restored = EncryptionKey::from_secret(&reader.secret_bytes()).unwrap();
		assert_eq!(restored.public(), reader.public());
	}
}
