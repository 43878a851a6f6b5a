//! Every failure is one sentence that says what to do; `main` prints it and exits non-zero.

pub type Result<T, E = WalletError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
	#[error("no wallet at {0}: create one with `phr keys new` or `phr keys import <secret>`")]
	NoWallet(String),
	#[error("a wallet already exists at {0}: choose another with --wallet, or remove it first")]
	WalletExists(String),
	#[error("the passphrase does not open the wallet at {0}: check it (PHR_PASSPHRASE or the prompt)")]
	BadPassphrase(String),
	#[error("{0}")]
	BadWallet(String),
	#[error("{0}")]
	Usage(String),
	#[error("{0}")]
	Crypto(String),
	#[error("{0}")]
	Corrupt(String),
	/// A node's answer failed verification (a proof, a justification, a genesis).
	#[error("{0}")]
	Untrusted(String),
	#[error("cannot reach the node at {url}: {reason} (is phr-node running? choose another with --node)")]
	Unreachable { url: String, reason: String },
	#[error("the node refused {method}: {message} (code {code})")]
	Rpc { method: String, code: i32, message: String },
	#[error("the chain refused the transaction: {0}")]
	Dispatch(String),
	#[error("the transaction was not final after {0} s: the network may have lost finality; check the node")]
	Timeout(u64),
	#[error("{path}: {source}")]
	File { path: String, source: std::io::Error },
	#[error("{0}")]
	Io(#[from] std::io::Error),
}

impl WalletError {
	/// The `phr_` error code of a node's refusal, if this is one.
	pub fn phr_code(&self) -> Option<phr_rpc_api::ErrorCode> {
		match self {
			WalletError::Rpc { code, .. } => phr_rpc_api::ErrorCode::from_code(*code),
			_ => None,
		}
	}

	/// The exit status: 2 for a usage mistake, 1 for everything else.
	pub fn exit_code(&self) -> i32 {
		match self {
			WalletError::Usage(_) => 2,
			_ => 1,
		}
	}
}

/// Attaches a path to an I/O error.
pub fn file_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> WalletError + '_ {
	move |source| WalletError::File { path: path.display().to_string(), source }
}
