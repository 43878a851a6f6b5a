//! The wallet file: the account key, the ed25519 request key and every X25519 encryption key the
//! account ever registered (old epochs stay, so data keys wrapped to them still open), sealed at
//! rest with ChaCha20-Poly1305 under a key derived from the passphrase with Argon2id.
//!
//! ```json
//! {"version":1,"account":"5F…","kdf":{"algorithm":"argon2id","memory_kib":65536,"iterations":3,
//!  "parallelism":1,"salt":"…"},"nonce":"…","sealed":"…"}
//! ```
//! The account (public) is readable without the passphrase; everything secret is in `sealed`.

use std::path::{Path, PathBuf};

use chacha20poly1305::{aead::Aead, ChaCha20Poly1305, KeyInit};
use phr_primitives::AccountKeys;
use phr_runtime::AccountId;
use serde::{Deserialize, Serialize};
use sp_core::{crypto::Ss58Codec, sr25519, Pair};
use sp_runtime::traits::IdentifyAccount;
use zeroize::{Zeroize, Zeroizing};

use crate::{
	crypto::EncryptionKey,
	error::{file_error, Result, WalletError},
};

const FORMAT_VERSION: u32 = 1;
/// Argon2id cost: 64 MiB, 3 passes, one lane (RFC 9106's second recommended option).
const KDF_MEMORY_KIB: u32 = 64 * 1024;
const KDF_ITERATIONS: u32 = 3;
const KDF_PARALLELISM: u32 = 1;

#[derive(Serialize, Deserialize)]
struct KdfParams {
	algorithm: String,
	memory_kib: u32,
	iterations: u32,
	parallelism: u32,
	salt: String,
}

#[derive(Serialize, Deserialize)]
struct WalletFile {
	version: u32,
	account: String,
	kdf: KdfParams,
	nonce: String,
	sealed: String,
}

#[derive(Serialize, Deserialize, Clone)]
struct EpochKey {
	epoch: u32,
	secret: String,
}

#[derive(Serialize, Deserialize, Clone)]
struct Secrets {
	/// A secret URI (`//Alice`), a mnemonic phrase, or a 0x-hex seed.
	account_secret: String,
	request_seed: String,
	encryption_keys: Vec<EpochKey>,
}

impl Drop for Secrets {
	fn drop(&mut self) {
		self.account_secret.zeroize();
		self.request_seed.zeroize();
		for key in &mut self.encryption_keys {
			key.secret.zeroize();
		}
	}
}

/// An open wallet.
pub struct Wallet {
	path: PathBuf,
	passphrase: Zeroizing<String>,
	secrets: Secrets,
	pair: sr25519::Pair,
	request_key: ed25519_dalek::SigningKey,
}

fn derive_key(passphrase: &str, params: &KdfParams) -> Result<Zeroizing<[u8; 32]>> {
	let salt = hex::decode(&params.salt).map_err(|_| WalletError::BadWallet("the wallet's salt is not hex".into()))?;
	let argon = argon2::Argon2::new(
		argon2::Algorithm::Argon2id,
		argon2::Version::V0x13,
		argon2::Params::new(params.memory_kib, params.iterations, params.parallelism, Some(32))
			.map_err(|e| WalletError::BadWallet(format!("the wallet's key-derivation parameters are invalid: {e}")))?,
	);
	let mut key = Zeroizing::new([0u8; 32]);
	argon
		.hash_password_into(passphrase.as_bytes(), &salt, key.as_mut())
		.map_err(|e| WalletError::BadWallet(format!("key derivation failed: {e}")))?;
	Ok(key)
}

fn random<const N: usize>() -> [u8; N] {
	let mut bytes = [0u8; N];
	rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
	bytes
}

fn account_pair(secret: &str) -> Result<sr25519::Pair> {
	sr25519::Pair::from_string(secret, None).map_err(|e| {
		WalletError::Usage(format!(
			"'{}…' is not a secret URI, mnemonic or seed ({e:?}): give e.g. //Alice or a 12/24-word phrase",
			secret.chars().take(4).collect::<String>()
		))
	})
}

impl Wallet {
	/// Creates a wallet at `path` for the account of `account_secret`, with fresh request and
	/// encryption keys.
	pub fn create(path: &Path, account_secret: &str, passphrase: Zeroizing<String>) -> Result<Wallet> {
		if path.exists() {
			return Err(WalletError::WalletExists(path.display().to_string()));
		}
		let pair = account_pair(account_secret)?;
		let request_seed: [u8; 32] = random();
		let encryption = EncryptionKey::generate();
		let secrets = Secrets {
			account_secret: account_secret.to_string(),
			request_seed: hex::encode(request_seed),
			encryption_keys: vec![EpochKey { epoch: 0, secret: hex::encode(*encryption.secret_bytes()) }],
		};
		let wallet = Wallet {
			path: path.to_path_buf(),
			passphrase,
			secrets,
			pair,
			request_key: ed25519_dalek::SigningKey::from_bytes(&request_seed),
		};
		wallet.save()?;
		Ok(wallet)
	}

