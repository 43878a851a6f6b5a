//! A minimal client of the `phr_` blob RPC for tests: signs requests with an account's ed25519
//! request key, uploads in chunks, fetches whole ciphertexts.

use std::time::Duration;

use base64::Engine as _;
use codec::Encode;
use ed25519_dalek::SigningKey;
use phr_primitives::{
	sign_request, AccountKeys, BlobMethod, BlobRequest, BlobSubject, CiphertextHash, Purpose, RecordId, SignedBlobRequest,
};
use phr_rpc_api::FetchAnswer;
use phr_runtime::AccountId;
use serde_json::{json, Value};
use sp_keyring::Sr25519Keyring;

use super::{now_ms, to_hex, Node};

pub use phr_rpc_api::CHUNK_SIZE as CHUNK;

/// How long the parts of one upload over the binary endpoint took.
#[derive(Clone, Copy, Debug)]
pub struct UploadTimes {
	/// The signed `phr_uploadBegin` call.
	pub begin: Duration,
	/// Connecting and sending the body: the node writes its chunks while they arrive.
	pub body: Duration,
	/// From the last byte sent to the answer: the node's reading and writing of what the socket
	/// buffers still held, its hash check and the synced write that acknowledges the upload.
	pub acknowledged: Duration,
}

fn b64(bytes: &[u8]) -> String {
	base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &Value) -> Vec<u8> {
	base64::engine::general_purpose::STANDARD.decode(text.as_str().expect("a base64 string")).expect("base64")
}

/// `Records::register` of `data`'s ciphertext hash and size as `patient`'s observation.
pub fn register_call(patient: Sr25519Keyring, data: &[u8]) -> phr_runtime::RuntimeCall {
	phr_runtime::RuntimeCall::Records(pallet_records::Call::register {
		patient: patient.to_account_id(),
		ciphertext_hash: phr_primitives::ciphertext_hash(data),
		size: data.len() as u64,
		category: phr_primitives::Category::Observation,
	})
}

/// The JSON-RPC error code of a failed call.
pub fn code(error: &Value) -> i64 {
	error["code"].as_i64().unwrap_or_else(|| panic!("not a JSON-RPC error: {error}"))
}

/// An account with the request key it registers on chain.
pub struct Requester {
	pub keyring: Sr25519Keyring,
	pub key: SigningKey,
}

impl Requester {
	pub fn new(keyring: Sr25519Keyring) -> Requester {
		let seed = phr_primitives::ciphertext_hash(format!("phr-test-request-key-{keyring:?}").as_bytes()).0;
		Requester { keyring, key: SigningKey::from_bytes(&seed) }
	}

	pub fn account(&self) -> AccountId {
		self.keyring.to_account_id()
	}

	/// The keys it registers with `Keys::register_keys` (the X25519 key is a placeholder here).
	pub fn keys(&self) -> AccountKeys {
		AccountKeys { encryption: phr_primitives::ciphertext_hash(&self.key.to_bytes()).0, request_signing: self.key.verifying_key().to_bytes() }
	}

	/// A request to `node`, signed now, valid one minute, with a fresh random nonce.
	pub fn request(&self, node: &Node, method: BlobMethod<AccountId>, subject: BlobSubject<AccountId>) -> SignedBlobRequest<AccountId> {
		self.request_with(node, method, subject, rand::random(), now_ms() + 60_000)
	}

	/// A treatment fetch of `record` at `node`.
	pub fn fetch_request(&self, node: &Node, record: RecordId) -> SignedBlobRequest<AccountId> {
		self.request(node, BlobMethod::Fetch { purpose: Purpose::Treatment }, BlobSubject::Record(record))
	}

	pub fn request_with(
		&self,
		node: &Node,
		method: BlobMethod<AccountId>,
		subject: BlobSubject<AccountId>,
		nonce: [u8; 16],
		expires_at_ms: u64,
	) -> SignedBlobRequest<AccountId> {
		let (genesis, peer) = node.identity();
		let node = peer.try_into().expect("a peer id fits");
		sign_request(BlobRequest { genesis, node, method, account: self.account(), subject, nonce, expires_at_ms }, &self.key)
	}

	/// Starts uploading `data` through `node` and sends nothing more; returns the begin answer.
	pub fn begin_upload(&self, node: &Node, data: &[u8]) -> Result<Value, Value> {
		self.begin_upload_of(node, phr_primitives::ciphertext_hash(data), data.len() as u64)
	}

	/// Starts uploading `size` bytes that hash to `hash` through `node`; returns the begin answer.
	pub fn begin_upload_of(&self, node: &Node, hash: CiphertextHash, size: u64) -> Result<Value, Value> {
		let request = self.request(node, BlobMethod::UploadCiphertext { size }, BlobSubject::Ciphertext(hash));
		node.rpc("phr_uploadBegin", json!([to_hex(&request.encode()), size]))
	}

