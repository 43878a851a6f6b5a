//! Helpers for tests that run real `phr-node` processes on loopback: start, kill and restart nodes,
//! talk JSON-RPC to them, and build signed extrinsics.

#![allow(dead_code)]

pub mod blob;
pub mod fuzz;
pub mod load;

use std::{
	io::{Read, Write},
	net::{TcpListener, TcpStream},
	path::{Path, PathBuf},
	process::{Child, Command, Stdio},
	time::{Duration, Instant},
};

use codec::Encode;
use serde_json::{json, Value};
use sp_core::H256;
use sp_keyring::Sr25519Keyring;

/// The `phr-node` binary: cargo names it for the node's own tests and benches; other packages'
/// tests (the wallet's) find it next to their own executable's directory in the same target dir.
pub fn phr_node_binary() -> PathBuf {
	workspace_binary(option_env!("CARGO_BIN_EXE_phr-node"), "phr-node")
}

/// A binary of this workspace: `known` when cargo set it, else `<target>/<profile>/<name>`.
pub fn workspace_binary(known: Option<&str>, name: &str) -> PathBuf {
	if let Some(path) = known {
		return PathBuf::from(path);
	}
	let exe = std::env::current_exe().expect("the test's own path");
	let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
	let path = profile_dir.join(name);
	assert!(path.exists(), "{} is not built: run the tests through scripts/test.sh (cargo test --workspace)", path.display());
	path
}

