//! Malformed input at the node's RPC door: 10^6 `phr_` calls (`PHR_FUZZ_INPUTS`), each made from a
//! valid call by breaking it (a signed request with bytes flipped, cut, appended or overwritten;
//! parameters of the wrong type, count or size; tokens and hashes that name nothing), sent in
//! JSON-RPC batches to a real `--dev` node that holds a patient's record. Every call gets an answer,
//! the node never panics and keeps serving, and the store holds exactly what it held: no upload
//! opened, no receipt written, no ciphertext changed. The binary endpoint then gets its refusals
//! checked one by one (unknown and malformed tokens, a body that does not hash, is too long or
//! breaks off: each aborts its upload) and 10^6 malformed HTTP requests (`PHR_FUZZ_HTTP_INPUTS`),
//! pipelined on keep-alive connections, with the same outcome. (`/phr/blob/1` messages are fuzzed
//! in the unit tests of `node/src/blobs/replication.rs`.)

mod common;

use codec::Encode;
use common::{blob::*, fuzz::*, *};
use phr_primitives::{BlobMethod, BlobSubject, Purpose};
use phr_runtime::RuntimeCall;
use serde_json::{json, Value};
use sp_keyring::Sr25519Keyring::{Alice, Eve};
use std::{
	io::{BufRead, BufReader, Read, Write},
	net::TcpStream,
	time::{Duration, Instant},
};

/// Calls per JSON-RPC batch (one HTTP request).
const BATCH: usize = 2_000;

/// A JSON value of a type, size or form no `phr_` parameter has.
fn junk(rng: &mut Rng) -> Value {
	match rng.below(12) {
		0 => Value::Null,
		1 => json!(rng.below(2) == 1),
		2 => json!(u64::MAX),
		3 => json!(-1 - rng.below(1 << 20) as i64),
		4 => json!(1.5),
		5 => {
			let len = rng.below(200);
			json!(to_hex(&rng.bytes(len)))
		},
		6 => {
			let len = rng.below(64);
			json!(String::from_utf8_lossy(&rng.bytes(len)).to_string())
		},
		7 => json!("0xzz"),
		8 => json!([junk(rng), junk(rng)]),
		9 => json!({ "request": junk(rng) }),
		// Rarely, a long string: the node bounds what it reads.
		10 if rng.below(200) == 0 => json!("A".repeat(300_000)),
		_ => json!(format!("{:016x}", rng.next())),
	}
}

/// `request` (a signed request's encoding) broken: as bytes, or as its hex text.
fn broken_request(rng: &mut Rng, request: &[u8]) -> Value {
	let hex = to_hex(&mutate(rng, request));
	match rng.below(10) {
		0 => json!(&hex[2..]),          // no 0x
		1 => json!(format!("{hex}0")), // odd length
		_ => json!(hex),
	}
}

