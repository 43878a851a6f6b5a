//! Files that hold a secret or a plaintext (the wallet, a decrypted record, an export): readable by
//! their owner only (0600 on Unix) from the moment they exist, never chmod-ed after the bytes are
//! in, and put in place by a rename once complete.

use std::{
	fs::{File, OpenOptions},
	io::Write,
	path::{Path, PathBuf},
};

use crate::error::{file_error, Result};

/// `<path>.partial`: where a file is written before it is renamed into place.
pub fn partial_of(path: &Path) -> PathBuf {
	let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
	name.push(".partial");
	path.with_file_name(name)
}

/// Creates `path` afresh, owner-only (a stale file of that name, left by a crash, is removed
/// first, so no earlier permissions carry over).
pub fn create_private(path: &Path) -> Result<File> {
	match std::fs::remove_file(path) {
		Ok(()) => {},
		Err(error) if error.kind() == std::io::ErrorKind::NotFound => {},
		Err(error) => return Err(file_error(path)(error)),
	}
	let mut options = OpenOptions::new();
	options.write(true).create_new(true);
	#[cfg(unix)]
	{
		use std::os::unix::fs::OpenOptionsExt;
		options.mode(0o600);
	}
	options.open(path).map_err(file_error(path))
}

/// Writes `bytes` to `path` owner-only: into `<path>.partial`, synced, then renamed over `path`.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
	let partial = partial_of(path);
	let written = create_private(&partial).and_then(|mut file| {
		file.write_all(bytes).and_then(|()| file.sync_all()).map_err(file_error(&partial))
	});
	match written.and_then(|()| std::fs::rename(&partial, path).map_err(file_error(path))) {
		Ok(()) => Ok(()),
		Err(error) => {
			let _ = std::fs::remove_file(&partial);
			Err(error)
		},
	}
}

#[cfg(all(test, unix))]
mod tests {
	use super::*;
	use std::os::unix::fs::PermissionsExt;

	fn mode(path: &Path) -> u32 {
		std::fs::metadata(path).unwrap().permissions().mode() & 0o777
	}

	#[test]
	fn private_files_are_owner_only_from_the_start_whatever_was_there() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("export.json");
		// An earlier, world-readable file of the same name, and a stale partial one.
		std::fs::write(&path, b"old").unwrap();
		std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
		std::fs::write(partial_of(&path), b"stale").unwrap();
		std::fs::set_permissions(partial_of(&path), std::fs::Permissions::from_mode(0o666)).unwrap();

		let file = create_private(&partial_of(&path)).unwrap();
		assert_eq!(mode(&partial_of(&path)), 0o600, "owner-only before a byte is written");
		drop(file);
		write_private(&path, b"plaintext").unwrap();
		assert_eq!(std::fs::read(&path).unwrap(), b"plaintext");
		assert_eq!(mode(&path), 0o600);
		assert!(!partial_of(&path).exists());
	}
}