/// A free TCP port on loopback (the OS picks it; a later bind may race, which tests tolerate).
pub fn free_port() -> u16 {
	TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Runs `phr-node` with `args` to completion; returns (success, stdout, stderr).
pub fn run_node_command(args: &[&str]) -> (bool, String, String) {
	let out = Command::new(phr_node_binary()).args(args).output().expect("phr-node runs");
	(out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// The chain each node this process started runs (`--dev` or `--chain X`), by RPC port.
static CHAINS: std::sync::Mutex<std::collections::BTreeMap<u16, String>> = std::sync::Mutex::new(std::collections::BTreeMap::new());
/// The raw chain spec written for each chain, once per process.
static SPECS: std::sync::Mutex<std::collections::BTreeMap<String, PathBuf>> = std::sync::Mutex::new(std::collections::BTreeMap::new());

fn register_chain(rpc_port: u16, args: &[String]) {
	let chain = match args.iter().position(|a| a == "--chain") {
		Some(i) => args.get(i + 1).cloned(),
		None => args.iter().any(|a| a == "--dev").then(|| "dev".to_string()),
	};
	if let Some(chain) = chain {
		CHAINS.lock().unwrap().insert(rpc_port, chain);
	}
}

/// The raw chain spec (`phr-node build-spec --raw`) of `chain`: what a wallet is given as its root
/// of trust. Written once per process, in the system's temp dir.
pub fn raw_chain_spec(chain: &str) -> PathBuf {
	let mut specs = SPECS.lock().unwrap();
	if let Some(path) = specs.get(chain) {
		return path.clone();
	}
	let (ok, spec, err) = run_node_command(&["build-spec", "--chain", chain, "--raw", "--disable-default-bootnode"]);
	assert!(ok, "build-spec --chain {chain} failed: {err}");
	let path = std::env::temp_dir().join(format!("phr-test-spec-{}-{}.json", std::process::id(), specs.len()));
	std::fs::write(&path, spec).expect("the chain spec is written");
	specs.insert(chain.to_string(), path.clone());
	path
}

/// The raw chain spec of the chain the node at `url` (started by this process) runs.
pub fn chain_spec_of(url: &str) -> Option<PathBuf> {
	let port: u16 = url.rsplit(':').next()?.trim_end_matches('/').parse().ok()?;
	let chain = CHAINS.lock().unwrap().get(&port).cloned()?;
	Some(raw_chain_spec(&chain))
}

/// A running node process; killed when dropped.
pub struct Node {
	pub name: String,
	pub rpc_port: u16,
	pub p2p_port: u16,
	pub base: PathBuf,
	args: Vec<String>,
	child: Option<Child>,
	/// (genesis hash, peer id bytes): what a signed blob request to this node must name.
	identity: std::sync::OnceLock<(H256, Vec<u8>)>,
	/// The port of its binary endpoint, asked once.
	http_port: std::sync::OnceLock<Option<u16>>,
}

impl Node {
	/// A node with its ports chosen, not started yet.
	pub fn new(name: &str, base: &Path) -> Node {
		Node {
			name: name.into(),
			rpc_port: free_port(),
			p2p_port: free_port(),
			base: base.to_path_buf(),
			args: Vec::new(),
			child: None,
			identity: std::sync::OnceLock::new(),
			http_port: std::sync::OnceLock::new(),
		}
	}

	/// A handle on a node another handle runs (RPC only; dropping it stops nothing).
	pub fn attach(name: &str, rpc_port: u16) -> Node {
		Node {
			name: name.into(),
			rpc_port,
			p2p_port: 0,
			base: PathBuf::new(),
			args: Vec::new(),
			child: None,
			identity: std::sync::OnceLock::new(),
			http_port: std::sync::OnceLock::new(),
		}
	}

	/// Starts `phr-node <args> --base-path <base> --listen-addr <p2p> --rpc-port <rpc>`, logging
	/// to `<base>.log`.
	pub fn start(&mut self, args: Vec<String>) {
		self.args = args;
		self.spawn();
	}

	fn spawn(&mut self) {
		// The binary endpoint on any free port (the node names it in phr_storeStatus), unless the
		// test chose.
		let chosen = self.args.iter().any(|a| a == "--blob-http-port" || a == "--no-blob-http");
		let binary: &[&str] = if chosen { &[] } else { &["--blob-http-port", "0"] };
		let log = std::fs::OpenOptions::new()
			.create(true)
			.append(true)
			.open(self.base.with_extension("log"))
			.expect("log file");
		register_chain(self.rpc_port, &self.args);
		let child = Command::new(phr_node_binary())
			.args(&self.args)
			.arg("--base-path")
			.arg(&self.base)
			.args(["--listen-addr", &format!("/ip4/127.0.0.1/tcp/{}", self.p2p_port)])
			.args(["--rpc-port", &self.rpc_port.to_string()])
			.args(binary)
			.args(["--no-mdns", "--no-prometheus", "--no-telemetry", "--name", &self.name])
			.stdout(Stdio::null())
			.stderr(log)
			.spawn()
			.expect("phr-node starts");
		self.child = Some(child);
	}

	/// SIGKILL: the node gets no chance to shut down cleanly.
	pub fn kill(&mut self) {
		if let Some(mut child) = self.child.take() {
			let _ = child.kill();
			let _ = child.wait();
		}
	}

	pub fn restart(&mut self) {
		self.kill();
		// A restarted node listens on a new free port.
		self.http_port = std::sync::OnceLock::new();
		self.spawn();
	}

	/// The port of the node's binary endpoint (`phr_storeStatus`), if it runs one.
	pub fn http_port(&self) -> Option<u16> {
		*self.http_port.get_or_init(|| {
			let status = self.rpc("phr_storeStatus", json!([])).expect("phr_storeStatus");
			status["httpPort"].as_u64().map(|port| port as u16)
		})
	}

	/// The node's process id, while it runs.
	pub fn pid(&self) -> Option<u32> {
		self.child.as_ref().map(Child::id)
	}

	/// The node's resident memory (`VmRSS` of /proc), in MiB, while it runs.
	pub fn rss_mib(&self) -> Option<f64> {
		let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
		let kib: f64 = status.lines().find_map(|line| line.strip_prefix("VmRSS:"))?.trim().strip_suffix("kB")?.trim().parse().ok()?;
		Some(kib / 1024.0)
	}

	pub fn is_running(&mut self) -> bool {
		matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
	}

	pub fn log_tail(&self) -> String {
		let log = std::fs::read_to_string(self.base.with_extension("log")).unwrap_or_default();
		let lines: Vec<&str> = log.lines().collect();
		lines[lines.len().saturating_sub(15)..].join("\n")
	}

	pub fn rpc(&self, method: &str, params: Value) -> Result<Value, Value> {
		rpc(self.rpc_port, method, params)
	}

	pub fn finalized_height(&self) -> Option<u32> {
		let hash = self.rpc("chain_getFinalizedHead", json!([])).ok()?;
		let header = self.rpc("chain_getHeader", json!([hash])).ok()?;
		hex_number(&header["number"])
	}

	pub fn best_height(&self) -> Option<u32> {
		let header = self.rpc("chain_getHeader", json!([])).ok()?;
		hex_number(&header["number"])
	}

	/// The chain's genesis hash and this node's peer id (bytes), asked once: what a signed blob
	/// request to this node names.
	pub fn identity(&self) -> (H256, Vec<u8>) {
		self.identity
			.get_or_init(|| {
				let genesis = self.rpc("chain_getBlockHash", json!([0])).expect("genesis hash");
				let genesis: H256 = serde_json::from_value(genesis).expect("a hash");
				let peer = self.rpc("system_localPeerId", json!([])).expect("the node's peer id");
				// A peer id's text is the base58 of its bytes (`PeerId::to_bytes`).
				let peer = bs58::decode(peer.as_str().expect("a peer id")).into_vec().expect("a valid peer id");
				(genesis, peer)
			})
			.clone()
	}

	/// The libp2p address other nodes can dial.
	pub fn multiaddr(&self, peer_id: &str) -> String {
		format!("/ip4/127.0.0.1/tcp/{}/p2p/{peer_id}", self.p2p_port)
	}
}

impl Drop for Node {
	fn drop(&mut self) {
		self.kill();
	}
}

fn hex_number(value: &Value) -> Option<u32> {
	u32::from_str_radix(value.as_str()?.trim_start_matches("0x"), 16).ok()
}

/// One JSON-RPC call over HTTP/1.0 (the server closes the connection after answering).
/// `Ok(result)` or `Err(error object)`; a transport failure is `Err(json!({"transport": ...}))`.
pub fn rpc(port: u16, method: &str, params: Value) -> Result<Value, Value> {
	let reply = post(port, &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))?;
	match reply.get("error") {
		Some(error) => Err(error.clone()),
		None => Ok(reply["result"].clone()),
	}
}

/// Many calls of `method` in one JSON-RPC batch (one HTTP request); the answers in the order of
/// `params`. `Err` only when the batch as a whole failed.
pub fn rpc_batch(port: u16, method: &str, params: &[Value]) -> Result<Vec<Result<Value, Value>>, Value> {
	let calls: Vec<(&str, Value)> = params.iter().map(|p| (method, p.clone())).collect();
	rpc_calls(port, &calls)
}

/// Many calls, each its own method and params (any JSON, not only arrays), in one JSON-RPC batch;
/// the answers in the order of `calls`. `Err` only when the batch as a whole failed.
pub fn rpc_calls(port: u16, calls: &[(&str, Value)]) -> Result<Vec<Result<Value, Value>>, Value> {
	let body: Vec<Value> = calls
		.iter()
		.enumerate()
		.map(|(id, (method, params))| json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
		.collect();
	let reply = post(port, &Value::Array(body))?;
	let replies = reply.as_array().ok_or_else(|| json!({ "batch": reply.clone() }))?;
	let mut answers: Vec<Result<Value, Value>> = vec![Err(json!({ "batch": "no answer" })); calls.len()];
	for answer in replies {
		let Some(id) = answer["id"].as_u64().map(|id| id as usize).filter(|id| *id < calls.len()) else { continue };
		answers[id] = match answer.get("error") {
			Some(error) => Err(error.clone()),
			None => Ok(answer["result"].clone()),
		};
	}
	Ok(answers)
}

fn post(port: u16, body: &Value) -> Result<Value, Value> {
	let body = body.to_string();
	let transport = |e: std::io::Error| json!({ "transport": e.to_string() });
	let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(transport)?;
	stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(transport)?;
	write!(
		stream,
		"POST / HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
		body.len(),
		body
	)
	.map_err(transport)?;
	let mut response = String::new();
	stream.read_to_string(&mut response).map_err(transport)?;
	let json_body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
	serde_json::from_str(json_body).map_err(|e| json!({ "transport": e.to_string(), "raw": response }))
}

/// An answer of an HTTP endpoint: status, headers (names lowercase) and body.
#[derive(Debug)]
pub struct HttpAnswer {
	pub status: u16,
	pub headers: Vec<(String, String)>,
	pub body: Vec<u8>,
}

impl HttpAnswer {
	pub fn header(&self, name: &str) -> Option<&str> {
		self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
	}

	/// The body as JSON (a refusal's `{code, message}`, an upload's status).
	pub fn json(&self) -> Value {
		serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
	}
}

/// One HTTP/1.1 request to `127.0.0.1:port` on a fresh connection (closed after it). A body cut
/// short of its `Content-Length` is an error: what a reader must never take for the whole.
pub fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<HttpAnswer> {
	http_timed(port, method, path, headers, body).map(|(answer, _)| answer)
}

/// [`http`], with the time from connecting until the body was all written: the kernel took its
/// last byte, and the server may still be reading what the socket buffers hold.
pub fn http_timed(
	port: u16,
	method: &str,
	path: &str,
	headers: &[(&str, &str)],
	body: &[u8],
) -> std::io::Result<(HttpAnswer, Duration)> {
	let start = Instant::now();
	let mut stream = TcpStream::connect(("127.0.0.1", port))?;
	stream.set_read_timeout(Some(Duration::from_secs(60)))?;
	stream.set_nodelay(true)?;
	let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
	for (name, value) in headers {
		head.push_str(&format!("{name}: {value}\r\n"));
	}
	if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-length")) {
		head.push_str(&format!("Content-Length: {}\r\n", body.len()));
	}
	head.push_str("\r\n");
	stream.write_all(head.as_bytes())?;
	// The node may answer (a refusal) before the body is all sent, and close.
	let _ = stream.write_all(body);
	let sent = start.elapsed();
	let mut raw = Vec::new();
	stream.read_to_end(&mut raw)?;
	let (mut answer, start) = answer_head(&raw)?.ok_or_else(|| bad_answer("no complete answer head".into()))?;
	answer.body = raw[start..].to_vec();
	if let Some(length) = answer.header("content-length").and_then(|l| l.parse::<usize>().ok()) {
		if answer.body.len() != length {
			return Err(bad_answer(format!("the body broke off at {} of {length} bytes", answer.body.len())));
		}
	}
	Ok((answer, sent))
}

/// The status and headers of an HTTP answer whose first bytes are `raw`, with an empty body, and
/// where its body starts in `raw`; `None` while the head is not all there.
pub fn answer_head(raw: &[u8]) -> std::io::Result<Option<(HttpAnswer, usize)>> {
	let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { return Ok(None) };
	let head = String::from_utf8_lossy(&raw[..end]).to_string();
	let mut lines = head.split("\r\n");
	let status =
		lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).ok_or_else(|| bad_answer("no status".into()))?;
	let headers: Vec<(String, String)> = lines
		.filter_map(|l| l.split_once(':'))
		.map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
		.collect();
	Ok(Some((HttpAnswer { status, headers, body: Vec::new() }, end + 4)))
}

fn bad_answer(why: String) -> std::io::Error {
	std::io::Error::new(std::io::ErrorKind::InvalidData, why)
}

/// Unix time in milliseconds (the chain's `Moment`).
pub fn now_ms() -> u64 {
	std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A benchmark's knob: the environment variable `name` parsed, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
	std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The `p` quantile (0..=1) of non-empty, sorted `sorted`.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
	sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Polls `condition` every 500 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
	let start = Instant::now();
	while start.elapsed() < timeout {
		if condition() {
			return true;
		}
		std::thread::sleep(Duration::from_millis(500));
	}
	condition()
}

/// What a signature commits to besides the call: the chain and the runtime version.
pub struct ChainContext {
	pub genesis: H256,
	pub spec_version: u32,
	pub transaction_version: u32,
}

impl ChainContext {
	pub fn of(node: &Node) -> ChainContext {
		let genesis = node.rpc("chain_getBlockHash", json!([0])).expect("genesis hash");
		let genesis: H256 = serde_json::from_value(genesis).expect("a hash");
		let version = node.rpc("state_getRuntimeVersion", json!([])).expect("runtime version");
		ChainContext {
			genesis,
			spec_version: version["specVersion"].as_u64().expect("specVersion") as u32,
			transaction_version: version["transactionVersion"].as_u64().expect("transactionVersion") as u32,
		}
	}

	/// An immortal extrinsic calling `call`, signed by `signer` with `nonce`, SCALE-encoded.
	pub fn signed(&self, call: phr_runtime::RuntimeCall, signer: Sr25519Keyring, nonce: u32) -> Vec<u8> {
		self.signed_by(call, &signer.pair(), nonce)
	}

	/// As [`ChainContext::signed`], by any sr25519 key.
	pub fn signed_by(&self, call: phr_runtime::RuntimeCall, signer: &sp_core::sr25519::Pair, nonce: u32) -> Vec<u8> {
		use sp_core::Pair as _;
		let account: phr_runtime::AccountId = signer.public().into();
		let context = phr_runtime::SigningContext {
			genesis: self.genesis,
			spec_version: self.spec_version,
			transaction_version: self.transaction_version,
		};
		phr_runtime::signed_extrinsic(&context, call, account, nonce, |payload| {
			sp_runtime::MultiSignature::Sr25519(signer.sign(payload))
		})
		.encode()
	}
}

/// The account's nonce in the best block's state (not counting the pool, unlike
/// `system_accountNextIndex`): how many of its extrinsics are included.
pub fn onchain_nonce(node: &Node, account: &phr_runtime::AccountId) -> Option<u32> {
	let answer = node.rpc("state_call", json!(["AccountNonceApi_account_nonce", to_hex(&account.encode())])).ok()?;
	let bytes = hex::decode(answer.as_str()?.trim_start_matches("0x")).ok()?;
	<u32 as codec::Decode>::decode(&mut &bytes[..]).ok()
}

/// A runtime API call at the best block, decoded; panics with the method's name on failure.
pub fn state_call<T: codec::Decode>(node: &Node, method: &str, args: impl Encode) -> T {
	let answer = node.rpc("state_call", json!([method, to_hex(&args.encode())])).unwrap_or_else(|e| panic!("{method}: {e}"));
	let bytes = hex::decode(answer.as_str().expect("hex").trim_start_matches("0x")).expect("hex");
	T::decode(&mut &bytes[..]).unwrap_or_else(|e| panic!("{method} answer does not decode: {e}"))
}

pub fn to_hex(bytes: &[u8]) -> String {
	format!("0x{}", hex::encode(bytes))
}

/// A temporary directory removed when dropped.
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
	tempfile::Builder::new().prefix(prefix).tempdir().expect("a temp dir")
}