#[test]
fn a_million_malformed_phr_calls_change_nothing_and_the_node_keeps_serving() {
	let dir = temp_dir("phr-fuzz-");
	let node = start_dev_node(dir.path());
	let all = std::slice::from_ref(&node);
	let eve = Requester::new(Eve);
	let onboard = RuntimeCall::Consortium(pallet_consortium::Call::onboard_patient { patient: Eve.to_account_id() });
	submit_and_finalize(&node, all, vec![(Alice, onboard)]);
	submit_and_finalize(&node, all, vec![(Eve, RuntimeCall::Keys(pallet_keys::Call::register_keys { keys: eve.keys() }))]);
	let data = test_bytes(CHUNK + 5, 3);
	let hash = phr_primitives::ciphertext_hash(&data);
	eve.upload(&node, &data).expect("Eve's upload");
	submit_and_finalize(&node, all, vec![(Eve, register_call(Eve, &data))]);
	assert!(wait_until(Duration::from_secs(60), || blob_state(&node, hash, false) == "pinned"), "{}", node.log_tail());
	let (fetched, _) = eve.fetch(&node, 0).expect("Eve reads her record");
	assert_eq!(fetched, data);
	let status = || {
		let mut status = node.rpc("phr_storeStatus", json!([])).expect("the node answers");
		// Anchoring the read above goes on in the background: not what this test is about.
		status.as_object_mut().unwrap().retain(|key, _| key != "receiptsAnchored" && key != "finalizedCursor");
		status
	};
	let before = status();

	// Valid calls, signed by Eve for this node and never sent as they are.
	let other = test_bytes(100, 9);
	let wrapped = vec![7u8; 80];
	let eve_id = Eve.to_account_id();
	// Valid for nine minutes (the node takes ten at most): a broken copy is never refused merely
	// for having expired.
	let signed = |method, subject| eve.request_with(&node, method, subject, rand::random(), now_ms() + 540_000).encode();
	let upload = signed(BlobMethod::UploadCiphertext { size: 100 }, BlobSubject::Ciphertext(phr_primitives::ciphertext_hash(&other)));
	let put_key = signed(
		BlobMethod::UploadWrappedKey {
			recipient: eve_id.clone(),
			data_epoch: 0,
			recipient_epoch: 0,
			wrapped: phr_primitives::wrapped_key_hash(&wrapped),
		},
		BlobSubject::Record(0),
	);
	let fetch = signed(BlobMethod::Fetch { purpose: Purpose::Treatment }, BlobSubject::Record(0));
	let receipts = signed(BlobMethod::Receipts { batch: 0 }, BlobSubject::Patient(eve_id.clone()));
	let release = signed(BlobMethod::ReleaseShare { emergency: 0 }, BlobSubject::Record(0));
	let wrapped_b64 = {
		use base64::Engine as _;
		base64::engine::general_purpose::STANDARD.encode(&wrapped)
	};

	let total = inputs();
	let mut rng = Rng::new(0xf022_1e55);
	let started = Instant::now();
	let (mut sent, mut refused) = (0usize, 0usize);
	while sent < total {
		let mut calls: Vec<(&str, Value)> = Vec::with_capacity(BATCH);
		for _ in 0..BATCH.min(total - sent) {
			// A valid call, then one more thing broken in it: the signed request always (so that
			// no call is a valid one), and at times a parameter replaced or the count changed.
			let (method, mut params): (&str, Vec<Value>) = match rng.below(11) {
				0 => ("phr_uploadBegin", vec![broken_request(&mut rng, &upload), json!(100)]),
				1 => ("phr_uploadChunk", vec![junk(&mut rng), json!(rng.below(4)), json!(wrapped_b64)]),
				2 => ("phr_uploadFinish", vec![junk(&mut rng)]),
				3 => ("phr_uploadAbort", vec![junk(&mut rng)]),
				4 => (
					"phr_putWrappedKey",
					vec![broken_request(&mut rng, &put_key), json!(eve_id.to_string()), json!(0), json!(0), json!(wrapped_b64)],
				),
				5 => ("phr_fetch", vec![broken_request(&mut rng, &fetch), json!("treatment")]),
				6 => ("phr_fetchChunk", vec![junk(&mut rng), json!(rng.below(3))]),
				7 => ("phr_blobStatus", vec![json!(to_hex(&mutate(&mut rng, hash.as_bytes()))), json!(true)]),
				8 => ("phr_receiptBatch", vec![broken_request(&mut rng, &receipts), json!(0)]),
				9 => ("phr_releaseShares", vec![json!([broken_request(&mut rng, &release), broken_request(&mut rng, &release)])]),
				_ => ("phr_storeStatus", vec![junk(&mut rng)]),
			};
			match rng.below(4) {
				0 if !params.is_empty() => {
					let at = rng.below(params.len());
					params[at] = junk(&mut rng);
				},
				1 => params.push(junk(&mut rng)),
				2 => {
					params.pop();
				},
				_ => {},
			}
			// At times named parameters instead of positional ones.
			let params = if rng.below(50) == 0 { json!({ "request": junk(&mut rng) }) } else { Value::Array(params) };
			calls.push((method, params));
		}
		let answers = rpc_calls(node.rpc_port, &calls).unwrap_or_else(|error| {
			panic!("a batch of {} calls after {sent} got no answer ({error}); log:\n{}", calls.len(), node.log_tail())
		});
		refused += answers.iter().filter(|answer| answer.is_err()).count();
		for ((method, params), answer) in calls.iter().zip(&answers) {
			// A broken signed request is never served, whatever else the call holds.
			if let (Ok(answer), true) = (answer, ["phr_uploadBegin", "phr_putWrappedKey", "phr_fetch", "phr_receiptBatch"].contains(method)) {
				panic!("{method} {params} was served: {answer}");
			}
			if let Err(error) = answer {
				assert!(error.get("code").is_some(), "{method}: not a JSON-RPC error: {error}");
			}
			// Release requests are answered one by one: none of them with a share.
			if let (Ok(Value::Array(outcomes)), true) = (answer, *method == "phr_releaseShares") {
				assert!(outcomes.iter().all(|o| o["share"].is_null()), "{params} released a share: {answer:?}");
			}
		}
		sent += calls.len();
	}
	let elapsed = started.elapsed();
	eprintln!(
		"[fuzz] {sent} malformed phr_ calls in {:.1} s ({:.0}/s), {refused} refused",
		elapsed.as_secs_f64(),
		sent as f64 / elapsed.as_secs_f64()
	);

	assert_eq!(status(), before, "malformed calls changed the store");

	binary_refusals(&node, &eve, &other);
	assert_eq!(status(), before, "refused binary uploads left something behind");
	let session = {
		let answer = Requester::fetch_signed(&node, &eve.fetch_request(&node, 0)).expect("a fetch");
		answer["session"].as_str().expect("a session for two chunks").to_string()
	};
	// That read is a served read like any other: one receipt more, and nothing else may change.
	let before = status();
	let upload = eve.begin_upload(&node, &other).expect("an upload")["upload"].as_str().unwrap().to_string();
	fuzz_binary_endpoint(&node, &[upload.as_str(), session.as_str()]);
	// The one upload begun for the fuzzing is still open, untouched: abort it.
	node.rpc("phr_uploadAbort", json!([upload])).expect("the fuzzed upload is still there, unchanged");

	let log = std::fs::read_to_string(dir.path().join("dev.log")).unwrap_or_default();
	assert!(!log.contains("panicked"), "the node panicked:\n{}", node.log_tail());
	assert_eq!(status(), before, "malformed HTTP requests changed the store");
	let (again, _) = eve.fetch(&node, 0).expect("the node still serves Eve");
	assert_eq!(again, data, "the ciphertext changed");
	let (again, _) = eve.fetch_json(&node, 0).expect("and over JSON-RPC");
	assert_eq!(again, data, "the ciphertext changed");
}

