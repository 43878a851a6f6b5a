//! Consortium throughput on the four-validator local network (real `phr-node` processes on
//! loopback, 2 s Aura slots, GRANDPA): first the latency from submitting a grant to seeing it
//! finalized, at a steady rate on the quiet network; then finalized `System::remark`s per second
//! (the chain's own floor), finalized `Access::grant`s per second, and finalized grants signed by
//! their patients and relayed in `Access::grant_batch`es per second, in the same run. Run by
//! `scripts/bench.sh` (`cargo bench --workspace --profile release --bench chain_throughput`).
//!
//! The load: `PHR_BENCH_PATIENTS` patients (onboarded in genesis, spread over H1..H4), each
//! submitting through its own hospital's node, the throughput phases pre-signed before the clock
//! starts and sent in JSON-RPC batches. A phase's rate is its extrinsic count over the time from
//! its first submission until the watcher (polling H1 every 100 ms) sees the last of them in a
//! finalized block. Lines starting `report:` are what scripts/bench.sh writes to
//! docs/benchmarks.md.

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
	collections::{BTreeMap, HashMap},
	time::{Duration, Instant},
};

use common::{load::*, *};
use sp_core::H256;
use sp_keyring::Sr25519Keyring::{Alice, Bob, Charlie, Dave};

struct Phase {
	count: usize,
	submitted_in: Duration,
	accepted: usize,
	finalized: usize,
	elapsed: Duration,
	blocks: usize,
	max_per_block: usize,
}

impl Phase {
	fn rate(&self) -> f64 {
		self.finalized as f64 / self.elapsed.as_secs_f64()
	}
}

/// Submits every hospital's extrinsics through its own node (four threads), then follows H1's
/// finalized chain until all accepted ones are in, or nothing new is finalized for 60 s.
fn run_phase(nodes: &[Node], per_node: Vec<Vec<Vec<u8>>>) -> Phase {
	let count = per_node.iter().map(Vec::len).sum();
	let wanted: Vec<H256> = per_node.iter().flatten().map(|x| extrinsic_hash(x)).collect();
	let mut watcher = FinalityWatcher::from_now(&nodes[0]);
	let start = Instant::now();
	let ports: Vec<u16> = nodes.iter().map(|n| n.rpc_port).collect();
	let senders: Vec<_> = per_node
		.into_iter()
		.enumerate()
		.map(|(k, extrinsics)| {
			// Its own hospital's node first, the others for retries.
			let mut ports = ports.clone();
			ports.rotate_left(k);
			std::thread::spawn(move || {
				let (accepted, refusals) = submit_all(&ports, &extrinsics, 256);
				if !refusals.is_empty() {
					eprintln!("H{} and the others still refused some extrinsics after 5 tries, e.g. {}", k + 1, refusals[0]);
				}
				accepted
			})
		})
		.collect();
	let accepted: usize = senders.into_iter().map(|s| s.join().unwrap()).sum();
	let submitted_in = start.elapsed();
	let mut last_progress = Instant::now();
	let mut finalized = 0;
	while finalized < accepted && last_progress.elapsed() < Duration::from_secs(60) {
		std::thread::sleep(Duration::from_millis(100));
		watcher.poll(&nodes[0]);
		let now = wanted.iter().filter(|h| watcher.included.contains_key(h)).count();
		if now > finalized {
			finalized = now;
			last_progress = Instant::now();
		}
	}
	if finalized < accepted {
		let missing: Vec<H256> = wanted.iter().filter(|h| !watcher.included.contains_key(h)).copied().collect();
		eprintln!(
			"{} accepted extrinsics not finalized after 60 s without progress; still in the pools of H1..H4: {:?}",
			accepted - finalized,
			pooled(nodes, &missing)
		);
	}
	let last_seen = wanted.iter().filter_map(|h| watcher.included.get(h)).map(|(_, t)| *t).max().unwrap_or(start);
	let per_block: HashMap<u32, usize> = wanted.iter().filter_map(|h| watcher.included.get(h)).fold(HashMap::new(), |mut m, (b, _)| {
		*m.entry(*b).or_default() += 1;
		m
	});
	Phase {
		count,
		submitted_in,
		accepted,
		finalized,
		elapsed: last_seen - start,
		blocks: per_block.len(),
		max_per_block: per_block.values().copied().max().unwrap_or(0),
	}
}

