//! Talking to a node: JSON-RPC over HTTP(S). Chain state the wallet relies on is read with proofs
//! it checks itself (`crate::verified`), decoded with the runtime's own types (this wallet is built
//! from the same workspace as the runtime, so the types cannot drift); extrinsics are built and signed locally
//! (`phr_runtime::signed_extrinsic`) and followed until FINAL, with their events; ciphertext goes
//! through the node's `phr_` namespace with requests signed by the wallet's request key.

use std::time::{Duration, Instant};

use codec::{Decode, Encode};
use jsonrpsee::{
	core::{client::ClientT, params::ArrayParams, ClientError},
	http_client::{HttpClient, HttpClientBuilder},
};
use phr_rpc_api::{explain_denial, pool_custom_refusal, ErrorCode};
use phr_primitives::{sign_request, BlobMethod, BlobRequest, BlobSubject, NodePeerId, SignedBlobRequest};
use phr_runtime::{AccountId, Hash, RuntimeCall, RuntimeEvent};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sp_core::H256;

use crate::{
	error::{Result, WalletError},
	keyfile::Wallet,
};

/// How long a transaction may take to become final.
const FINALITY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a submitted extrinsic may go unfinalized before the wallet sends it again.
const RESUBMIT_AFTER: Duration = Duration::from_secs(12);
/// Lifetime of a signed blob request.
const REQUEST_LIFETIME_MS: u64 = 120_000;

