//! Four `phr-node` validators of the local consortium on loopback: finality advances, survives one
//! validator being killed, and the restarted validator catches up.

mod common;

use common::*;
use std::time::Duration;

const HOSPITALS: [&str; 4] = ["Alice", "Bob", "Charlie", "Dave"];

fn node_key(hospital: usize) -> String {
	include_str!("../../scripts/local-node-keys")
		.lines()
		.find_map(|line| line.strip_prefix(&format!("H{hospital} ")))
		.expect("the key file lists every hospital")
		.trim()
		.to_string()
}

fn logs(nodes: &[Node]) -> String {
	nodes.iter().map(|n| format!("--- {}\n{}", n.name, n.log_tail())).collect::<Vec<_>>().join("\n")
}

fn min_finalized(nodes: &[Node]) -> u32 {
	nodes.iter().map(|n| n.finalized_height().unwrap_or(0)).min().unwrap_or(0)
}

#[test]
fn finality_survives_one_validator_down_and_it_catches_up() {
	let dir = temp_dir("phr-consortium-");
	let mut nodes: Vec<Node> = Vec::new();
	let mut peer_ids = Vec::new();
	for (i, validator) in HOSPITALS.iter().enumerate() {
		let base = dir.path().join(format!("h{}", i + 1));
		std::fs::create_dir_all(&base).unwrap();
		let key_file = base.join("node-key");
		std::fs::write(&key_file, node_key(i + 1)).unwrap();
		let (ok, peer_id, err) = run_node_command(&["key", "inspect-node-key", "--file", key_file.to_str().unwrap()]);
		assert!(ok, "inspect-node-key failed: {err}");
		peer_ids.push(peer_id.trim().to_string());
		for (key_type, scheme) in [("aura", "sr25519"), ("gran", "ed25519")] {
			let suri = format!("//{validator}");
			let (ok, _, err) = run_node_command(&[
				"key", "insert", "--chain", "local-consortium", "--base-path", base.to_str().unwrap(),
				"--key-type", key_type, "--scheme", scheme, "--suri", &suri,
			]);
			assert!(ok, "key insert failed: {err}");
		}
		nodes.push(Node::new(&format!("H{}", i + 1), &base));
	}
	let addresses: Vec<String> = nodes.iter().zip(&peer_ids).map(|(n, p)| n.multiaddr(p)).collect();
	for (i, node) in nodes.iter_mut().enumerate() {
		let mut args: Vec<String> = ["--chain", "local-consortium", "--validator", "--node-key-file"]
			.iter()
			.map(|s| s.to_string())
			.collect();
		args.push(node.base.join("node-key").to_string_lossy().into());
		args.push("--bootnodes".into());
		args.extend(addresses.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, a)| a.clone()));
		node.start(args);
	}

	let started = wait_until(Duration::from_secs(150), || min_finalized(&nodes) >= 5);
	assert!(started, "all four nodes should finalize block 5; logs:\n{}", logs(&nodes));

	// One of four validators down: the other three are more than two thirds, finality goes on.
	nodes[3].kill();
	let before = nodes[0].finalized_height().expect("H1 answers");
	let advanced = wait_until(Duration::from_secs(60), || nodes[0].finalized_height().unwrap_or(0) >= before + 5);
	assert!(advanced, "finality should advance with H4 down (was {before}); logs:\n{}", logs(&nodes));

	// H4 comes back and catches up with the others' finalized head.
	nodes[3].restart();
	let target = nodes[0].finalized_height().expect("H1 answers");
	let caught_up = wait_until(Duration::from_secs(90), || nodes[3].finalized_height().unwrap_or(0) >= target);
	assert!(caught_up, "H4 should catch up to block {target}; logs:\n{}", logs(&nodes));
	assert!(nodes.iter_mut().all(|n| n.is_running()), "every node is still running");
}
