//! `phr portal`: serves the web portal (the static build of `web/`) on the user's own machine.
//!
//! The portal is served by the wallet, not by a hospital's node: the JavaScript that holds a
//! patient's keys must come from a source the patient trusts (their own machine, or a static host
//! they chose), never from one member hospital that might be dishonest. The browser then talks to
//! the nodes directly over their WebSocket JSON-RPC; this server only hands out files and the list
//! of nodes (`/config.json`), and sets a strict Content-Security-Policy whose `connect-src` names
//! exactly those nodes, so a page cannot send anything anywhere else.

use std::{
	io::{Read, Write},
	net::{SocketAddr, TcpListener, TcpStream},
	path::{Component, Path, PathBuf},
	sync::{
		atomic::{AtomicUsize, Ordering},
		Arc,
	},
	time::Duration,
};

use serde_json::json;

use crate::error::{Result, WalletError};

/// What the server knows: the built portal's folder and the nodes the portal may talk to.
struct Site {
	root: PathBuf,
	config: Vec<u8>,
	csp: String,
}

/// One node the portal offers: a name (H1), its WebSocket RPC address and, once asked, its binary
/// endpoint (`http://host:port`, ciphertext as raw bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalNode {
	pub name: String,
	pub url: String,
	pub blob: Option<String>,
}

impl PortalNode {
	/// Asks the node (over its RPC as plain HTTP) where its binary endpoint is. A node that is
	/// down, speaks TLS or runs none is left on JSON-RPC: the page then sends base64 chunks.
	fn learn_binary_endpoint(&mut self) {
		let Some(rest) = self.url.strip_prefix("ws://") else { return };
		let endpoint = crate::client::Node::connect(&format!("http://{rest}")).and_then(|node| node.binary());
		self.blob = endpoint.ok().flatten().map(|endpoint| format!("http://{}", endpoint.0));
	}
}

/// `H1=ws://127.0.0.1:9944` or a bare address (named H<n> by position); http(s) becomes ws(s).
pub fn parse_nodes(list: &[String]) -> Result<Vec<PortalNode>> {
	list.iter()
		.enumerate()
		.map(|(i, item)| {
			let (name, url) = match item.split_once('=') {
				Some((name, url)) => (name.to_string(), url.to_string()),
				None => (format!("H{}", i + 1), item.clone()),
			};
			let url = if let Some(rest) = url.strip_prefix("http://") {
				format!("ws://{rest}")
			} else if let Some(rest) = url.strip_prefix("https://") {
				format!("wss://{rest}")
			} else {
				url
			};
			let valid = (url.starts_with("ws://") || url.starts_with("wss://")) &&
				!url.contains(|c: char| c.is_whitespace() || c == ';' || c == ',' || c == '\'' || c == '"');
			if !valid || name.is_empty() {
				return Err(WalletError::Usage(format!("'{item}' is not a node address: give ws://host:port (or NAME=ws://host:port)")));
			}
			Ok(PortalNode { name, url, blob: None })
		})
		.collect()
}

/// The policy every response carries: scripts, styles and images only from this server (plus
/// WebAssembly compilation, which the sr25519 signer needs), connections only to the nodes.
fn content_security_policy(nodes: &[PortalNode]) -> String {
	let connect: Vec<&str> = nodes.iter().flat_map(|n| std::iter::once(n.url.as_str()).chain(n.blob.as_deref())).collect();
	format!(
		"default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; \
		 font-src 'self'; connect-src 'self' {}; worker-src 'self' blob:; base-uri 'none'; form-action 'none'; \
		 frame-ancestors 'none'",
		connect.join(" ")
	)
}

fn content_type(path: &Path) -> &'static str {
	match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
		"html" => "text/html; charset=utf-8",
		"js" | "mjs" => "text/javascript; charset=utf-8",
		"css" => "text/css; charset=utf-8",
		"json" => "application/json",
		"svg" => "image/svg+xml",
		"png" => "image/png",
		"wasm" => "application/wasm",
		"ico" => "image/x-icon",
		"txt" => "text/plain; charset=utf-8",
		_ => "application/octet-stream",
	}
}

