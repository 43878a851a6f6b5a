//! The `phr` wallet as a test drives it: one wallet file, one node, JSON answers, and the rule
//! that every failure is one clear `error:` line. (The test crate declares `mod common`.)

#![allow(dead_code)]

use std::{path::PathBuf, process::Command};

use serde_json::Value;

pub const PASSPHRASE: &str = "correct horse battery";

/// A wallet file used through one node.
pub struct Wallet {
	pub path: PathBuf,
	pub url: String,
}

impl Wallet {
	/// The same wallet, through another node.
	pub fn at(&self, url: &str) -> Wallet {
		Wallet { path: self.path.clone(), url: url.into() }
	}

	pub fn phr(&self, args: &[&str]) -> Result<Value, String> {
		self.phr_with(args, PASSPHRASE)
	}

	pub fn phr_with(&self, args: &[&str], passphrase: &str) -> Result<Value, String> {
		let mut command = Command::new(crate::common::workspace_binary(option_env!("CARGO_BIN_EXE_phr"), "phr"));
		command
			.args(args)
			.args(["--json", "--quiet", "--wallet", self.path.to_str().unwrap(), "--node", &self.url])
			.env("PHR_PASSPHRASE", passphrase);
		// The wallet's root of trust: the raw spec of the chain the test's node runs.
		if let Some(spec) = crate::common::chain_spec_of(&self.url) {
			command.env("PHR_CHAIN_SPEC", spec);
		}
		let out = command.output().expect("phr runs");
		let stderr = String::from_utf8_lossy(&out.stderr).to_string();
		if !out.status.success() {
			assert!(stderr.starts_with("error: ") && stderr.trim().lines().count() == 1, "one clear line: {stderr}");
			return Err(stderr);
		}
		serde_json::from_slice(&out.stdout).map_err(|e| format!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
	}

	pub fn ok(&self, args: &[&str]) -> Value {
		self.phr(args).unwrap_or_else(|e| panic!("phr {args:?} failed: {e}"))
	}
}
