//! Talking to a node: JSON-RPC over HTTP(S). Chain state the wallet relies on is read with proofs
//! it checks itself (`crate::verified`), decoded with the runtime's own types (this wallet is built
//! from the same workspace as the runtime, so the types cannot drift); extrinsics are built and signed locally
//! (`phr_runtime::signed_extrinsic`) and followed until FINAL, with their events; ciphertext goes
//! through the node's `phr_` namespace with requests signed by the wallet's request key.

use std::time::{Duration, Instant};

use codec::{Decode, Encode};
use jsonrpsee::{
	core::{
		client::{ClientT, Subscription, SubscriptionClientT},
		params::ArrayParams,
		ClientError,
	},
	http_client::{HttpClient, HttpClientBuilder},
	ws_client::{WsClient, WsClientBuilder},
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
	/// The node's WebSocket, for watching extrinsics (connected once, when first needed; dropped
	/// before the runtime it runs on).
	ws: std::sync::OnceLock<Option<WsClient>>,
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

/// Whether submissions show a progress line (set once per process from the command line).
static SHOW_PROGRESS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Shows a line with each submission's progress on a terminal, unless `quiet`.
pub fn show_progress(quiet: bool) {
	use std::io::IsTerminal;
	SHOW_PROGRESS.store(!quiet && std::io::stderr().is_terminal(), std::sync::atomic::Ordering::Relaxed);
}

/// The progress line of one follow (hidden unless shown, and for more than one extrinsic: their
/// callers show a bar of their own).
fn progress_line(extrinsics: usize) -> indicatif::ProgressBar {
	if extrinsics != 1 || !SHOW_PROGRESS.load(std::sync::atomic::Ordering::Relaxed) {
		return indicatif::ProgressBar::hidden();
	}
	let line = indicatif::ProgressBar::new_spinner();
	line.set_style(indicatif::ProgressStyle::with_template("transaction: {msg} {elapsed}").expect("a valid template"));
	line.enable_steady_tick(Duration::from_millis(250));
	line
}

/// An extrinsic a follow waits for.
struct Pending {
	/// Every encoding sent (a re-signed one is added after a runtime upgrade; only one of them
	/// can ever be included).
	sent: Vec<String>,
	/// Its block, index and block number, once in a finalized block.
	found: Option<(H256, u32, u32)>,
	last_sent: Instant,
}

/// What the pool says of a watched extrinsic (`author_submitAndWatchExtrinsic`), as far as the wallet acts
/// on it.
#[derive(Debug, PartialEq)]
enum TxStatus {
	InBlock,
	/// Dropped, invalid, usurped, or not finalized in time: to be sent again (named for the user).
	Lost(&'static str),
	Other,
}

impl From<&Value> for TxStatus {
	fn from(status: &Value) -> TxStatus {
		match status {
			Value::String(s) if s == "dropped" => TxStatus::Lost("dropped"),
			Value::String(s) if s == "invalid" => TxStatus::Lost("refused"),
			Value::Object(map) if map.contains_key("usurped") => TxStatus::Lost("replaced"),
			Value::Object(map) if map.contains_key("finalityTimeout") => TxStatus::Lost("gave up on finality for"),
			Value::Object(map) if map.contains_key("inBlock") => TxStatus::InBlock,
			_ => TxStatus::Other,
		}
	}
}

/// The statuses of every extrinsic a follow watches, as they come.
struct Watch {
	sender: tokio::sync::mpsc::UnboundedSender<(usize, TxStatus)>,
	receiver: std::cell::RefCell<tokio::sync::mpsc::UnboundedReceiver<(usize, TxStatus)>>,
}

impl Watch {
	fn new() -> Watch {
		let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
		Watch { sender, receiver: std::cell::RefCell::new(receiver) }
	}

	/// The statuses that came within `wait` (all those already there, or the first to come).
	async fn next(&self, wait: Duration) -> Vec<(usize, TxStatus)> {
		let mut receiver = self.receiver.borrow_mut();
		let mut got = Vec::new();
		if let Ok(Some(first)) = tokio::time::timeout(wait, receiver.recv()).await {
			got.push(first);
		}
		while let Ok(more) = receiver.try_recv() {
			got.push(more);
		}
		got
	}
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
		Ok(Node {
			url: url.into(),
			client,
			ws: std::sync::OnceLock::new(),
			runtime,
			identity: std::sync::OnceLock::new(),
			binary: std::sync::OnceLock::new(),
		})
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

	/// The node's WebSocket JSON-RPC (the same port), connected once; None where it cannot be
	/// reached, and the wallet then follows its extrinsics through the finalized blocks alone.
	fn ws(&self) -> Option<&WsClient> {
		self.ws
			.get_or_init(|| {
				let url = if let Some(rest) = self.url.strip_prefix("http://") {
					format!("ws://{rest}")
				} else if let Some(rest) = self.url.strip_prefix("https://") {
					format!("wss://{rest}")
				} else {
					self.url.clone()
				};
				let connect = WsClientBuilder::default().max_request_size(16 * 1024 * 1024).build(url);
				self.runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), connect).await }).ok().and_then(|built| built.ok())
			})
			.as_ref()
	}

	/// Sends extrinsic `index` of a follow with `author_submitAndWatchExtrinsic`: the pool's verdicts on it
	/// (in a block, dropped, usurped, ...) come to `watch`. Without a WebSocket, a plain submit.
	fn send_watched(&self, watch: &Watch, index: usize, encoded: &str) -> Result<()> {
		let Some(ws) = self.ws() else { return self.send(encoded) };
		let mut params = ArrayParams::new();
		params.insert(encoded).expect("a string serializes");
		let mut subscription: Subscription<Value> =
			match self.wait("author_submitAndWatchExtrinsic", ws.subscribe("author_submitAndWatchExtrinsic", params, "author_unwatchExtrinsic")) {
				Ok(subscription) => subscription,
				// The WebSocket went away, or what answers there does not watch (a proxy): the
				// plain submit still works, unwatched.
				Err(WalletError::Unreachable { .. }) => return self.send(encoded),
				Err(WalletError::Rpc { code: -32601, .. }) => return self.send(encoded),
				Err(refused) => return Err(refused),
			};
		let statuses = watch.sender.clone();
		self.runtime.spawn(async move {
			while let Some(Ok(status)) = subscription.next().await {
				if statuses.send((index, TxStatus::from(&status))).is_err() {
					break;
				}
			}
		});
		Ok(())
	}

	/// Signs `call` with the wallet's account, submits it, and waits until it is FINAL; a
	/// dispatch error is returned as such, by name. How it is followed: [`Node::follow`].
	pub fn submit(&self, wallet: &Wallet, call: RuntimeCall) -> Result<Finalized> {
		let outcome = self.submit_all(wallet, vec![call], |_| {})?;
		Ok(outcome.into_iter().next().expect("one call, one outcome"))
	}

	/// Signs `calls` with consecutive nonces, sends them all at once and waits until every one is
	/// FINAL: one wait for many (a Bundle's records), instead of one per call. Outcomes in the
	/// order of `calls`; the first dispatch error is returned as such; `progress` is told how many
	/// are final. When a runtime upgrade changes the version a signature commits to while they
	/// wait, those not yet final are signed again with the same nonces (only one of the two
	/// encodings of each can ever be included).
	pub fn submit_all(&self, wallet: &Wallet, calls: Vec<RuntimeCall>, progress: impl FnMut(usize)) -> Result<Vec<Finalized>> {
		let genesis = self.block_hash(0)?;
		let mut context = self.signing_context(genesis)?;
		let account = wallet.account();
		let first: u32 = self.call("system_accountNextIndex", vec![Value::from(account.to_string())])?;
		let sign = |context: &phr_runtime::SigningContext, i: usize| {
			let extrinsic = phr_runtime::signed_extrinsic(context, calls[i].clone(), account.clone(), first + i as u32, |payload| wallet.sign(payload));
			to_hex(&extrinsic.encode())
		};
		let encoded: Vec<String> = (0..calls.len()).map(|i| sign(&context, i)).collect();
		self.follow(encoded, |node, waiting| match node.signing_context(genesis) {
			Ok(now) if now.spec_version != context.spec_version || now.transaction_version != context.transaction_version => {
				context = now;
				waiting.iter().map(|&i| (i, sign(&context, i))).collect()
			},
			_ => Vec::new(),
		}, progress)
	}

	/// Submits `call` unsigned (only `System::apply_authorized_upgrade` passes the pool so) and
	/// waits until it is FINAL.
	pub fn submit_unsigned(&self, call: RuntimeCall) -> Result<Finalized> {
		let encoded = to_hex(&phr_runtime::UncheckedExtrinsic::new_bare(call).encode());
		let outcome = self.follow(vec![encoded], |_, _| Vec::new(), |_| {})?;
		Ok(outcome.into_iter().next().expect("one call, one outcome"))
	}

	/// Sends `encoded` and follows each extrinsic until it is in a FINALIZED block, then returns
	/// their outcomes in order. The pool's refusal of a first send is the error.
	///
	/// A pool may still lose what it accepted (a fork under overload, an eviction when full), so
	/// each is watched (`author_submitAndWatchExtrinsic`): the moment the pool reports it dropped, invalid
	/// (a fork that made its nonce look used), usurped or not finalized in time, the same signed
	/// bytes are sent again; and every `RESUBMIT_AFTER` anyway while it is not final (the pool
	/// answers "already imported" while it holds them, "outdated" once they are in a block; both
	/// are fine here). Whether an extrinsic is final is decided by the finalized blocks alone,
	/// never by a status. `resign` is asked, before each periodic resend, for new encodings of the
	/// extrinsics still waiting (a runtime upgrade changed what a signature commits to).
	fn follow(
		&self,
		encoded: Vec<String>,
		mut resign: impl FnMut(&Node, &[usize]) -> Vec<(usize, String)>,
		mut progress: impl FnMut(usize),
	) -> Result<Vec<Finalized>> {
		let watch = Watch::new();
		let spinner = progress_line(encoded.len());
		let mut next = self.block_number(self.finalized_head()?)? + 1;
		let mut pending: Vec<Pending> = encoded.into_iter().map(|e| Pending { sent: vec![e], found: None, last_sent: Instant::now() }).collect();
		for (i, tx) in pending.iter_mut().enumerate() {
			self.send_watched(&watch, i, tx.sent.last().expect("one encoding"))?;
			tx.last_sent = Instant::now();
		}
		spinner.set_message("sent, waiting for a block");
		let (started, mut resubmitted) = (Instant::now(), Instant::now());
		loop {
			// The pool's verdicts, waited for up to 300 ms (the pause between scans).
			for (i, status) in self.runtime.block_on(watch.next(Duration::from_millis(300))) {
				let tx = &mut pending[i];
				match status {
					TxStatus::InBlock if tx.found.is_none() => spinner.set_message("in a block, waiting for finality"),
					TxStatus::Lost(why) if tx.found.is_none() && tx.last_sent.elapsed() > Duration::from_secs(2) => {
						spinner.set_message(format!("the pool {why} it: sent again"));
						let _ = self.send_watched(&watch, i, tx.sent.last().expect("one encoding"));
						tx.last_sent = Instant::now();
					},
					_ => {},
				}
			}
			if resubmitted.elapsed() > RESUBMIT_AFTER {
				let waiting: Vec<usize> = (0..pending.len()).filter(|&i| pending[i].found.is_none()).collect();
				for (i, encoding) in resign(self, &waiting) {
					pending[i].sent.push(encoding);
				}
				for &i in &waiting {
					let _ = self.send_watched(&watch, i, pending[i].sent.last().expect("one encoding"));
					pending[i].last_sent = Instant::now();
				}
				resubmitted = Instant::now();
			}
			let finalized = self.block_number(self.finalized_head()?)?;
			while next <= finalized {
				let hash = self.block_hash(next)?;
				let block: Value = self.call("chain_getBlock", vec![serde_json::to_value(hash).expect("hash")])?;
				for (index, extrinsic) in block["block"]["extrinsics"].as_array().into_iter().flatten().enumerate() {
					let Some(extrinsic) = extrinsic.as_str() else { continue };
					if let Some(tx) = pending.iter_mut().find(|tx| tx.found.is_none() && tx.sent.iter().any(|s| s == extrinsic)) {
						tx.found = Some((hash, index as u32, next));
					}
				}
				next += 1;
			}
			let final_now = pending.iter().filter(|tx| tx.found.is_some()).count();
			progress(final_now);
			if final_now == pending.len() {
				break;
			}
			if started.elapsed() > FINALITY_TIMEOUT {
				return Err(WalletError::Timeout(FINALITY_TIMEOUT.as_secs()));
			}
		}
		spinner.finish_and_clear();
		let found: Vec<(H256, u32, u32)> = pending.into_iter().map(|tx| tx.found.expect("all found")).collect();
		// What this process reads next must include these transactions.
		crate::verified::require_head_at_least(&self.url, found.iter().map(|f| f.2).max().unwrap_or(0));
		found.into_iter().map(|(block, index, _)| self.outcome(block, index)).collect()
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

#[cfg(test)]
mod tests {
	use super::*;
	use serde_json::json;

	#[test]
	fn the_pool_statuses_that_make_the_wallet_send_again() {
		// As `author_submitAndWatchExtrinsic` reports them (sc-transaction-pool-api's TransactionStatus).
		let hash = json!("0x0101010101010101010101010101010101010101010101010101010101010101");
		assert_eq!(TxStatus::from(&json!("dropped")), TxStatus::Lost("dropped"));
		assert_eq!(TxStatus::from(&json!("invalid")), TxStatus::Lost("refused"));
		assert_eq!(TxStatus::from(&json!({ "usurped": hash })), TxStatus::Lost("replaced"));
		assert_eq!(TxStatus::from(&json!({ "finalityTimeout": hash })), TxStatus::Lost("gave up on finality for"));
		assert_eq!(TxStatus::from(&json!({ "inBlock": hash })), TxStatus::InBlock);
		for fine in [json!("future"), json!("ready"), json!({ "broadcast": ["12D3KooW"] }), json!({ "retracted": hash }), json!({ "finalized": hash })] {
			assert_eq!(TxStatus::from(&fine), TxStatus::Other, "{fine}");
		}
	}
}