	/// The account a wallet file belongs to, without opening it.
	pub fn account_of(path: &Path) -> Result<String> {
		Ok(Self::read_file(path)?.account)
	}

	fn read_file(path: &Path) -> Result<WalletFile> {
		let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
			std::io::ErrorKind::NotFound => WalletError::NoWallet(path.display().to_string()),
			_ => file_error(path)(e),
		})?;
		serde_json::from_str(&text)
			.map_err(|e| WalletError::BadWallet(format!("{} is not a PHR wallet file: {e}", path.display())))
	}

	/// Opens the wallet at `path` with `passphrase`.
	pub fn open(path: &Path, passphrase: Zeroizing<String>) -> Result<Wallet> {
		let file = Self::read_file(path)?;
		if file.version != FORMAT_VERSION || file.kdf.algorithm != "argon2id" {
			return Err(WalletError::BadWallet(format!("{}: unsupported wallet format", path.display())));
		}
		let key = derive_key(&passphrase, &file.kdf)?;
		let nonce = hex::decode(&file.nonce).ok().filter(|n| n.len() == 12);
		let sealed = hex::decode(&file.sealed).ok();
		let (Some(nonce), Some(sealed)) = (nonce, sealed) else {
			return Err(WalletError::BadWallet(format!("{}: the sealed part is not hex", path.display())));
		};
		let plain = Zeroizing::new(
			ChaCha20Poly1305::new(key.as_ref().into())
				.decrypt(nonce.as_slice().into(), sealed.as_slice())
				.map_err(|_| WalletError::BadPassphrase(path.display().to_string()))?,
		);
		let secrets: Secrets = serde_json::from_slice(&plain)
			.map_err(|e| WalletError::BadWallet(format!("{}: the sealed secrets do not parse: {e}", path.display())))?;
		let pair = account_pair(&secrets.account_secret)?;
		let seed: [u8; 32] = hex::decode(&secrets.request_seed)
			.ok()
			.and_then(|bytes| bytes.try_into().ok())
			.ok_or_else(|| WalletError::BadWallet("the request key is not 32 hex bytes".into()))?;
		Ok(Wallet {
			path: path.to_path_buf(),
			passphrase,
			secrets,
			pair,
			request_key: ed25519_dalek::SigningKey::from_bytes(&seed),
		})
	}

	/// Seals and writes the wallet (to a temporary file renamed over the old one).
	pub fn save(&self) -> Result<()> {
		let salt: [u8; 16] = random();
		let kdf = KdfParams {
			algorithm: "argon2id".into(),
			memory_kib: KDF_MEMORY_KIB,
			iterations: KDF_ITERATIONS,
			parallelism: KDF_PARALLELISM,
			salt: hex::encode(salt),
		};
		let key = derive_key(&self.passphrase, &kdf)?;
		let nonce: [u8; 12] = random();
		let plain = Zeroizing::new(serde_json::to_vec(&self.secrets).expect("secrets serialize"));
		let sealed = ChaCha20Poly1305::new(key.as_ref().into())
			.encrypt(nonce.as_slice().into(), plain.as_slice())
			.map_err(|_| WalletError::Crypto("sealing the wallet failed".into()))?;
		let file = WalletFile {
			version: FORMAT_VERSION,
			account: self.account().to_ss58check(),
			kdf,
			nonce: hex::encode(nonce),
			sealed: hex::encode(sealed),
		};
		if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
			std::fs::create_dir_all(dir).map_err(file_error(dir))?;
		}
		// Owner-only from its first byte, renamed into place once written.
		crate::files::write_private(&self.path, serde_json::to_string_pretty(&file).expect("wallet serializes").as_bytes())
	}

	pub fn account(&self) -> AccountId {
		sp_runtime::MultiSigner::Sr25519(self.pair.public()).into_account()
	}

	/// Signs an extrinsic payload with the account key.
	pub fn sign(&self, payload: &[u8]) -> sp_runtime::MultiSignature {
		sp_runtime::MultiSignature::Sr25519(self.pair.sign(payload))
	}

	pub fn request_key(&self) -> &ed25519_dalek::SigningKey {
		&self.request_key
	}

	/// The newest encryption key and its epoch.
	pub fn current_encryption(&self) -> Result<(u32, EncryptionKey)> {
		let newest = self
			.secrets
			.encryption_keys
			.iter()
			.max_by_key(|k| k.epoch)
			.ok_or_else(|| WalletError::BadWallet("the wallet holds no encryption key".into()))?;
		Ok((newest.epoch, Self::decode_key(&newest.secret)?))
	}

	/// The encryption key of `epoch`, if this wallet ever had it.
	pub fn encryption_key(&self, epoch: u32) -> Result<Option<EncryptionKey>> {
		match self.secrets.encryption_keys.iter().find(|k| k.epoch == epoch) {
			Some(key) => Ok(Some(Self::decode_key(&key.secret)?)),
			None => Ok(None),
		}
	}

	fn decode_key(secret: &str) -> Result<EncryptionKey> {
		let bytes: [u8; 32] = hex::decode(secret)
			.ok()
			.and_then(|b| b.try_into().ok())
			.ok_or_else(|| WalletError::BadWallet("an encryption key is not 32 hex bytes".into()))?;
		Ok(EncryptionKey::from_secret(&bytes)?)
	}

	/// The public keys to register on chain (the newest encryption key).
	pub fn public_keys(&self) -> Result<AccountKeys> {
		Ok(AccountKeys {
			encryption: self.current_encryption()?.1.public(),
			request_signing: self.request_key.verifying_key().to_bytes(),
		})
	}

	/// Starts key epoch `epoch`: a fresh encryption key and a fresh request key (the old
	/// encryption keys stay, to open what was wrapped to them). Not saved until [`Self::save`].
	pub fn rotate(&mut self, epoch: u32) {
		let encryption = EncryptionKey::generate();
		self.secrets.encryption_keys.push(EpochKey { epoch, secret: hex::encode(*encryption.secret_bytes()) });
		let seed: [u8; 32] = random();
		self.secrets.request_seed = hex::encode(seed);
		self.request_key = ed25519_dalek::SigningKey::from_bytes(&seed);
	}

	/// Renumbers the wallet's newest key to the epoch the chain gave it.
	pub fn set_current_epoch(&mut self, epoch: u32) {
		if let Some(newest) = self.secrets.encryption_keys.iter_mut().max_by_key(|k| k.epoch) {
			newest.epoch = epoch;
		}
	}
}

