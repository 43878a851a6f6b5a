//! Blob-store benchmark against a real dev node (`cargo bench --workspace --profile release --bench blob_store`,
//! or `scripts/bench.sh blobs`): upload and fetch throughput for 64 KiB and 10 MiB records over the
//! binary endpoint (and, for comparison, over JSON-RPC alone), the p50/p99 latency of authorized
//! 64 KiB fetches at a fixed request rate, and raw ChaCha20-Poly1305, BLAKE3 and blake2b throughput
//! and the disk's durable-write time on this machine in the same run, for the ratio. Prints the
//! figures. The client side does what the wallet does: it hashes a record once, while sealing it
//! (not timed, as the sealing is not), and checks every ciphertext it reads against the chain's
//! hash (timed, as part of the fetch). The records begin with the header the wallet seals
//! (format 2, so their record hash is BLAKE3); their bodies are test bytes, as opaque to the node
//! as ciphertext.

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
	sync::{Arc, Mutex},
	time::{Duration, Instant},
};

use chacha20poly1305::{aead::AeadInPlace, ChaCha20Poly1305, KeyInit};
use codec::Encode;
use common::{blob::*, *};
use phr_primitives::{ciphertext_hash, Category, BLAKE3_SEALED_PREFIX};
use phr_runtime::RuntimeCall;
use serde_json::json;
use sp_keyring::Sr25519Keyring::Bob;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

fn mib_per_s(bytes: usize, elapsed: Duration) -> f64 {
	bytes as f64 / MIB as f64 / elapsed.as_secs_f64()
}

/// Raw ChaCha20-Poly1305 sealing of `len`-byte buffers, MiB/s.
fn raw_aead(len: usize) -> f64 {
	let cipher = ChaCha20Poly1305::new(&[7u8; 32].into());
	let mut buffer = vec![1u8; len];
	let rounds = (512 * MIB / len).max(4);
	let start = Instant::now();
	for i in 0..rounds {
		let mut nonce = [0u8; 12];
		nonce[..8].copy_from_slice(&(i as u64).to_le_bytes());
		let tag = cipher.encrypt_in_place_detached(&nonce.into(), b"", &mut buffer).unwrap();
		std::hint::black_box(tag);
	}
	mib_per_s(rounds * len, start.elapsed())
}

/// The record hash of `len`-byte ciphertexts beginning with `prefix`, MiB/s.
fn raw_hash(len: usize, prefix: &[u8]) -> f64 {
	let mut buffer = vec![3u8; len];
	buffer[..prefix.len()].copy_from_slice(prefix);
	let rounds = (512 * MIB / len).max(4);
	let start = Instant::now();
	for _ in 0..rounds {
		std::hint::black_box(ciphertext_hash(&buffer));
	}
	mib_per_s(rounds * len, start.elapsed())
}

/// `len` test bytes behind the header of the wallet's format 2 (its nonce prefix made unique by
/// `id`): what a sealed record of that size looks like to the node.
fn sealed_shape(len: usize, id: u64) -> Vec<u8> {
	let mut data = test_bytes(len, id as u8);
	data[..5].copy_from_slice(&BLAKE3_SEALED_PREFIX);
	data[5..9].copy_from_slice(&(64u32 * 1024).to_be_bytes());
	data[9..16].copy_from_slice(&id.to_le_bytes()[..7]);
	data
}

/// Median time to write `len` bytes to a new file in `dir` and fsync it: what acknowledging an
/// upload durably costs at the least on this disk.
fn durable_write(dir: &std::path::Path, len: usize) -> Duration {
	use std::io::Write as _;
	let data = test_bytes(len, 5);
	let mut times: Vec<Duration> = (0..5)
		.map(|i| {
			let path = dir.join(format!("fsync-probe-{i}"));
			let start = Instant::now();
			let mut file = std::fs::File::create(&path).unwrap();
			file.write_all(&data).unwrap();
			file.sync_all().unwrap();
			let elapsed = start.elapsed();
			std::fs::remove_file(&path).unwrap();
			elapsed
		})
		.collect();
	times.sort();
	times[2]
}

