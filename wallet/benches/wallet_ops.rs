//! What a patient waits for, with verified reads (docs/benchmarks.md, `scripts/bench.sh wallet`):
//! adding a 50-resource FHIR transaction Bundle (one action: uploads, one batch of registrations,
//! the manifest, the keys) and a `phr grant`, each timed as the `phr` process runs against a dev
//! node, the grant split into the time spent fetching and checking proofs and the rest (what an
//! unverified wallet would take).
//!
//!   cargo bench --workspace --profile release --bench wallet_ops

#[path = "../../node/tests/common/mod.rs"]
mod common;
#[path = "../src/fhir_samples.rs"]
mod fhir_samples;

use std::{process::Command, time::Instant};

use serde_json::Value;
use sp_core::crypto::Ss58Codec;
use sp_keyring::Sr25519Keyring;

const RUNS: usize = 3;

fn median(values: &mut [f64]) -> f64 {
	values.sort_by(f64::total_cmp);
	values[values.len() / 2]
}

fn main() {
	let dir = common::temp_dir("phr-bench-wallet-");
	let node = common::start_dev_node(dir.path());
	let url = format!("http://127.0.0.1:{}", node.rpc_port);
	let spec = common::raw_chain_spec("dev");
	let phr_bin = common::workspace_binary(None, "phr");
	// One `phr` run: its JSON answer, its wall time, and what it said about verification.
	let phr = |wallet: &str, args: &[&str]| -> (Value, f64, String) {
		let started = Instant::now();
		let out = Command::new(&phr_bin)
			.args(args)
			.args(["--json", "--quiet", "--wallet", dir.path().join(format!("{wallet}.json")).to_str().unwrap(), "--node", &url])
			.env("PHR_PASSPHRASE", "bench passphrase")
			.env("PHR_CHAIN_SPEC", &spec)
			.env("PHR_TIMING", "1")
			.output()
			.expect("phr runs");
		let seconds = started.elapsed().as_secs_f64();
		let stderr = String::from_utf8_lossy(&out.stderr).to_string();
		assert!(out.status.success(), "phr {args:?}: {stderr}");
		(serde_json::from_slice(&out.stdout).expect("JSON"), seconds, stderr)
	};
	let eve = Sr25519Keyring::Eve.to_account_id().to_ss58check();
	phr("alice", &["keys", "import", "//Alice"]);
	phr("alice", &["admin", "staff", &eve, "--roles", "physician", "--department", "cardiology", "--facility", "H1"]);
	for (name, suri) in [("bob", "//Bob"), ("eve", "//Eve")] {
		phr(name, &["keys", "import", suri]);
		phr(name, &["keys", "register"]);
	}

	let bundle = dir.path().join("transaction.json");
	std::fs::write(&bundle, fhir_samples::synthetic_bundle("transaction", 50).to_string()).unwrap();
	let mut adds = Vec::new();
	for _ in 0..RUNS {
		let (added, seconds, _) = phr("bob", &["record", "add", bundle.to_str().unwrap()]);
		assert_eq!(added["records"].as_array().map(Vec::len), Some(51));
		adds.push(seconds);
	}
	let shown: Vec<String> = adds.iter().map(|s| format!("{s:.1} s")).collect();
	println!("[bench] phr record add, a 50-resource transaction Bundle (51 records with its manifest): {} (median {:.1} s)", shown.join(", "), median(&mut adds));

	let (mut totals, mut verifying) = (Vec::new(), Vec::new());
	for _ in 0..RUNS {
		let (_, seconds, stderr) = phr("bob", &["grant", "--to", &eve, "--categories", "observation", "--expires", "1h"]);
		let ms = stderr
			.lines()
			.find_map(|l| l.strip_prefix("timing: "))
			.and_then(|l| l.split(", ").nth(1))
			.and_then(|v| v.strip_suffix(" ms verifying"))
			.and_then(|v| v.parse::<f64>().ok())
			.expect("phr reports its verification time");
		totals.push(seconds);
		verifying.push(ms);
	}
	let (total, verify) = (median(&mut totals), median(&mut verifying));
	println!(
		"[bench] phr grant (verified; it waits for finality, then wraps the data keys of the Bundles' observations): median {total:.2} s in all, of which {verify:.0} ms fetching and checking proofs; unverified it would take about {:.2} s",
		total - verify / 1e3
	);
	let (_, seconds, stderr) = phr("bob", &["grants"]);
	println!("[bench] phr grants (a verified read, no transaction): {:.0} ms in all ({})", seconds * 1e3, stderr.trim());
}
