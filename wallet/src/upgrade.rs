//! Runtime upgrades from the wallet: read a runtime's WASM blob, say which runtime it is (the
//! version its build embedded), and check it against the chain's before anyone votes for it.

use codec::Decode;
use sp_version::RuntimeVersion;

use crate::error::{Result, WalletError};

/// A runtime blob, as it would be enacted on chain.
pub struct RuntimeBlob {
	/// The bytes `System::apply_authorized_upgrade` takes (compressed or not, as built).
	pub code: Vec<u8>,
	/// blake2-256 of `code`: what the consortium authorizes.
	pub code_hash: [u8; 32],
	pub version: RuntimeVersion,
}

impl RuntimeBlob {
	pub fn read(path: &std::path::Path) -> Result<RuntimeBlob> {
		let code = std::fs::read(path).map_err(crate::error::file_error(path))?;
		let version = embedded_version(&code).map_err(|reason| {
			WalletError::Usage(format!(
				"{} is not a runtime this chain can run ({reason}); use target/release/wbuild/phr-runtime/phr_runtime.compact.compressed.wasm",
				path.display()
			))
		})?;
		Ok(RuntimeBlob { code_hash: sp_crypto_hashing::blake2_256(&code), code, version })
	}

	/// Refuses a blob `System::apply_authorized_upgrade` would reject: another chain's runtime, or
	/// one whose spec version does not grow.
	pub fn check_against(&self, current: &RuntimeVersion) -> Result<()> {
		if self.version.spec_name != current.spec_name {
			return Err(WalletError::Usage(format!(
				"the blob is runtime '{}', the chain runs '{}': it cannot upgrade this chain",
				self.version.spec_name, current.spec_name
			)));
		}
		if self.version.spec_version <= current.spec_version {
			return Err(WalletError::Usage(format!(
				"the blob's spec version {} is not above the chain's {}: bump `spec_version` in runtime/src/lib.rs and rebuild",
				self.version.spec_version, current.spec_version
			)));
		}
		Ok(())
	}
}

/// The `RuntimeVersion` a runtime's build embedded in its `runtime_version` custom section.
fn embedded_version(code: &[u8]) -> std::result::Result<RuntimeVersion, String> {
	let wasm = sp_maybe_compressed_blob::decompress(code, sp_maybe_compressed_blob::CODE_BLOB_BOMB_LIMIT)
		.map_err(|e| format!("not a WASM blob: {e}"))?;
	let section = custom_section(&wasm, b"runtime_version").ok_or("no runtime_version section")?;
	RuntimeVersion::decode(&mut &section[..]).map_err(|e| format!("its runtime version does not decode: {e}"))
}

/// The payload of the first custom section named `name` of a WASM module.
fn custom_section<'a>(wasm: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
	if wasm.get(..4)? != b"\0asm" {
		return None;
	}
	let mut rest = wasm.get(8..)?;
	while !rest.is_empty() {
		let id = rest[0];
		let (size, used) = leb128(&rest[1..])?;
		let body = rest.get(1 + used..1 + used + size)?;
		rest = &rest[1 + used + size..];
		if id == 0 {
			let (length, used) = leb128(body)?;
			if body.get(used..used + length)? == name {
				return body.get(used + length..);
			}
		}
	}
	None
}

/// An unsigned LEB128 number (at most 32 bits, as WASM sizes are) and the bytes it took.
fn leb128(bytes: &[u8]) -> Option<(usize, usize)> {
	let mut value = 0usize;
	for (i, byte) in bytes.iter().take(5).enumerate() {
		value |= ((byte & 0x7f) as usize) << (7 * i);
		if byte & 0x80 == 0 {
			return Some((value, i + 1));
		}
	}
	None
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn the_built_runtime_names_itself_and_other_bytes_are_refused() {
		let version = embedded_version(phr_runtime::WASM_BINARY.expect("the runtime was built with its WASM"))
			.expect("the build embeds its version");
		assert_eq!(version.spec_name, phr_runtime::VERSION.spec_name);
		assert_eq!(version.spec_version, phr_runtime::VERSION.spec_version);
		assert!(embedded_version(b"\0asm\x01\0\0\0").is_err());
		assert!(embedded_version(b"hello").is_err());
		let blob = RuntimeBlob { code: vec![], code_hash: [0; 32], version: version.clone() };
		assert!(blob.check_against(&version).unwrap_err().to_string().contains("not above"));
		let older = RuntimeVersion { spec_version: version.spec_version - 1, ..version.clone() };
		assert!(blob.check_against(&older).is_ok());
		let other = RuntimeVersion { spec_name: "other".into(), ..older };
		assert!(blob.check_against(&other).is_err());
	}
}