/// The validators of the `local-consortium` preset, H1..H4.
pub const HOSPITALS: [&str; 4] = ["Alice", "Bob", "Charlie", "Dave"];

fn local_key(file: &str, hospital: usize) -> String {
	file.lines()
		.find_map(|line| line.strip_prefix(&format!("H{hospital} ")))
		.expect("the key file lists every hospital")
		.trim()
		.to_string()
}

fn local_node_key(hospital: usize) -> String {
	local_key(include_str!("../../../scripts/local-node-keys"), hospital)
}

/// The development escrow secret of hospital `hospital` (1..=4) of the local consortium.
pub fn local_escrow_key(hospital: usize) -> [u8; 32] {
	hex::decode(local_key(include_str!("../../../scripts/local-escrow-keys"), hospital))
		.expect("hex")
		.try_into()
		.expect("32 bytes")
}

/// Starts a `--dev` node (one validator) under `dir` and waits until it has finalized a block.
pub fn start_dev_node(dir: &Path) -> Node {
	let mut node = Node::new("dev", &dir.join("dev"));
	node.start(vec!["--dev".into()]);
	let finalizing = wait_until(Duration::from_secs(60), || node.finalized_height().unwrap_or(0) >= 1);
	assert!(finalizing, "the dev node should finalize blocks; log:\n{}", node.log_tail());
	node
}