fn refused(answer: std::io::Result<HttpAnswer>, status: u16, code: phr_rpc_api::ErrorCode, what: &str) {
	let answer = answer.unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
	assert_eq!(answer.status, status, "{what}: {}", String::from_utf8_lossy(&answer.body));
	assert_eq!(answer.json()["code"], code.code(), "{what}");
	assert_eq!(answer.header("access-control-allow-origin"), Some("*"), "{what}: refusals carry CORS too");
}

/// Each refusal of the binary endpoint, with its status and code; every bad upload is aborted.
fn binary_refusals(node: &Node, eve: &Requester, data: &[u8]) {
	use phr_rpc_api::ErrorCode::*;
	let port = node.http_port().expect("the dev node runs the binary endpoint");
	let preflight = http(port, "OPTIONS", "/upload/00", &[("Origin", "http://127.0.0.1:8080")], &[]).unwrap();
	assert_eq!(preflight.status, 204);
	assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
	assert!(preflight.header("access-control-allow-methods").unwrap().contains("PUT"));
	refused(http(port, "GET", "/nothing", &[], &[]), 404, Unknown, "an unknown path");
	refused(http(port, "POST", "/upload/0011223344556677", &[], b"x"), 405, Malformed, "POST");
	refused(http(port, "PUT", "/upload/0011223344556677", &[], data), 404, Unknown, "an upload nobody began");
	refused(http(port, "PUT", "/upload/zz", &[], data), 400, Malformed, "a malformed upload token");
	refused(http(port, "GET", "/session/00", &[], &[]), 400, Malformed, "a malformed session token");
	refused(http(port, "GET", &format!("/session/{}", "ab".repeat(16)), &[], &[]), 410, Expired, "a session nobody opened");

	let begin = || eve.begin_upload(node, data).expect("an upload")["upload"].as_str().unwrap().to_string();
	let gone = |upload: &str, what: &str| {
		let error = node.rpc("phr_uploadAbort", json!([upload])).expect_err(what);
		assert_eq!(code(&error), Unknown.code() as i64, "{what}: the upload was aborted");
	};
	let upload = begin();
	let mut altered = data.to_vec();
	altered[3] ^= 1;
	refused(http(port, "PUT", &format!("/upload/{upload}"), &[], &altered), 400, Malformed, "bytes that do not hash");
	gone(&upload, "bytes that do not hash");
	let upload = begin();
	let longer = [data, b"!"].concat();
	refused(http(port, "PUT", &format!("/upload/{upload}"), &[], &longer), 400, Malformed, "a body longer than announced");
	gone(&upload, "a body longer than announced");
	// A body that breaks off: the connection closes after half of it.
	let upload = begin();
	let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
	write!(stream, "PUT /upload/{upload} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", data.len()).unwrap();
	stream.write_all(&data[..data.len() / 2]).unwrap();
	stream.shutdown(std::net::Shutdown::Write).unwrap();
	let mut rest = Vec::new();
	let _ = stream.read_to_end(&mut rest);
	let aborted = wait_until(Duration::from_secs(10), || node.rpc("phr_uploadAbort", json!([upload])).is_err());
	assert!(aborted, "an upload whose body broke off is aborted");
}