/// Median time for the node's store alone to take a `len`-byte upload on this disk, in 1 MiB
/// chunks as the binary endpoint hands them over, and acknowledge it (written, hashed,
/// checksummed, synced and recorded): the store's part of an upload, without the network.
fn store_upload(dir: &std::path::Path, len: usize) -> Duration {
	let store = phr_blob_store::BlobStore::open(&dir.join("store-probe"), Default::default()).unwrap();
	let mut times: Vec<Duration> = (0..9u64)
		.map(|round| {
			let data = sealed_shape(len, 1 << 40 | round);
			let hash = ciphertext_hash(&data);
			let start = Instant::now();
			store.put_blob(hash, &data, 0).unwrap();
			start.elapsed()
		})
		.collect();
	times.sort();
	times[4]
}

/// What moving `len` bytes through the JSON-RPC blob path costs in its parts, on one core.
struct TransportCosts {
	base64: Duration,
	json: Duration,
	blake2: Duration,
	blake3: Duration,
	aead: Duration,
}

fn transport_costs(len: usize) -> TransportCosts {
	use base64::Engine as _;
	let data = test_bytes(len, 9);
	let engine = base64::engine::general_purpose::STANDARD;
	let timed = |f: &mut dyn FnMut()| {
		let start = Instant::now();
		for _ in 0..5 {
			f();
		}
		start.elapsed() / 5
	};
	let base64 = timed(&mut || {
		let text = engine.encode(&data);
		std::hint::black_box(engine.decode(text).unwrap());
	});
	let text = engine.encode(&data);
	let json = timed(&mut || {
		let body = json!({"jsonrpc": "2.0", "id": 1, "result": text}).to_string();
		std::hint::black_box(serde_json::from_str::<serde_json::Value>(&body).unwrap());
	});
	let blake2 = timed(&mut || {
		std::hint::black_box(ciphertext_hash(&data));
	});
	let sealed = sealed_shape(len, 0);
	let blake3 = timed(&mut || {
		std::hint::black_box(ciphertext_hash(&sealed));
	});
	let cipher = ChaCha20Poly1305::new(&[7u8; 32].into());
	let mut buffer = data.clone();
	let aead = timed(&mut || {
		std::hint::black_box(cipher.encrypt_in_place_detached(&[0u8; 12].into(), b"", &mut buffer).unwrap());
	});
	TransportCosts { base64, json, blake2, blake3, aead }
}