/// Starts the four validators of `local-consortium` under `dir`, as `scripts/run-consortium.sh`
/// does: fixed node keys (the preset's member peer ids), session keys and the hospital node key
/// (`phrn`, which anchors read receipts) from `//<Validator>`.
pub fn start_local_consortium(dir: &Path) -> Vec<Node> {
	start_consortium(dir, "local-consortium", &[])
}

/// As [`start_local_consortium`], for `chain` (the preset or a chain spec derived from it, with the
/// same validators and member nodes), each node started with `extra` arguments as well.
pub fn start_consortium(dir: &Path, chain: &str, extra: &[&str]) -> Vec<Node> {
	let mut nodes: Vec<Node> = Vec::new();
	let mut peer_ids = Vec::new();
	for (i, validator) in HOSPITALS.iter().enumerate() {
		let base = dir.join(format!("h{}", i + 1));
		std::fs::create_dir_all(&base).unwrap();
		let key_file = base.join("node-key");
		std::fs::write(&key_file, local_node_key(i + 1)).unwrap();
		std::fs::write(base.join("escrow-key"), hex::encode(local_escrow_key(i + 1))).unwrap();
		let (ok, peer_id, err) = run_node_command(&["key", "inspect-node-key", "--file", key_file.to_str().unwrap()]);
		assert!(ok, "inspect-node-key failed: {err}");
		peer_ids.push(peer_id.trim().to_string());
		for (key_type, scheme) in [("aura", "sr25519"), ("gran", "ed25519"), ("phrn", "sr25519")] {
			let suri = format!("//{validator}");
			let (ok, _, err) = run_node_command(&[
				"key", "insert", "--chain", chain, "--base-path", base.to_str().unwrap(),
				"--key-type", key_type, "--scheme", scheme, "--suri", &suri,
			]);
			assert!(ok, "key insert failed: {err}");
		}
		nodes.push(Node::new(&format!("H{}", i + 1), &base));
	}
	let addresses: Vec<String> = nodes.iter().zip(&peer_ids).map(|(n, p)| n.multiaddr(p)).collect();
	for (i, node) in nodes.iter_mut().enumerate() {
		let mut args: Vec<String> =
			["--chain", chain, "--validator", "--node-key-file"].iter().map(|s| s.to_string()).collect();
		args.push(node.base.join("node-key").to_string_lossy().into());
		args.push("--escrow-key-file".into());
		args.push(node.base.join("escrow-key").to_string_lossy().into());
		args.push("--bootnodes".into());
		args.extend(addresses.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, a)| a.clone()));
		args.extend(extra.iter().map(|s| s.to_string()));
		node.start(args);
	}
	nodes
}