/// The file a request path names inside `root`, or `None` for anything that would leave it.
fn resolve(root: &Path, request_path: &str) -> Option<PathBuf> {
	let relative = request_path.trim_start_matches('/');
	let mut path = root.to_path_buf();
	for component in Path::new(relative).components() {
		match component {
			Component::Normal(part) => path.push(part),
			Component::CurDir => {},
			_ => return None,
		}
	}
	if relative.is_empty() {
		path.push("index.html");
	}
	Some(path)
}

/// Connections served at once; more wait in the listen queue.
const MAX_CONNECTIONS: usize = 64;
/// The longest request head read (a GET for a file needs far less).
const MAX_HEAD: usize = 16 * 1024;

/// The status line, headers and body of one response.
fn respond(site: &Site, stream: &mut TcpStream, status: &str, kind: &str, body: &[u8], head_only: bool) -> std::io::Result<()> {
	let head = format!(
		"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nContent-Security-Policy: {}\r\n\
		 X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nCross-Origin-Opener-Policy: same-origin\r\n\
		 Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
		body.len(),
		site.csp
	);
	stream.write_all(head.as_bytes())?;
	if !head_only {
		stream.write_all(body)?;
	}
	stream.flush()
}

/// Reads the request head (up to the blank line) and answers one GET or HEAD.
fn handle(site: &Site, mut stream: TcpStream) -> std::io::Result<()> {
	stream.set_read_timeout(Some(Duration::from_secs(10)))?;
	stream.set_write_timeout(Some(Duration::from_secs(30)))?;
	let mut head = Vec::with_capacity(1024);
	let mut buf = [0u8; 2048];
	while !head.windows(4).any(|w| w == b"\r\n\r\n") {
		let n = stream.read(&mut buf)?;
		if n == 0 {
			return Ok(());
		}
		head.extend_from_slice(&buf[..n]);
		if head.len() > MAX_HEAD {
			return respond(site, &mut stream, "431 Request Header Fields Too Large", "text/plain", b"request head too large\n", false);
		}
	}
	let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
	let line = String::from_utf8_lossy(line);
	let mut parts = line.split(' ');
	let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
	let head_only = method == "HEAD";
	if method != "GET" && !head_only {
		return respond(site, &mut stream, "405 Method Not Allowed", "text/plain", b"only GET\n", false);
	}
	let path = target.split(['?', '#']).next().unwrap_or("/");
	if path == "/config.json" {
		return respond(site, &mut stream, "200 OK", "application/json", &site.config, head_only);
	}
	let Some(file) = resolve(&site.root, path).filter(|_| path.starts_with('/') && !path.contains('%')) else {
		return respond(site, &mut stream, "400 Bad Request", "text/plain", b"bad path\n", false);
	};
	// The portal is one page: a path that is no file is a view of it (`/patient`).
	let file = if !file.is_file() && file.extension().is_none() { site.root.join("index.html") } else { file };
	match std::fs::read(&file) {
		Ok(bytes) => respond(site, &mut stream, "200 OK", content_type(&file), &bytes, head_only),
		Err(_) => respond(site, &mut stream, "404 Not Found", "text/plain", b"not found\n", head_only),
	}
}

/// The runtime this wallet was built with, for the browser to decode chain state and encode
/// transactions by (never by the metadata a node serves): its spec version and its metadata, made
/// by the runtime's own code.
fn runtime() -> serde_json::Value {
	// The newest stable version the browser's @polkadot/types reads (16); u32::MAX is "unstable".
	let version = phr_runtime::Runtime::metadata_versions().into_iter().filter(|v| *v <= 16).max().expect("the runtime offers metadata");
	let metadata = phr_runtime::Runtime::metadata_at_version(version).expect("an offered version");
	json!({ "specVersion": phr_runtime::VERSION.spec_version, "metadata": crate::client::to_hex(&metadata) })
}