fn main() {
	let count_small: usize = env_or("PHR_BENCH_SMALL", 200);
	let count_large: usize = env_or("PHR_BENCH_LARGE", 10);
	let rate: u64 = env_or("PHR_BENCH_RATE", 500);
	let seconds: u64 = env_or("PHR_BENCH_SECONDS", 10);

	let dir = temp_dir("phr-bench-blobs-");
	let node = start_dev_node(dir.path());
	let bob = Requester::new(Bob);
	let nodes = std::slice::from_ref(&node);
	submit_and_finalize(&node, nodes, vec![(Bob, RuntimeCall::Keys(pallet_keys::Call::register_keys { keys: bob.keys() }))]);

	println!(
		"blob-store benchmark: dev node, loopback, binary endpoint on port {:?}, {} cores",
		node.http_port(),
		std::thread::available_parallelism().map_or(1, |n| n.get())
	);
	let mut next_record = 0u64;
	let mut large = (Duration::ZERO, Duration::ZERO);
	let mut large_json = (Duration::ZERO, Duration::ZERO);
	let mut large_parts: Vec<UploadTimes> = Vec::new();
	for (label, size, count, binary) in [
		("64 KiB", 64 * KIB, count_small, true),
		("10 MiB", 10 * MIB, count_large, true),
		("10 MiB over JSON-RPC only", 10 * MIB, count_large.min(3), false),
	] {
		let blobs: Vec<Vec<u8>> = (0..count)
			.map(|i| sealed_shape(size, i as u64 | (size as u64) << 24 | (binary as u64) << 50))
			.collect();
		// The wallet hashes a record while it seals it: the upload starts with the hash known.
		let hashes: Vec<_> = blobs.iter().map(|data| ciphertext_hash(data)).collect();
		let start = Instant::now();
		for (data, hash) in blobs.iter().zip(&hashes) {
			if binary {
				let (_, times) = bob.upload_timed(&node, data, *hash).expect("upload");
				if size == 10 * MIB {
					large_parts.push(times);
				}
			} else {
				bob.upload_json_hashed(&node, data, *hash).expect("upload");
			}
		}
		let upload = start.elapsed();
		let calls = blobs
			.iter()
			.enumerate()
			.map(|(i, data)| {
				(Bob, RuntimeCall::Records(pallet_records::Call::register {
					patient: Bob.to_account_id(),
					ciphertext_hash: hashes[i],
					size: data.len() as u64,
					category: Category::Observation,
				}))
			})
			.collect();
		submit_and_finalize(&node, nodes, calls);
		let ids: Vec<u64> = (next_record..next_record + count as u64).collect();
		next_record += count as u64;
		// Readers have their wrapped data key at the node, as the wallet leaves it.
		for id in &ids {
			bob.put_wrapped_key(&node, *id, &Bob.to_account_id(), &[7u8; 80]).expect("wrapped key");
		}
		let start = Instant::now();
		for (id, hash) in ids.iter().zip(&hashes) {
			// As the wallet does with every read: the bytes must hash to the chain's hash (over
			// the binary endpoint hashed as they arrive, as the wallet's reader does).
			let read = if binary {
				fetch_hashed(&bob, &node, *id).expect("fetch")
			} else {
				let (bytes, _) = bob.fetch_json(&node, *id).expect("fetch");
				(ciphertext_hash(&bytes), bytes.len() as u64)
			};
			assert!(read == (*hash, size as u64), "record {id} read back intact");
		}
		let fetch = start.elapsed();
		let total = size * count;
		if size == 10 * MIB {
			let each = (upload / count as u32, fetch / count as u32);
			if binary {
				large = each;
			} else {
				large_json = each;
			}
		}
		println!(
			"{label:>7} x {count:>4}: upload {:>7.1} MiB/s ({:>6.2} ms each), fetch {:>7.1} MiB/s ({:>6.2} ms each)",
			mib_per_s(total, upload),
			upload.as_secs_f64() * 1e3 / count as f64,
			mib_per_s(total, fetch),
			fetch.as_secs_f64() * 1e3 / count as f64
		);
	}

	// Authorized 64 KiB fetches (records 0.. are the 64 KiB ones) at a fixed rate, open loop: each
	// request has its time slot, whatever the previous answer took; 4 senders.
	let small: Arc<Vec<u64>> = Arc::new((0..count_small as u64).collect());
	let latencies = Arc::new(Mutex::new(Vec::new()));
	let errors = Arc::new(Mutex::new(0u32));
	let senders = 4u64;
	let interval = Duration::from_secs_f64(senders as f64 / rate as f64);
	let per_sender = rate * seconds / senders;
	let start = Instant::now();
	let handles: Vec<_> = (0..senders)
		.map(|s| {
			let (small, latencies, errors, port) = (small.clone(), latencies.clone(), errors.clone(), node.rpc_port);
			std::thread::spawn(move || {
				let node = Node::attach("dev", port);
				node.identity(); // asked once, before the timed requests
				let bob = Requester::new(Bob);
				let offset = interval.mul_f64(s as f64 / senders as f64);
				for i in 0..per_sender {
					let slot = start + offset + interval.mul_f64(i as f64);
					if let Some(wait) = slot.checked_duration_since(Instant::now()) {
						std::thread::sleep(wait);
					}
					let record = small[(i as usize * senders as usize + s as usize) % small.len()];
					let request = bob.fetch_request(&node, record);
					let sent = Instant::now();
					let answer = node.rpc("phr_fetch", json!([to_hex(&request.encode())]));
					let elapsed = sent.elapsed();
					match answer {
						Ok(_) => latencies.lock().unwrap().push(elapsed),
						Err(_) => *errors.lock().unwrap() += 1,
					}
				}
			})
		})
		.collect();
	for handle in handles {
		handle.join().unwrap();
	}
	let wall = start.elapsed();
	let mut latencies = latencies.lock().unwrap().clone();
	latencies.sort();
	let served = latencies.len();
	println!(
		"64 KiB authorized fetch at {rate} req/s for {seconds} s: {served} served ({:.0} req/s achieved), {} errors, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
		served as f64 / wall.as_secs_f64(),
		errors.lock().unwrap(),
		percentile(&latencies, 0.50).as_secs_f64() * 1e3,
		percentile(&latencies, 0.99).as_secs_f64() * 1e3,
		latencies.last().unwrap().as_secs_f64() * 1e3
	);
	let mut aead_1mib = 0.0;
	for size in [64 * KIB, MIB] {
		let (aead, blake3, blake2) = (raw_aead(size), raw_hash(size, &BLAKE3_SEALED_PREFIX), raw_hash(size, b"PHRC\x01"));
		aead_1mib = aead;
		println!(
			"raw, same machine, same run: ChaCha20-Poly1305 seal {aead:>7.1} MiB/s, record hash: BLAKE3 {blake3:>7.1} MiB/s (format 2), blake2b-256 {blake2:>7.1} MiB/s (format 1) ({} KiB buffers)",
			size / KIB
		);
	}
	let costs = transport_costs(10 * MIB);
	let fsync = durable_write(dir.path(), 10 * MIB);
	let store_alone = store_upload(dir.path(), 10 * MIB);

	let ms = |d: Duration| d.as_secs_f64() * 1e3;
	let (upload, fetch) = large;
	let through = mib_per_s(2 * 10 * MIB, upload + fetch);
	println!(
		"report: | 10 MiB record: upload + fetch through a node, vs raw ChaCha20-Poly1305 (1 MiB buffers) | {through:.0} MiB/s vs {aead_1mib:.0} MiB/s = **{:.2}x** (upload {:.0} ms, fetch {:.0} ms) | target ≥ 0.5x; as the wallet does it: the upload starts with the hash its sealing computed, the fetch ends with the reader's hash check |",
		through / aead_1mib,
		ms(upload),
		ms(fetch)
	);
	println!(
		"report: | authorized 64 KiB read latency p50 / p99 at {rate} req/s | {:.2} ms / {:.2} ms ({served} served, {} errors) | target p99 ≤ 10 ms |",
		ms(percentile(&latencies, 0.50)),
		ms(percentile(&latencies, 0.99)),
		errors.lock().unwrap()
	);
	let part = |pick: fn(&UploadTimes) -> Duration| {
		let mut times: Vec<Duration> = large_parts.iter().map(pick).collect();
		times.sort();
		format!("{:.1} / {:.1} ms", ms(percentile(&times, 0.5)), ms(*times.last().unwrap_or(&Duration::ZERO)))
	};
	println!(
		"report: | a 10 MiB upload in its parts, median / max of {}, same run | the signed begin call {}; sending the body while the node writes its chunks {}; from the last byte sent to the acknowledgement (the chunks still in the socket buffers, the hash check, the synced write) {} | what the upload's time is made of |",
		large_parts.len(),
		part(|t| t.begin),
		part(|t| t.body),
		part(|t| t.acknowledged)
	);
	let (upload_json, fetch_json) = large_json;
	println!(
		"report: | the same 10 MiB over JSON-RPC only (base64 chunks), same run | upload {:.0} ms, fetch {:.0} ms = **{:.2}x** | the path the binary endpoint replaces |",
		ms(upload_json),
		ms(fetch_json),
		mib_per_s(2 * 10 * MIB, upload_json + fetch_json) / aead_1mib
	);
	println!(
		"report: | where a 10 MiB upload + fetch goes, same run | durable write of 10 MiB on this disk (write + fsync, median of 5) {:.1} ms, the node's store alone taking a 10 MiB upload in 1 MiB chunks and acknowledging it (no network, median of 9) {:.1} ms, BLAKE3 one pass {:.1} ms (blake2b, format 1: {:.1} ms), ChaCha20-Poly1305 one pass {:.1} ms; base64 encode + decode {:.1} ms and JSON {:.1} ms (JSON-RPC path only) | the binary path hashes once (while receiving) and waits for one synced write; the fsync is the floor of any acknowledged upload |",
		ms(fsync),
		ms(store_alone),
		ms(costs.blake3),
		ms(costs.blake2),
		ms(costs.aead),
		ms(costs.base64),
		ms(costs.json)
	);
	drop(node);
}