pub fn now_ms() -> u64 {
	std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A connection to one node.
pub struct Node {
	url: String,
	client: HttpClient,
	runtime: tokio::runtime::Runtime,
	/// The chain and node this wallet's blob requests are bound to (asked once).
	identity: std::sync::OnceLock<(H256, NodePeerId)>,
	/// The node's binary endpoint, if it runs one the wallet can reach (asked once).
	binary: std::sync::OnceLock<Option<crate::binary::Endpoint>>,
}

/// An extrinsic that is final, with the events it emitted.
pub struct Finalized {
	pub events: Vec<RuntimeEvent>,
}

impl Node {
	pub fn connect(url: &str) -> Result<Node> {
		let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
		let client = {
			let _guard = runtime.enter();
			HttpClientBuilder::default()
				.max_request_size(16 * 1024 * 1024)
				.max_response_size(16 * 1024 * 1024)
				.request_timeout(Duration::from_secs(60))
				.build(url)
				.map_err(|e| WalletError::Unreachable { url: url.into(), reason: e.to_string() })?
		};
		Ok(Node { url: url.into(), client, runtime, identity: std::sync::OnceLock::new(), binary: std::sync::OnceLock::new() })
	}

	/// The node's JSON-RPC address.
	pub fn url(&self) -> &str {
		&self.url
	}

	/// Where the node takes and serves ciphertext as raw bytes (`phr_storeStatus`'s `httpPort` on
	/// the RPC's host), if it does and its RPC address is plain http; else ciphertext goes over
	/// JSON-RPC.
	pub fn binary(&self) -> Result<Option<crate::binary::Endpoint>> {
		if let Some(known) = self.binary.get() {
			return Ok(known.clone());
		}
		use phr_rpc_api::PhrApiClient;
		let status = self.wait("phr_storeStatus", self.client.store_status())?;
		// A port this machine cannot reach (a firewall that lets only the RPC port through) leaves
		// the wallet on JSON-RPC rather than failing every transfer.
		let endpoint = status
			.http_port
			.and_then(|port| crate::binary::Endpoint::beside(&self.url, port))
			.filter(crate::binary::Endpoint::reachable);
		Ok(self.binary.get_or_init(|| endpoint).clone())
	}

	/// Runs `work` (a transfer over the binary endpoint) to its end.
	pub fn run<T>(&self, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
		self.runtime.block_on(work)
	}

	/// One JSON-RPC call.
	pub fn call<T: DeserializeOwned>(&self, method: &str, params: Vec<Value>) -> Result<T> {
		let mut array = ArrayParams::new();
		for param in params {
			array.insert(param).expect("a JSON value serializes");
		}
		self.wait(method, self.client.request::<T, _>(method, array))
	}

	/// The node's `phr_` namespace: call the methods of [`phr_rpc_api::PhrApiClient`] on it and
	/// hand the call to [`Node::wait`].
	pub fn phr(&self) -> &HttpClient {
		&self.client
	}

	/// Waits for one call to the node; a refusal becomes one sentence: a `phr_` refusal by its
	/// [`ErrorCode`] (an access denial with what to do), a pool refusal with the consortium's own
	/// code by what it means.
	pub fn wait<T>(&self, method: &str, call: impl std::future::Future<Output = Result<T, ClientError>>) -> Result<T> {
		self.runtime.block_on(call).map_err(|error| match error {
			ClientError::Call(call) => {
				let data = call.data().map(|data| data.get().trim_matches('"').to_string());
				if let Some(code) = pool_custom_refusal(call.code(), data.as_deref()) {
					return WalletError::Dispatch(phr_primitives::tx_error::describe(code).into());
				}
				let message = match (ErrorCode::from_code(call.code()), data) {
					(Some(ErrorCode::Denied), Some(reason)) => match explain_denial(&reason) {
						Some(sentence) => format!("access denied: {sentence} ({reason})"),
						None => format!("{} ({reason})", call.message()),
					},
					(_, Some(data)) => format!("{} ({data})", call.message()),
					(_, None) => call.message().to_string(),
				};
				WalletError::Rpc { method: method.into(), code: call.code(), message }
			},
			other => WalletError::Unreachable { url: self.url.clone(), reason: other.to_string() },
		})
	}

	pub fn finalized_head(&self) -> Result<H256> {
		self.call("chain_getFinalizedHead", vec![])
	}

	fn block_number(&self, hash: H256) -> Result<u32> {
		let header: Value = self.call("chain_getHeader", vec![serde_json::to_value(hash).expect("hash")])?;
		let number = header["number"].as_str().unwrap_or("0x0").trim_start_matches("0x");
		u32::from_str_radix(number, 16).map_err(|_| WalletError::Corrupt("a header without a number".into()))
	}

	fn block_hash(&self, number: u32) -> Result<H256> {
		self.call("chain_getBlockHash", vec![Value::from(number)])
	}

	/// What a signature commits to on this chain now (the runtime version may change with an
	/// upgrade).
	fn signing_context(&self, genesis: H256) -> Result<phr_runtime::SigningContext> {
		let version = self.runtime_version()?;
		Ok(phr_runtime::SigningContext {
			genesis,
			spec_version: version.spec_version,
			transaction_version: version.transaction_version,
		})
	}

	/// The runtime blob hash the consortium authorized and nobody applied yet, at the best block.
	pub fn authorized_upgrade(&self) -> Result<Option<H256>> {
		let key = storage_value_key(b"System", b"AuthorizedUpgrade");
		let answer: Option<String> = self.call("state_getStorage", vec![Value::from(to_hex(&key))])?;
		let Some(answer) = answer else { return Ok(None) };
		let authorization = frame_system::CodeUpgradeAuthorization::<phr_runtime::Runtime>::decode(&mut &from_hex(&answer)?[..])
			.map_err(|e| WalletError::Corrupt(format!("the authorized upgrade does not decode ({e}): update the wallet")))?;
		Ok(Some(*authorization.code_hash()))
	}

	/// A grant of the wallet's patient signed for a relayer (`Access::grant_batch`): its next
	/// relay nonce (read at the best block), valid for 600 blocks (20 minutes) from the
	/// finalized one.
	pub fn sign_relayed_grant(
		&self,
		wallet: &Wallet,
		terms: phr_primitives::GrantTerms<AccountId>,
	) -> Result<pallet_access::SignedGrantOf<phr_runtime::Runtime>> {
		let patient = wallet.account();
		let key = pallet_access::RelayNonce::<phr_runtime::Runtime>::hashed_key_for(&patient);
		let answer: Option<String> = self.call("state_getStorage", vec![Value::from(to_hex(&key))])?;
		let nonce = match answer {
			Some(answer) => u32::decode(&mut &from_hex(&answer)?[..])
				.map_err(|e| WalletError::Corrupt(format!("the relay nonce does not decode ({e}): update the wallet")))?,
			None => 0,
		};
		let genesis = self.block_hash(0)?;
		let valid_until = self.block_number(self.finalized_head()?)?.saturating_add(600);
		let payload = pallet_access::relayed_grant_payload(&genesis, &patient, &terms, nonce, &valid_until);
		let signature = wallet.sign(&payload);
		Ok(pallet_access::SignedGrant { patient, terms, nonce, valid_until, signature })
	}

	/// The version of the runtime the chain runs at the node's best block.
	pub fn runtime_version(&self) -> Result<sp_version::RuntimeVersion> {
		self.call("state_getRuntimeVersion", vec![])
	}

	/// Sends extrinsic bytes to the node's pool, with the pool's refusal in words.
	fn send(&self, encoded: &str) -> Result<()> {
		self.call::<H256>("author_submitExtrinsic", vec![Value::from(encoded)]).map(|_| ())
	}

	/// Signs `call` with the wallet's account, submits it, and waits until it is FINAL; a
	/// dispatch error is returned as such, by name.
	///
	/// While it waits, the same signed bytes are sent again now and then: a pool may still lose
	/// what it accepted (a fork under overload, an eviction when full). The pool answers
	/// "already imported" while it holds them and "outdated" once they are in a block; both are
	/// fine here, the finalized blocks decide. When a runtime upgrade changed the version the
	/// signature commits to, the call is signed again with the same nonce (only one of the two can
	/// ever be included).
	pub fn submit(&self, wallet: &Wallet, call: RuntimeCall) -> Result<Finalized> {
		let genesis = self.block_hash(0)?;
		let mut context = self.signing_context(genesis)?;
		let account = wallet.account();
		let nonce: u32 = self.call("system_accountNextIndex", vec![Value::from(account.to_string())])?;
		let sign = |context: &phr_runtime::SigningContext| {
			let extrinsic = phr_runtime::signed_extrinsic(context, call.clone(), account.clone(), nonce, |payload| wallet.sign(payload));
			to_hex(&extrinsic.encode())
		};
		let first = sign(&context);
		let from = self.block_number(self.finalized_head()?)? + 1;
		self.send(&first)?;
		self.until_final(from, first, |node, latest| match node.signing_context(genesis) {
			Ok(now) if now.spec_version != context.spec_version || now.transaction_version != context.transaction_version => {
				context = now;
				let resigned = sign(&context);
				let _ = node.send(&resigned);
				Some(resigned)
			},
			_ => {
				let _ = node.send(latest);
				None
			},
		})
	}

	/// Signs `calls` with consecutive nonces, sends them all at once and waits until every one is
	/// FINAL: one wait for many (a Bundle's records), instead of one per call. Outcomes in the
	/// order of `calls`; the first dispatch error is returned as such. Calls not yet final are sent
	/// again, with the same bytes, every `RESUBMIT_AFTER`; `progress` is told how many are final.
	pub fn submit_all(&self, wallet: &Wallet, calls: Vec<RuntimeCall>, mut progress: impl FnMut(usize)) -> Result<Vec<Finalized>> {
		let genesis = self.block_hash(0)?;
		let context = self.signing_context(genesis)?;
		let account = wallet.account();
		let first: u32 = self.call("system_accountNextIndex", vec![Value::from(account.to_string())])?;
		let encoded: Vec<String> = calls
			.into_iter()
			.enumerate()
			.map(|(i, call)| {
				let extrinsic = phr_runtime::signed_extrinsic(&context, call, account.clone(), first + i as u32, |payload| wallet.sign(payload));
				to_hex(&extrinsic.encode())
			})
			.collect();
		let mut next = self.block_number(self.finalized_head()?)? + 1;
		for extrinsic in &encoded {
			self.send(extrinsic)?;
		}
		let mut found: Vec<Option<(H256, u32)>> = vec![None; encoded.len()];
		let (started, mut submitted) = (Instant::now(), Instant::now());
		while found.iter().any(Option::is_none) {
			if submitted.elapsed() > RESUBMIT_AFTER {
				for (extrinsic, _) in encoded.iter().zip(&found).filter(|(_, f)| f.is_none()) {
					let _ = self.send(extrinsic);
				}
				submitted = Instant::now();
			}
			let finalized = self.block_number(self.finalized_head()?)?;
			while next <= finalized {
				let hash = self.block_hash(next)?;
				let block: Value = self.call("chain_getBlock", vec![serde_json::to_value(hash).expect("hash")])?;
				for (index, extrinsic) in block["block"]["extrinsics"].as_array().into_iter().flatten().enumerate() {
					if let Some(position) = encoded.iter().position(|e| Some(e.as_str()) == extrinsic.as_str()) {
						found[position] = Some((hash, index as u32));
					}
				}
				next += 1;
			}
			progress(found.iter().filter(|f| f.is_some()).count());
			if found.iter().all(Option::is_some) {
				break;
			}
			if started.elapsed() > FINALITY_TIMEOUT {
				return Err(WalletError::Timeout(FINALITY_TIMEOUT.as_secs()));
			}
			std::thread::sleep(Duration::from_millis(300));
		}
		found.into_iter().map(|f| f.expect("all found")).map(|(block, index)| self.outcome(block, index)).collect()
	}

	/// Submits `call` unsigned (only `System::apply_authorized_upgrade` passes the pool so) and
	/// waits until it is FINAL.
	pub fn submit_unsigned(&self, call: RuntimeCall) -> Result<Finalized> {
		let encoded = to_hex(&phr_runtime::UncheckedExtrinsic::new_bare(call).encode());
		let from = self.block_number(self.finalized_head()?)? + 1;
		self.send(&encoded)?;
		self.until_final(from, encoded, |node, latest| {
			let _ = node.send(latest);
			None
		})
	}

	/// Scans the finalized blocks from `from` until one includes `first` or an encoding `resend`
	/// returned (called every `RESUBMIT_AFTER` with the latest one), and returns its outcome.
	fn until_final(
		&self,
		mut next: u32,
		first: String,
		mut resend: impl FnMut(&Node, &str) -> Option<String>,
	) -> Result<Finalized> {
		let mut sent = vec![first];
		let started = Instant::now();
		let mut submitted = Instant::now();
		loop {
			if submitted.elapsed() > RESUBMIT_AFTER {
				let latest = sent.last().expect("one encoding at least").clone();
				sent.extend(resend(self, &latest));
				submitted = Instant::now();
			}
			let finalized = self.block_number(self.finalized_head()?)?;
			while next <= finalized {
				let hash = self.block_hash(next)?;
				let block: Value = self.call("chain_getBlock", vec![serde_json::to_value(hash).expect("hash")])?;
				let extrinsics = block["block"]["extrinsics"].as_array().cloned().unwrap_or_default();
				let found = extrinsics.iter().position(|x| x.as_str().is_some_and(|x| sent.iter().any(|s| s == x)));
				if let Some(index) = found {
					return self.outcome(hash, index as u32);
				}
				next += 1;
			}
			if started.elapsed() > FINALITY_TIMEOUT {
				return Err(WalletError::Timeout(FINALITY_TIMEOUT.as_secs()));
			}
			std::thread::sleep(Duration::from_millis(300));
		}
	}

	/// The events of extrinsic `index` of block `block`, or its dispatch error.
	fn outcome(&self, block: H256, index: u32) -> Result<Finalized> {
		let records = self.events(block)?;
		let mut events = Vec::new();
		for record in records {
			if record.phase != frame_system::Phase::ApplyExtrinsic(index) {
				continue;
			}
			if let RuntimeEvent::System(frame_system::Event::ExtrinsicFailed { dispatch_error, .. }) = &record.event {
				return Err(WalletError::Dispatch(dispatch_error_name(dispatch_error)));
			}
			events.push(record.event);
		}
		Ok(Finalized { events })
	}

	fn events(&self, block: H256) -> Result<Vec<frame_system::EventRecord<RuntimeEvent, Hash>>> {
		let key = storage_value_key(b"System", b"Events");
		let answer: Option<String> =
			self.call("state_getStorage", vec![Value::from(to_hex(&key)), serde_json::to_value(block).expect("hash")])?;
		let Some(answer) = answer else { return Ok(Vec::new()) };
		Decode::decode(&mut &from_hex(&answer)?[..])
			.map_err(|e| WalletError::Corrupt(format!("the block's events do not decode ({e}): update the wallet")))
	}

	/// The chain (genesis hash) and node (libp2p peer id) a signed request to this node names, so
	/// that no other node and no other chain accepts it.
	fn identity(&self) -> Result<(H256, NodePeerId)> {
		if let Some(identity) = self.identity.get() {
			return Ok(identity.clone());
		}
		let genesis = self.block_hash(0)?;
		let peer: String = self.call("system_localPeerId", vec![])?;
		let node: NodePeerId = bs58::decode(&peer)
			.into_vec()
			.ok()
			.and_then(|bytes| bytes.try_into().ok())
			.ok_or_else(|| WalletError::Corrupt(format!("the node's peer id '{peer}' is not a libp2p peer id")))?;
		Ok(self.identity.get_or_init(|| (genesis, node)).clone())
	}

	/// The chain's genesis hash.
	pub fn genesis(&self) -> Result<H256> {
		Ok(self.identity()?.0)
	}

	/// A fresh signed request to this node's blob store.
	pub fn request(
		&self,
		wallet: &Wallet,
		method: BlobMethod<AccountId>,
		subject: BlobSubject<AccountId>,
	) -> Result<SignedBlobRequest<AccountId>> {
		let (_, node) = self.identity()?;
		self.request_for(wallet, node, method, subject)
	}

	/// A fresh signed request on this node's chain for the member node `node` (which this node
	/// relays it to).
	pub fn request_for(
		&self,
		wallet: &Wallet,
		node: NodePeerId,
		method: BlobMethod<AccountId>,
		subject: BlobSubject<AccountId>,
	) -> Result<SignedBlobRequest<AccountId>> {
		let (genesis, _) = self.identity()?;
		let mut nonce = [0u8; 16];
		rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
		let request = BlobRequest {
			genesis,
			node,
			method,
			account: wallet.account(),
			subject,
			nonce,
			expires_at_ms: now_ms() + REQUEST_LIFETIME_MS,
		};
		Ok(sign_request(request, wallet.request_key()))
	}
}

/// The storage key of a FRAME storage value: twox128 of the pallet's and the item's names.
fn storage_value_key(pallet: &[u8], item: &[u8]) -> Vec<u8> {
	[sp_crypto_hashing::twox_128(pallet), sp_crypto_hashing::twox_128(item)].concat()
}

/// A dispatch error by its pallet error's name (`NotAdmin`), or as the runtime gave it.
pub fn dispatch_error_name(error: &sp_runtime::DispatchError) -> String {
	phr_runtime::RuntimeError::from_dispatch_error(*error).map(|e| format!("{e:?}")).unwrap_or_else(|| format!("{error:?}"))
}

pub fn to_hex(bytes: &[u8]) -> String {
	format!("0x{}", hex::encode(bytes))
}

pub fn from_hex(text: &str) -> Result<Vec<u8>> {
	hex::decode(text.trim_start_matches("0x")).map_err(|_| WalletError::Corrupt("the node sent invalid hex".into()))
}