	/// Uploads `data` through `node`: begun over JSON-RPC, the bytes over the binary endpoint
	/// (`PUT /upload/<token>`) when the node runs one; returns the upload's status.
	pub fn upload(&self, node: &Node, data: &[u8]) -> Result<Value, Value> {
		self.upload_hashed(node, data, phr_primitives::ciphertext_hash(data))
	}

	/// [`Requester::upload`] of `data` whose hash is known already (the wallet hashes a record
	/// while it seals it, so its upload hashes nothing again).
	pub fn upload_hashed(&self, node: &Node, data: &[u8], hash: CiphertextHash) -> Result<Value, Value> {
		if node.http_port().is_none() {
			return self.upload_json_hashed(node, data, hash);
		}
		self.upload_timed(node, data, hash).map(|(status, _)| status)
	}

	/// [`Requester::upload_hashed`] over `node`'s binary endpoint, with how long its parts took.
	pub fn upload_timed(&self, node: &Node, data: &[u8], hash: CiphertextHash) -> Result<(Value, UploadTimes), Value> {
		let port = node.http_port().expect("a node with a binary endpoint");
		let start = std::time::Instant::now();
		let started = self.begin_upload_of(node, hash, data.len() as u64)?;
		let begin = start.elapsed();
		let Some(upload) = started["upload"].as_str() else {
			let times = UploadTimes { begin, body: Duration::ZERO, acknowledged: Duration::ZERO };
			return node.rpc("phr_blobStatus", json!([hash])).map(|status| (status, times));
		};
		let (answer, body) = super::http_timed(port, "PUT", &format!("/upload/{upload}"), &[], data)
			.map_err(|e| json!({ "transport": e.to_string() }))?;
		let times = UploadTimes { begin, body, acknowledged: start.elapsed().saturating_sub(begin + body) };
		if answer.status == 200 {
			Ok((answer.json(), times))
		} else {
			Err(answer.json())
		}
	}

	/// Uploads `data` through `node` over JSON-RPC only (begin, base64 chunks, finish).
	pub fn upload_json(&self, node: &Node, data: &[u8]) -> Result<Value, Value> {
		self.upload_json_hashed(node, data, phr_primitives::ciphertext_hash(data))
	}

	/// [`Requester::upload_json`] of `data` whose hash is known already.
	pub fn upload_json_hashed(&self, node: &Node, data: &[u8], hash: CiphertextHash) -> Result<Value, Value> {
		let started = self.begin_upload_of(node, hash, data.len() as u64)?;
		let Some(upload) = started["upload"].as_str() else { return node.rpc("phr_blobStatus", json!([hash])) };
		for (index, chunk) in data.chunks(CHUNK).enumerate() {
			node.rpc("phr_uploadChunk", json!([upload, index as u32, b64(chunk)]))?;
		}
		node.rpc("phr_uploadFinish", json!([upload]))
	}

	/// Stores `record`'s data key of epoch 0 wrapped for `recipient`'s key of epoch 0.
	pub fn put_wrapped_key(&self, node: &Node, record: RecordId, recipient: &AccountId, wrapped: &[u8]) -> Result<Value, Value> {
		self.put_wrapped_key_at(node, record, recipient, (0, 0), wrapped)
	}

	/// Stores `record`'s data key of `epochs.0` wrapped for `recipient`'s key of `epochs.1`.
	pub fn put_wrapped_key_at(
		&self,
		node: &Node,
		record: RecordId,
		recipient: &AccountId,
		(data_epoch, recipient_epoch): (u32, u32),
		wrapped: &[u8],
	) -> Result<Value, Value> {
		let method = BlobMethod::UploadWrappedKey {
			recipient: recipient.clone(),
			data_epoch,
			recipient_epoch,
			wrapped: phr_primitives::wrapped_key_hash(wrapped),
		};
		let request = self.request(node, method, BlobSubject::Record(record));
		node.rpc(
			"phr_putWrappedKey",
			json!([to_hex(&request.encode()), recipient.to_string(), data_epoch, recipient_epoch, b64(wrapped)]),
		)
	}

	/// Sends an already signed fetch request; returns the answer as is.
	pub fn fetch_signed(node: &Node, request: &SignedBlobRequest<AccountId>) -> Result<Value, Value> {
		node.rpc("phr_fetch", json!([to_hex(&request.encode())]))
	}

