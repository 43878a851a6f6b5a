//! Bad command lines get one clear line on stderr and a non-zero exit, never a panic trace.

mod common;

use common::*;

fn assert_one_line_error(args: &[&str], expected: &str) {
	let (ok, _, stderr) = run_node_command(args);
	assert!(!ok, "phr-node {args:?} should fail");
	assert!(!stderr.contains("panicked"), "no panic for {args:?}:\n{stderr}");
	// Exactly one error line (a node's shutdown may still log a line or two after it).
	let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("Error: ")).collect();
	assert_eq!(errors.len(), 1, "one line names the error for {args:?}:\n{stderr}");
	assert!(errors[0].contains(expected), "expected '{expected}' in '{}'", errors[0]);
}

#[test]
fn unknown_chain_name_is_a_clear_error() {
	assert_one_line_error(&["build-spec", "--chain", "mainnet-h9"], "unknown chain 'mainnet-h9'");
}

#[test]
fn missing_chain_spec_file_is_a_clear_error() {
	assert_one_line_error(&["build-spec", "--chain", "/nonexistent/phr-spec.json"], "neither one of");
}

#[test]
fn malformed_chain_spec_is_a_clear_error() {
	let dir = temp_dir("phr-spec-");
	let spec = dir.path().join("broken.json");
	std::fs::write(&spec, b"{ \"name\": \"half a spec\", ").unwrap();
	assert_one_line_error(&["build-spec", "--chain", spec.to_str().unwrap()], "is not a valid chain spec");
}

#[test]
fn validator_without_keys_refuses_to_start() {
	let dir = temp_dir("phr-nokeys-");
	let base = dir.path().to_str().unwrap();
	let rpc = free_port().to_string();
	let p2p = free_port().to_string();
	assert_one_line_error(
		&["--chain", "local-consortium", "--validator", "--base-path", base, "--rpc-port", &rpc, "--port", &p2p, "--no-mdns",
		  "--node-key", "0000000000000000000000000000000000000000000000000000000000000001"],
		"keystore has no aura (sr25519) and no gran (ed25519) key",
	);
}

#[test]
fn benchmarks_in_the_plain_build_name_the_build_that_has_them() {
	// The plain node carries no benchmarking code (docs/toolchain.md): it says where it is.
	assert_one_line_error(&["benchmark", "pallet", "--pallet", "pallet_access", "--extrinsic", "*"], "--features runtime-benchmarks");
	assert_one_line_error(&["benchmark", "--help"], "scripts/benchmark.sh");
}