/// One malformed HTTP request: a method, a path about the tokens (never one of them as it is),
/// headers and a body, framed well (so that the next pipelined request is read too); or, when
/// `break_framing`, one whose framing the node cannot read (it answers, if at all, and closes).
fn http_input(rng: &mut Rng, tokens: &[&str], break_framing: bool) -> Vec<u8> {
	let method = *rng.pick(&["GET", "PUT", "PUT", "POST", "OPTIONS", "DELETE", "PATCH"]);
	let token = rng.pick(tokens).as_bytes().to_vec();
	// Percent-encoded where a path may not hold the byte (RFC 3986 pchar), so that the request line
	// is valid HTTP and the request reaches the handler. (A raw '#' would start a fragment, no part
	// of the path; a raw '>' or '"' makes the request line invalid, which hyper answers with 400 and
	// a closed connection: that case is among the broken ones below.)
	let token: String = mutate(rng, &token)
		.into_iter()
		.map(|byte| match byte {
			b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' |
			b'*' | b'+' | b',' | b';' | b'=' | b':' | b'@' => (byte as char).to_string(),
			_ => format!("%{byte:02X}"),
		})
		.collect();
	let path = match rng.below(8) {
		0 => format!("/upload/{token}"),
		1 => format!("/session/{token}"),
		2 => format!("/upload/{:016x}", rng.next()),
		3 => format!("/session/{:032x}", (rng.next() as u128) << 64 | rng.next() as u128),
		4 => format!("/{token}/{token}"),
		5 => format!("/session/{}", "f".repeat(rng.below(20_000))),
		6 => "*".into(),
		_ => format!("/upload/{token}?chunk={}", rng.next()),
	};
	let len = rng.below(3_000);
	let body = rng.bytes(len);
	let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
	if rng.below(8) == 0 {
		head.push_str(&format!("X-{}: {}\r\n", "h".repeat(1 + rng.below(64)), "v".repeat(rng.below(9_000))));
	}
	if !break_framing {
		head.push_str(&format!("Content-Length: {len}\r\n\r\n"));
		return [head.into_bytes(), body].concat();
	}
	match rng.below(6) {
		0 => head.push_str(&format!("Content-Length: {}\r\n", u64::MAX)),
		5 => head = head.replacen(" HTTP/1.1", "/<\"{|}> HTTP/1.1", 1),
		1 => head.push_str("Transfer-Encoding: chunked\r\n"),
		2 => head.push_str("Content-Length: -1\r\n"),
		3 => head = head.replacen(method, "G\u{0}T", 1),
		_ => head.push_str(&format!("Content-Length: {len}\r\n")),
	}
	head.push_str("\r\n");
	mutate(rng, &[head.into_bytes(), body].concat())
}