/// The last log lines of every node.
pub fn logs(nodes: &[Node]) -> String {
	nodes.iter().map(|n| format!("--- {}\n{}", n.name, n.log_tail())).collect::<Vec<_>>().join("\n")
}

/// The lowest finalized height among `nodes` (0 for a node that does not answer).
pub fn min_finalized(nodes: &[Node]) -> u32 {
	nodes.iter().map(|n| n.finalized_height().unwrap_or(0)).min().unwrap_or(0)
}

/// Submits `calls` through `node` (each signer's extrinsics in order, nonces from its best block),
/// waits until all are included and then until every node in `all` has finalized that block.
/// Panics with the nodes' logs on timeout.
pub fn submit_and_finalize(node: &Node, all: &[Node], calls: Vec<(Sr25519Keyring, phr_runtime::RuntimeCall)>) {
	let chain = ChainContext::of(node);
	let mut next: std::collections::BTreeMap<phr_runtime::AccountId, u32> = Default::default();
	for (signer, call) in calls {
		let account = signer.to_account_id();
		let nonce = *next
			.entry(account.clone())
			.or_insert_with(|| onchain_nonce(node, &account).expect("the signer's nonce"));
		let extrinsic = chain.signed(call, signer, nonce);
		if let Err(error) = node.rpc("author_submitExtrinsic", json!([to_hex(&extrinsic)])) {
			panic!("{signer:?}'s extrinsic {nonce} was refused: {error}");
		}
		next.insert(account, nonce + 1);
	}
	let included = wait_until(Duration::from_secs(60), || {
		next.iter().all(|(account, nonce)| onchain_nonce(node, account) == Some(*nonce))
	});
	assert!(included, "the extrinsics should be included; logs:\n{}", logs(all));
	let best = node.best_height().expect("the node answers");
	let final_everywhere = wait_until(Duration::from_secs(90), || min_finalized(all) >= best);
	assert!(final_everywhere, "block {best} should be final on every node; logs:\n{}", logs(all));
}