	/// Fetches the whole ciphertext of `record` through `node`; returns it and the wrapped key.
	pub fn fetch(&self, node: &Node, record: RecordId) -> Result<(Vec<u8>, Option<Vec<u8>>), Value> {
		self.fetch_via(node, record, node.http_port())
	}

	/// As [`Requester::fetch`], the chunks over JSON-RPC only.
	pub fn fetch_json(&self, node: &Node, record: RecordId) -> Result<(Vec<u8>, Option<Vec<u8>>), Value> {
		self.fetch_via(node, record, None)
	}

	fn fetch_via(&self, node: &Node, record: RecordId, binary: Option<u16>) -> Result<(Vec<u8>, Option<Vec<u8>>), Value> {
		let answer = Self::fetch_signed(node, &self.fetch_request(node, record))?;
		// The contract's own type: a field the node stopped sending fails here.
		let answer: FetchAnswer = serde_json::from_value(answer).expect("a phr_fetch answer");
		let wrapped = answer.wrapped_key.map(|key| key.wrapped.0);
		if let Some(data) = answer.data {
			return Ok((data.0, wrapped));
		}
		let session = answer.session.expect("a session for a multi-chunk ciphertext");
		if let Some(port) = binary {
			let got = super::http(port, "GET", &format!("/session/{session}"), &[], &[])
				.map_err(|e| json!({ "transport": e.to_string() }))?;
			return if got.status == 200 { Ok((got.body, wrapped)) } else { Err(got.json()) };
		}
		let mut bytes = Vec::new();
		for index in 0..answer.chunks {
			bytes.extend(unb64(&node.rpc("phr_fetchChunk", json!([session, index]))?));
		}
		Ok((bytes, wrapped))
	}
}

/// Reads `record` through `node`'s binary endpoint as the wallet does: the body goes through the
/// hash as it arrives (1 MiB reads, never held whole). Returns its record hash and length.
pub fn fetch_hashed(requester: &Requester, node: &Node, record: RecordId) -> Result<(CiphertextHash, u64), Value> {
	let answer = Requester::fetch_signed(node, &requester.fetch_request(node, record))?;
	let answer: FetchAnswer = serde_json::from_value(answer).expect("a phr_fetch answer");
	if let Some(data) = answer.data {
		return Ok((phr_primitives::ciphertext_hash(&data.0), data.0.len() as u64));
	}
	let session = answer.session.expect("a session for a multi-chunk ciphertext");
	let port = node.http_port().expect("a node with a binary endpoint");
	get_hashed(port, &format!("/session/{session}")).map_err(|e| json!({ "transport": e.to_string() }))
}

fn get_hashed(port: u16, path: &str) -> std::io::Result<(CiphertextHash, u64)> {
	use std::io::{Read, Write};
	let bad = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
	let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
	stream.set_read_timeout(Some(Duration::from_secs(60)))?;
	stream.set_nodelay(true)?;
	write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")?;
	let mut buffer = vec![0u8; 1 << 20];
	let mut filled = 0;
	let (answer, start) = loop {
		if let Some(head) = super::answer_head(&buffer[..filled])? {
			break head;
		}
		let n = stream.read(&mut buffer[filled..])?;
		if n == 0 || filled + n == buffer.len() {
			return Err(bad("no complete answer head".into()));
		}
		filled += n;
	};
	if answer.status != 200 {
		return Err(bad(format!("refused with {}: {}", answer.status, String::from_utf8_lossy(&buffer[start..filled]))));
	}
	let length: u64 =
		answer.header("content-length").and_then(|value| value.parse().ok()).ok_or_else(|| bad("no content-length".into()))?;
	let mut hashed = phr_primitives::CiphertextHasher::new();
	hashed.update(&buffer[start..filled]);
	let mut got = (filled - start) as u64;
	loop {
		let n = stream.read(&mut buffer)?;
		if n == 0 {
			break;
		}
		hashed.update(&buffer[..n]);
		got += n as u64;
	}
	if got != length {
		return Err(bad(format!("the body broke off at {got} of {length} bytes")));
	}
	Ok((hashed.finalize(), got))
}

/// The state of `hash` in `node`'s store ("pending", "pinned", ...), after reading it back when
/// `verify`.
pub fn blob_state(node: &Node, hash: CiphertextHash, verify: bool) -> String {
	match node.rpc("phr_blobStatus", json!([hash, verify])) {
		Ok(status) => status["state"].as_str().unwrap_or_default().to_string(),
		Err(error) => format!("error: {error}"),
	}
}

/// Deterministic test bytes.
pub fn test_bytes(len: usize, seed: u8) -> Vec<u8> {
	(0..len).map(|i| (i as u8).wrapping_mul(131).wrapping_add(seed) ^ (i >> 13) as u8).collect()
}