/// Reads one HTTP answer off `reader`: its status, or `None` once the node closed the connection.
fn read_answer(reader: &mut BufReader<TcpStream>) -> Option<u16> {
	let mut line = String::new();
	if reader.read_line(&mut line).ok()? == 0 {
		return None;
	}
	let status = line.split(' ').nth(1)?.parse().ok()?;
	let mut length = 0usize;
	loop {
		let mut header = String::new();
		if reader.read_line(&mut header).ok()? == 0 {
			return None;
		}
		if header == "\r\n" {
			break;
		}
		if let Some((name, value)) = header.split_once(':') {
			if name.eq_ignore_ascii_case("content-length") {
				length = value.trim().parse().ok()?;
			}
		}
	}
	let mut body = vec![0u8; length];
	reader.read_exact(&mut body).ok()?;
	Some(status)
}

/// 10^6 malformed requests to the binary endpoint, 100 pipelined per write on keep-alive
/// connections; a third of the batches end with a request whose framing is broken, after which the
/// node closes the connection (and the next batch opens another). Each well-framed request gets a
/// refusal; nothing is ever a success.
fn fuzz_binary_endpoint(node: &Node, tokens: &[&str]) {
	let port = node.http_port().unwrap();
	let total: usize = env_or("PHR_FUZZ_HTTP_INPUTS", 1_000_000);
	let mut rng = Rng::new(0xb10b_5eed);
	let started = Instant::now();
	let (mut sent, mut answered, mut closed, mut dropped) = (0usize, 0usize, 0usize, 0usize);
	while sent < total {
		let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the binary endpoint accepts");
		stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
		let mut reader = BufReader::new(stream.try_clone().unwrap());
		loop {
			let count = 100.min(total - sent);
			let breaks = rng.below(3) == 0;
			let batch: Vec<Vec<u8>> =
				(0..count).map(|i| http_input(&mut rng, tokens, breaks && i + 1 == count)).collect();
			if batch.is_empty() {
				break;
			}
			sent += batch.len();
			// The node may close mid-batch: what it did not read is not answered.
			let _ = stream.write_all(&batch.concat());
			if breaks {
				// The broken request may claim more body than it has: the node must see its end.
				let _ = stream.shutdown(std::net::Shutdown::Write);
			}
			let mut open = true;
			for i in 0..batch.len() {
				let well_framed = !(breaks && i + 1 == count);
				match read_answer(&mut reader) {
					Some(status) => {
						assert!(status >= 400 || status == 204, "a malformed request succeeded ({status})");
						answered += 1;
					},
					None => {
						// Hyper closes a connection whose refused request's body it could not
						// drain at once: allowed, and rare (counted below).
						if well_framed {
							dropped += count - i;
						}
						open = false;
						break;
					},
				}
			}
			if !open || breaks {
				closed += 1;
				break;
			}
		}
	}
	let elapsed = started.elapsed();
	eprintln!(
		"[fuzz] {sent} malformed HTTP requests in {:.1} s ({:.0}/s), {answered} answered with a refusal, {closed} connections ended, {dropped} well-framed requests unanswered after the node closed early",
		elapsed.as_secs_f64(),
		sent as f64 / elapsed.as_secs_f64()
	);
	assert!(answered * 10 >= total * 9, "at least 90% of the requests reach the handler and are refused: {answered} of {total}");
	assert!(node.rpc("system_health", json!([])).is_ok(), "the node keeps serving");
}