/// A new account secret: a 24-word mnemonic.
pub fn new_mnemonic() -> Zeroizing<String> {
	let (_, phrase, _) = sr25519::Pair::generate_with_phrase(None);
	Zeroizing::new(phrase)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_wallet_reopens_with_its_passphrase_only() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("w.json");
		let wallet = Wallet::create(&path, "//Alice", Zeroizing::new("correct horse".into())).unwrap();
		let keys = wallet.public_keys().unwrap();
		let text = std::fs::read_to_string(&path).unwrap();
		assert!(!text.contains("Alice"), "no secret in clear");
		#[cfg(unix)]
		{
			use std::os::unix::fs::PermissionsExt;
			assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "owner-only");
		}
		let reopened = Wallet::open(&path, Zeroizing::new("correct horse".into())).unwrap();
		assert_eq!(reopened.public_keys().unwrap(), keys);
		assert_eq!(reopened.account(), sp_keyring::Sr25519Keyring::Alice.to_account_id());
		let error = Wallet::open(&path, Zeroizing::new("wrong".into())).err().unwrap();
		assert!(matches!(error, WalletError::BadPassphrase(_)), "{error}");
		assert!(matches!(Wallet::create(&path, "//Bob", Zeroizing::new("x".into())), Err(WalletError::WalletExists(_))));
	}

	#[test]
	fn rotation_keeps_old_encryption_keys() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("w.json");
		let mut wallet = Wallet::create(&path, "//Bob", Zeroizing::new("p".into())).unwrap();
		let (_, old) = wallet.current_encryption().unwrap();
		let old_keys = wallet.public_keys().unwrap();
		wallet.rotate(1);
		wallet.save().unwrap();
		let wallet = Wallet::open(&path, Zeroizing::new("p".into())).unwrap();
		let (epoch, new) = wallet.current_encryption().unwrap();
		assert_eq!(epoch, 1);
		assert_ne!(new.public(), old.public());
		assert_eq!(wallet.encryption_key(0).unwrap().unwrap().public(), old.public());
		assert_ne!(wallet.public_keys().unwrap().request_signing, old_keys.request_signing);
	}
}