/// Serves `root` on `listen` until the process is stopped.
///
/// `anchor` is what the browser verifies the chain from (docs/verified-reads.md): it comes from
/// this machine (the chain spec or the wallet's anchor), never from a node.
pub fn serve(root: &Path, listen: SocketAddr, mut nodes: Vec<PortalNode>, anchor: &crate::verified::Anchor) -> Result<()> {
	if !root.join("index.html").is_file() {
		return Err(WalletError::Usage(format!(
			"{} holds no built portal (index.html): build it with `npm --prefix web run build`",
			root.display()
		)));
	}
	for node in &mut nodes {
		node.learn_binary_endpoint();
	}
	let config = json!({
		"nodes": nodes.iter().map(|n| json!({ "name": n.name, "url": n.url, "blob": n.blob })).collect::<Vec<_>>(),
		"chain": anchor,
		"runtime": runtime(),
	});
	let site = Arc::new(Site {
		root: root.to_path_buf(),
		config: serde_json::to_vec(&config).expect("JSON serializes"),
		csp: content_security_policy(&nodes),
	});
	let listener = TcpListener::bind(listen)
		.map_err(|e| WalletError::Usage(format!("cannot listen on {listen} ({e}): is another portal running? choose --listen")))?;
	let names: Vec<String> = nodes
		.iter()
		.map(|n| match &n.blob {
			Some(blob) => format!("{} {} + {blob}", n.name, n.url),
			None => format!("{} {}", n.name, n.url),
		})
		.collect();
	println!("Portal: http://{}/ (nodes: {})", listener.local_addr()?, names.join(", "));
	let busy = Arc::new(AtomicUsize::new(0));
	for stream in listener.incoming() {
		// A reset before accept, or out of descriptors: keep serving the others.
		let Ok(stream) = stream else { continue };
		while busy.load(Ordering::Acquire) >= MAX_CONNECTIONS {
			std::thread::sleep(Duration::from_millis(5));
		}
		busy.fetch_add(1, Ordering::AcqRel);
		let (site, busy) = (site.clone(), busy.clone());
		std::thread::spawn(move || {
			let _ = handle(&site, stream);
			busy.fetch_sub(1, Ordering::AcqRel);
		});
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn paths_stay_inside_the_portal() {
		let root = Path::new("/srv/portal");
		assert_eq!(resolve(root, "/"), Some(root.join("index.html")));
		assert_eq!(resolve(root, "/assets/app.js"), Some(root.join("assets/app.js")));
		assert_eq!(resolve(root, "/../etc/passwd"), None);
		assert_eq!(resolve(root, "/assets/../../x"), None);
	}

	#[test]
	fn nodes_parse_and_the_policy_names_only_them() {
		let mut nodes = parse_nodes(&["http://127.0.0.1:9944".into(), "H2=ws://127.0.0.1:9945".into()]).unwrap();
		assert_eq!(nodes[0], PortalNode { name: "H1".into(), url: "ws://127.0.0.1:9944".into(), blob: None });
		assert_eq!(nodes[1].name, "H2");
		let csp = content_security_policy(&nodes);
		assert!(csp.contains("connect-src 'self' ws://127.0.0.1:9944 ws://127.0.0.1:9945;"), "{csp}");
		// A node's binary endpoint, once known, is allowed too, and nothing else of its host.
		nodes[1].blob = Some("http://127.0.0.1:9956".into());
		let csp = content_security_policy(&nodes);
		assert!(csp.contains("connect-src 'self' ws://127.0.0.1:9944 ws://127.0.0.1:9945 http://127.0.0.1:9956;"), "{csp}");
		assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"), "{csp}");
		assert!(parse_nodes(&["ws://x; script-src *".into()]).is_err());
		assert!(parse_nodes(&["ftp://x".into()]).is_err());
	}
}