/// How many extrinsics like `extrinsic` (SCALE-encoded, signed) the runtime's weights admit in one
/// block: the normal class's room over the call's weight, its transaction extensions' weight
/// (nonce, rate window: storage reads and writes) and the base weight of any extrinsic.
fn per_block_by_weight(extrinsic: &[u8]) -> u64 {
	use codec::Decode;
	use frame_support::dispatch::{DispatchClass, GetDispatchInfo};
	let extrinsic = phr_runtime::UncheckedExtrinsic::decode(&mut &extrinsic[..]).expect("our own extrinsic decodes");
	let weights = phr_runtime::configs::RuntimeBlockWeights::get();
	let normal = weights.get(DispatchClass::Normal);
	let each = extrinsic.get_dispatch_info().total_weight() + normal.base_extrinsic;
	let room = normal.max_total.unwrap_or(weights.max_block);
	room.ref_time() / each.ref_time()
}

fn describe(name: &str, phase: &Phase) {
	println!(
		"{name}: {} signed, {} accepted by the pools (submitted in {:.1} s, {:.0}/s), {} finalized in {:.1} s = {:.0}/s, \
		 over {} blocks, at most {} in one block",
		phase.count,
		phase.accepted,
		phase.submitted_in.as_secs_f64(),
		phase.accepted as f64 / phase.submitted_in.as_secs_f64(),
		phase.finalized,
		phase.elapsed.as_secs_f64(),
		phase.rate(),
		phase.blocks,
		phase.max_per_block
	);
}

/// Why the validators' block authoring ended each block they proposed, counted from their logs
/// (sc-basic-authorship logs `end: <reason>` for every proposal, and exports the same count to
/// Prometheus as `substrate_proposer_end_proposal_reason`).
fn end_reasons(nodes: &[Node]) -> BTreeMap<String, usize> {
	let mut reasons = BTreeMap::new();
	for node in nodes {
		let log = std::fs::read_to_string(node.base.with_extension("log")).unwrap_or_default();
		for line in log.lines().filter(|l| l.contains("Prepared block for proposing")) {
			if let Some(reason) = line.split("; end: ").nth(1).and_then(|rest| rest.split(';').next()) {
				*reasons.entry(reason.trim().to_string()).or_default() += 1;
			}
		}
	}
	reasons
}

/// The reasons counted in `after` and not yet in `before`, as `reason n, ...`.
fn reasons_between(before: &BTreeMap<String, usize>, after: &BTreeMap<String, usize>) -> String {
	let parts: Vec<String> = after
		.iter()
		.filter_map(|(reason, n)| {
			let new = n - before.get(reason).copied().unwrap_or(0);
			(new > 0).then(|| format!("{reason} {new}"))
		})
		.collect();
	if parts.is_empty() {
		"none".into()
	} else {
		parts.join(", ")
	}
}

/// The resident memory of the validator that holds the most, in MiB.
fn largest_rss(nodes: &[Node]) -> f64 {
	nodes.iter().filter_map(Node::rss_mib).fold(0.0, f64::max)
}

