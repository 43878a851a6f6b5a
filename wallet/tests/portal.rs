//! The web portal end to end in real headless Chromium: four `phr-node` validators of the local
//! consortium, `phr portal` serving the built `web/dist`, and `web/tests/e2e.mjs` (playwright-core
//! driving Debian's chromium) playing a patient, a hospital admin and a physician in three browser
//! contexts, with the `phr` CLI beside them for the interop checks. Every step must report ok.
//!
//! Needs what `scripts/setup.sh` installs: Node.js with `web/node_modules`, the built portal and
//! /usr/bin/chromium (`scripts/test.sh` builds the portal before the cargo tests).

#[path = "../../node/tests/common/mod.rs"]
mod common;

use std::{
	path::Path,
	process::{Child, Command, Stdio},
	time::Duration,
};

use common::{free_port, logs, min_finalized, start_local_consortium, temp_dir, wait_until, workspace_binary};

struct Portal(Child);

impl Drop for Portal {
	fn drop(&mut self) {
		let _ = self.0.kill();
		let _ = self.0.wait();
	}
}

#[test]
fn a_patient_and_a_physician_use_the_portal_in_chromium() {
	let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
	assert!(
		web.join("dist/index.html").is_file() && web.join("node_modules/playwright-core").is_dir(),
		"the portal is not built: run scripts/test.sh (it runs `npm ci` and `npm run build` in web/)"
	);
	let dir = temp_dir("phr-portal-test-");
	let nodes = start_local_consortium(dir.path());
	let started = wait_until(Duration::from_secs(150), || min_finalized(&nodes) >= 2);
	assert!(started, "the four hospitals should finalize; logs:\n{}", logs(&nodes));

	let phr = workspace_binary(option_env!("CARGO_BIN_EXE_phr"), "phr");
	let port = free_port();
	let ws: Vec<String> = nodes.iter().map(|n| format!("ws://127.0.0.1:{}", n.rpc_port)).collect();
	let _portal = Portal(
		Command::new(&phr)
			.args(["portal", "--dir", web.join("dist").to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
			.args(["--nodes", &ws.join(",")])
			// The root of trust the browser verifies its chain reads from (docs/verified-reads.md).
			.env("PHR_CHAIN_SPEC", common::raw_chain_spec("local-consortium"))
			.env("PHR_WALLET", dir.path().join("portal-server.json"))
			.stdout(Stdio::null())
			.spawn()
			.expect("phr portal starts"),
	);
	let url = format!("http://127.0.0.1:{port}/");
	let up = wait_until(Duration::from_secs(20), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
	assert!(up, "phr portal should listen on {url}");

	let http: Vec<String> = nodes.iter().map(|n| format!("http://127.0.0.1:{}", n.rpc_port)).collect();
	let mut command = Command::new("node");
	command
		.arg(web.join("tests/e2e.mjs"))
		.env("PHR_PORTAL_URL", &url)
		.env("PHR_NODES", http.join(","))
		.env("PHR_BIN", &phr)
		// The root of trust the CLI checks its chain reads against (docs/verified-reads.md).
		.env("PHR_CHAIN_SPEC", common::raw_chain_spec("local-consortium"))
		.env("PHR_E2E_DIR", dir.path().join("e2e"));
	if let Ok(shots) = std::env::var("PHR_SCREENSHOTS") {
		command.env("PHR_SCREENSHOTS", shots);
	}
	let out = command.output().expect("node runs the portal's end-to-end script");
	let stdout = String::from_utf8_lossy(&out.stdout);
	let stderr = String::from_utf8_lossy(&out.stderr);
	// Each step's line, for `--nocapture`.
	println!("{stdout}");
	let report = format!("e2e stdout:\n{stdout}\ne2e stderr:\n{stderr}\nnode logs:\n{}", logs(&nodes));
	assert!(out.status.success(), "the portal's end-to-end run should succeed; {report}");
	assert!(stdout.contains("[portal] all 12 steps ok"), "{report}");
	assert!(!stdout.contains("FAILED"), "{report}");
}
