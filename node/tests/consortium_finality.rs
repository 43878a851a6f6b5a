//! Four `phr-node` validators of the local consortium on loopback: finality advances, survives one
//! validator being killed, and the restarted validator catches up.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn finality_survives_one_validator_down_and_it_catches_up() {
	let dir = temp_dir("phr-consortium-");
	let mut nodes = start_local_consortium(dir.path());
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