fn main() {
	let patients_n: u32 = env_or("PHR_BENCH_PATIENTS", 512);
	let per_patient: u32 = env_or("PHR_BENCH_PER_PATIENT", 24);
	let latency_rate: u64 = env_or("PHR_BENCH_LATENCY_RATE", 50);
	let latency_seconds: u64 = env_or("PHR_BENCH_LATENCY_SECONDS", 20);
	// PHR_BENCH_NODE_ARGS: more phr-node arguments for the four validators (e.g. a pool type).
	assert!(per_patient <= 100, "a patient holds at most 128 grants, the latency phase adds some");
	assert!(latency_rate * latency_seconds <= 20 * patients_n as u64, "at most 20 latency grants per patient");

	let dir = temp_dir("phr-bench-chain-");
	let patients: Vec<_> = (0..patients_n).map(patient).collect();
	let spec = spec_with_patients(dir.path(), &patients);
	// Pools large enough to hold a whole phase.
	let mut node_args = vec!["--pool-limit", "100000", "--pool-kbytes", "512000"];
	let extra = std::env::var("PHR_BENCH_NODE_ARGS").unwrap_or_default();
	node_args.extend(extra.split_whitespace());
	let nodes = start_consortium(dir.path(), spec.to_str().unwrap(), &node_args);
	assert!(wait_until(Duration::from_secs(150), || min_finalized(&nodes) >= 3), "finality; logs:\n{}", logs(&nodes));
	// Idle: the network finalizes and nothing is submitted yet.
	std::thread::sleep(Duration::from_secs(10));
	let idle_rss = largest_rss(&nodes);
	let chain = ChainContext::of(&nodes[0]);
	println!(
		"chain throughput: 4 validators on loopback, {} cores, {patients_n} patients x {per_patient} extrinsics per phase",
		std::thread::available_parallelism().map_or(1, |n| n.get())
	);

	// Latency first, on the quiet network: one grant every 1/rate s, patients in turn, each through
	// its hospital's node (another node if refused).
	let total = (latency_rate * latency_seconds) as usize;
	let mut watcher = FinalityWatcher::from_now(&nodes[0]);
	let interval = Duration::from_secs_f64(1.0 / latency_rate as f64);
	let mut sent: Vec<(H256, Instant)> = Vec::with_capacity(total);
	let start = Instant::now();
	let mut next_poll = start;
	for j in 0..total {
		let slot = start + interval.mul_f64(j as f64);
		if let Some(wait) = slot.checked_duration_since(Instant::now()) {
			std::thread::sleep(wait);
		}
		let i = j % patients.len();
		let nonce = (j / patients.len()) as u32;
		let extrinsic = chain.signed_by(grant_call(account(&patients[i]), Alice.to_account_id()), &patients[i], nonce);
		let at = Instant::now();
		let submitted = (0..4).any(|k| {
			nodes[(i + k) % 4].rpc("author_submitExtrinsic", serde_json::json!([to_hex(&extrinsic)])).is_ok()
		});
		if submitted {
			sent.push((extrinsic_hash(&extrinsic), at));
		}
		if Instant::now() >= next_poll {
			watcher.poll(&nodes[0]);
			next_poll = Instant::now() + Duration::from_millis(50);
		}
	}
	let all_in = wait_until(Duration::from_secs(60), || {
		watcher.poll(&nodes[0]);
		watcher.contains_all(sent.iter().map(|(h, _)| h))
	});
	let mut latencies: Vec<Duration> =
		sent.iter().filter_map(|(h, at)| watcher.included.get(h).map(|(_, seen)| seen.saturating_duration_since(*at))).collect();
	latencies.sort();
	assert!(!latencies.is_empty(), "no grant of the latency phase was finalized; logs:\n{}", logs(&nodes));
	let ms = |d: Duration| d.as_secs_f64() * 1e3;
	println!(
		"grant -> finalized at {latency_rate}/s for {latency_seconds} s: {} of {} finalized{}, p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms \
		 (watcher polls every 50 ms)",
		latencies.len(),
		total,
		if all_in { "" } else { " (some never)" },
		ms(percentile(&latencies, 0.50)),
		ms(percentile(&latencies, 0.95)),
		ms(*latencies.last().unwrap())
	);

	// Throughput: everything signed before the clock starts; remarks take each patient's next
	// nonces (after whatever the latency phase got in), grants the ones after those. Patient i
	// submits through hospital i % 4's node.
	let next_nonce: Vec<u32> = patients
		.iter()
		.map(|p| {
			let next = nodes[0].rpc("system_accountNextIndex", serde_json::json!([account(p).to_string()]));
			next.ok().and_then(|n| n.as_u64()).expect("the patient's next nonce") as u32
		})
		.collect();
	let latency_nonces = |i: usize| next_nonce[i];
	let signing = Instant::now();
	let sign_phase = |first_nonce: &dyn Fn(usize) -> u32, call: &dyn Fn(usize, u32) -> phr_runtime::RuntimeCall| {
		let mut per_node: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 4];
		for k in 0..per_patient {
			for (i, pair) in patients.iter().enumerate() {
				per_node[i % 4].push(chain.signed_by(call(i, k), pair, first_nonce(i) + k));
			}
		}
		per_node
	};
	let remarks = sign_phase(&latency_nonces, &|i, k| remark_call((i as u64) << 32 | k as u64));
	let grants = sign_phase(&|i| latency_nonces(i) + per_patient, &|i, _| {
		grant_call(account(&patients[i]), Alice.to_account_id())
	});
	println!("signed {} extrinsics in {:.1} s", 2 * per_patient * patients_n, signing.elapsed().as_secs_f64());

	std::thread::sleep(Duration::from_secs(4));
	let before_remarks = end_reasons(&nodes);
	let remark_phase = run_phase(&nodes, remarks);
	describe("System::remark", &remark_phase);
	let after_remarks = end_reasons(&nodes);
	println!("blocks proposed during the remark phase ended by: {}", reasons_between(&before_remarks, &after_remarks));
	std::thread::sleep(Duration::from_secs(6));
	let before_grants = end_reasons(&nodes);
	let grant_phase = run_phase(&nodes, grants);
	describe("Access::grant", &grant_phase);
	let grant_reasons = reasons_between(&before_grants, &end_reasons(&nodes));
	println!("blocks proposed during the grant phase ended by: {grant_reasons}");

	// Batched: the same number of grants, each signed by its patient (relay nonces 0..), relayed
	// by the four hospitals' admins in `Access::grant_batch`es of PHR_BENCH_BATCH, each patient's
	// grants by its own hospital's admin in nonce order. Counted as the items applied in the
	// finalized batches (every patient's grants checked afterwards).
	let batch_size: usize = env_or("PHR_BENCH_BATCH", 256);
	std::thread::sleep(Duration::from_secs(6));
	let valid_until = nodes[0].finalized_height().unwrap_or(0) + 1_200;
	let relayers = [Alice, Bob, Charlie, Dave];
	let signing = Instant::now();
	let mut batches: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 4];
	for (h, relayer) in relayers.iter().enumerate() {
		let mut items = Vec::new();
		for k in 0..per_patient {
			for (_, pair) in patients.iter().enumerate().filter(|(i, _)| i % 4 == h) {
				items.push(signed_grant(pair, Alice.to_account_id(), k, valid_until, chain.genesis));
			}
		}
		let first = nodes[h]
			.rpc("system_accountNextIndex", serde_json::json!([relayer.to_account_id().to_string()]))
			.ok()
			.and_then(|n| n.as_u64())
			.expect("the relayer's next nonce") as u32;
		for (j, chunk) in items.chunks(batch_size).enumerate() {
			let items = chunk.to_vec().try_into().expect("PHR_BENCH_BATCH at most MaxGrantBatch");
			let call = phr_runtime::RuntimeCall::Access(pallet_access::Call::grant_batch { items });
			batches[h].push(chain.signed(call, *relayer, first + j as u32));
		}
	}
	let items_total = per_patient as usize * patients.len();
	println!("signed {items_total} relayed grants in {} batches in {:.1} s", batches.iter().map(Vec::len).sum::<usize>(), signing.elapsed().as_secs_f64());
	let before_batches = end_reasons(&nodes);
	let batch_phase = run_phase(&nodes, batches);
	let batch_reasons = reasons_between(&before_batches, &end_reasons(&nodes));
	describe("Access::grant_batch (extrinsics)", &batch_phase);
	// Every patient's grants: what the phases before left, plus its relayed ones.
	let at = nodes[0].rpc("chain_getFinalizedHead", serde_json::json!([])).expect("finalized head");
	let applied: usize = patients
		.iter()
		.map(|p| {
			let key = pallet_access::RelayNonce::<phr_runtime::Runtime>::hashed_key_for(account(p));
			let stored = nodes[0].rpc("state_getStorage", serde_json::json!([to_hex(&key), at])).expect("state_getStorage");
			let bytes = stored.as_str().map(|h| hex::decode(h.trim_start_matches("0x")).expect("hex")).unwrap_or_default();
			<u32 as codec::Decode>::decode(&mut &bytes[..]).unwrap_or(0) as usize
		})
		.sum();
	let batch_rate = applied as f64 / batch_phase.elapsed.as_secs_f64();
	println!(
		"relayed grants: {applied} of {items_total} signed grants used (relay nonces), {:.0} finalized grants/s in batches of {batch_size}; \
		 blocks ended by: {batch_reasons}",
		batch_rate
	);

	let ratio = grant_phase.rate() / remark_phase.rate();
	let grant_cap = per_block_by_weight(&chain.signed_by(grant_call(account(&patients[0]), Alice.to_account_id()), &patients[0], 0));
	let remark_cap = per_block_by_weight(&chain.signed_by(remark_call(0), &patients[0], 0));
	println!("the runtime's weights admit {grant_cap} grants or {remark_cap} remarks in one block (normal class)");
	// Idle again, after the load: what the nodes keep (caches, pools emptied).
	std::thread::sleep(Duration::from_secs(10));
	let after_rss = largest_rss(&nodes);
	let rss: Vec<String> = nodes.iter().map(|n| format!("{} {:.0} MiB", n.name, n.rss_mib().unwrap_or(f64::NAN))).collect();
	println!("resident memory, idle after the load: {}", rss.join(", "));
	println!("report: | finalized `Access::grant`s per second, 4 validators | {:.0} /s | target ≥ 2,000 /s |", grant_phase.rate());
	println!(
		"report: | finalized patient-signed grants per second relayed in `Access::grant_batch`es of {batch_size}, same run | {batch_rate:.0} /s | target ≥ 2,000 /s; single grants above |"
	);
	println!("report: | finalized `System::remark`s per second, same run (the floor) | {:.0} /s | grants/remarks = {ratio:.2} |", remark_phase.rate());
	println!(
		"report: | most extrinsics in one block (grants / remarks) | {} / {} | the weights admit {grant_cap} / {remark_cap} per 2 s block: at most {} grants/s |",
		grant_phase.max_per_block,
		remark_phase.max_per_block,
		grant_cap / 2
	);
	println!(
		"report: | pool intake while submitting (grants / remarks) | {:.0} /s / {:.0} /s | JSON-RPC batches of 256, 4 nodes |",
		grant_phase.accepted as f64 / grant_phase.submitted_in.as_secs_f64(),
		remark_phase.accepted as f64 / remark_phase.submitted_in.as_secs_f64()
	);
	println!(
		"report: | grant → finalized latency p50 / p95 at {latency_rate} grants/s | {:.0} ms / {:.0} ms | target p95 ≤ 5,000 ms (two 2 s blocks + 1 s) |",
		ms(percentile(&latencies, 0.50)),
		ms(percentile(&latencies, 0.95))
	);
	println!(
		"report: | accepted extrinsics never finalized (remarks / grants; 60 s without progress ends a phase) | {} / {} of {} / {} accepted | target 0 |",
		remark_phase.accepted.saturating_sub(remark_phase.finalized),
		grant_phase.accepted.saturating_sub(grant_phase.finalized),
		remark_phase.accepted,
		grant_phase.accepted
	);
	println!(
		"report: | resident memory of the largest validator, idle before / after the load | {idle_rss:.0} MiB / {after_rss:.0} MiB | target idle ≤ 300 MB (286 MiB) |"
	);
	println!("report: | why the blocks proposed during the grant phase ended (all four validators' logs) | {grant_reasons} | |");
	drop(nodes);
	// PHR_BENCH_KEEP_STATE=<dir>: H1's database as the load left it, and the chain spec, for
	// `phr-node benchmark storage` (scripts/measure-weights.sh). The nodes are stopped first.
	if let Ok(keep) = std::env::var("PHR_BENCH_KEEP_STATE") {
		let keep = std::path::PathBuf::from(keep);
		std::fs::create_dir_all(&keep).expect("the directory to keep the state in");
		let copied = std::process::Command::new("cp")
			.args(["-a", dir.path().join("h1").to_str().unwrap(), keep.to_str().unwrap()])
			.status()
			.is_ok_and(|s| s.success());
		assert!(copied, "H1's database copied to {}", keep.display());
		std::fs::copy(&spec, keep.join("spec.json")).expect("the chain spec copied");
		println!("H1's database after the load kept in {} (chain spec: spec.json)", keep.display());
	}
}
