//! The consortium demo end to end, as the README's main command runs it: four `phr-node` validators
//! of the local consortium (H1..H4), then `scripts/demo.sh` driving the real `phr` wallet against
//! them. Every step must report ok, and what each step reports must be what the story says: the
//! record read at H2 after the grant, refused after the revocation, read by break-glass at H3, and
//! both reads anchored and verified in the auditor's trail.

#[path = "../../node/tests/common/mod.rs"]
mod common;

use std::{path::Path, process::Command, time::Duration};

use common::{logs, min_finalized, start_local_consortium, temp_dir, wait_until, workspace_binary};

const STEPS: usize = 9;

#[test]
fn demo_runs_every_step_on_four_hospitals() {
	let dir = temp_dir("phr-demo-test-");
	let nodes = start_local_consortium(dir.path());
	let started = wait_until(Duration::from_secs(150), || min_finalized(&nodes) >= 2);
	assert!(started, "the four hospitals should finalize; logs:\n{}", logs(&nodes));

	let urls: Vec<String> = nodes.iter().map(|n| format!("http://127.0.0.1:{}", n.rpc_port)).collect();
	let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/demo.sh");
	let out = Command::new("bash")
		.arg(&script)
		.env("PHR_DEMO_NODES", urls.join(","))
		.env("PHR_DEMO_DIR", dir.path().join("wallets"))
		.env("PHR_BIN", workspace_binary(option_env!("CARGO_BIN_EXE_phr"), "phr"))
		.output()
		.expect("bash runs the demo");
	let stdout = String::from_utf8_lossy(&out.stdout);
	let stderr = String::from_utf8_lossy(&out.stderr);
	let report = format!("demo stdout:\n{stdout}\ndemo stderr:\n{stderr}\nnode logs:\n{}", logs(&nodes));
	assert!(out.status.success(), "the demo should succeed; {report}");

	// Every step announced and reported ok, in order, and the summary line.
	let ok_line = |step: usize| -> &str {
		let prefix = format!("[demo {step}] ok: ");
		stdout
			.lines()
			.find_map(|l| l.strip_prefix(prefix.as_str()))
			.unwrap_or_else(|| panic!("step {step} should report ok; {report}"))
	};
	for step in 1..=STEPS {
		ok_line(step);
	}
	assert!(!stdout.contains(&format!("[demo {}]", STEPS + 1)), "exactly {STEPS} steps; {report}");
	assert!(stdout.contains(&format!("[demo] all {STEPS} steps ok")), "{report}");
	assert!(!stderr.contains("FAILED"), "{report}");

	// What the steps report is the story's outcome, not just "ok".
	assert!(ok_line(1).starts_with("seven wallets"), "{report}");
	// Step 3 names the observation's record id; the revocation must have re-keyed that record.
	let record = ok_line(3)
		.split("; record ")
		.nth(1)
		.and_then(|rest| rest.strip_suffix(" is the observation"))
		.and_then(|id| id.parse::<u64>().ok())
		.unwrap_or_else(|| panic!("step 3 names the record; {report}"));
	let grant = ok_line(4).strip_prefix("grant ").and_then(|rest| rest.split(',').next()).map(str::parse::<u64>);
	assert!(matches!(grant, Some(Ok(_))) && ok_line(4).ends_with("data key wrapped for Ferdie"), "step 4; {report}");
	assert!(ok_line(5).contains("equals Eve's observation"), "{report}");
	let rekeyed = ok_line(6).split("re-keyed records ").nth(1).unwrap_or_default();
	let rekeyed: Vec<u64> = serde_json::from_str(rekeyed).unwrap_or_else(|e| panic!("step 6 lists the re-keyed records ({e}); {report}"));
	assert!(rekeyed.contains(&record), "record {record} re-keyed on revocation; {report}");
	let refused = ok_line(7);
	assert!(refused.starts_with("refused: ") && refused.to_lowercase().contains("denied"), "step 7: {refused}; {report}");
	assert!(ok_line(8).starts_with("read with basis Emergency("), "step 8; {report}");
	let audit = ok_line(9);
	assert!(audit.contains("receipts verified") && !audit.starts_with("0 "), "step 9: {audit}; {report}");
}
