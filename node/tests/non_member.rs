//! A node that is not a consortium member's gets nothing from the four-hospital local consortium
//! (real `phr-node` processes on loopback): a fifth `phr-node` of the same chain, with every member
//! as a bootnode, stays at genesis while the members keep finalizing, and no member counts it among
//! its peers; a raw libp2p peer (litep2p, in the test) that connects to a member and asks it for a
//! ciphertext chunk on `/phr/blob/1`, for blocks on the block-request protocol, or for the chain's
//! state on the state-request protocol, has each request refused, never answered, and the member
//! logs the refusal; asked for a storage proof on the light-client protocol, a member answers with
//! no proof (it serves light clients nothing, members included).

mod common;

use codec::Encode;
use common::*;
use futures::StreamExt;
use litep2p::{
	config::ConfigBuilder,
	protocol::request_response::{
		ConfigBuilder as RequestResponseConfigBuilder, DialOptions, RejectReason, RequestResponseError, RequestResponseEvent,
	},
	transport::tcp::config::Config as TcpConfig,
	types::{multiaddr::Multiaddr, protocol::ProtocolName},
	Litep2p, Litep2pEvent, PeerId,
};
use serde_json::json;
use std::time::Duration;

/// The blob store's replication protocol (`node/src/blobs/replication.rs`).
const BLOB_PROTOCOL: &str = "/phr/blob/1";
/// What a member logs, after `refused <peer> on <protocol>: `, for a non-member's request.
const REFUSAL: &str = "not a consortium member's node";

fn peer_id(node: &Node) -> String {
	let id = node.rpc("system_localPeerId", json!([])).unwrap_or_else(|e| panic!("{}'s peer id: {e}", node.name));
	id.as_str().expect("a peer id").to_string()
}

/// A fresh litep2p peer (a random key of its own) with the one request-response `protocol`:
/// connects to `member` (`/ip4/…/tcp/…/p2p/<id>`), sends it `request`, and returns its own peer id,
/// what came back, and whether the member closed the connection meanwhile. Panics when the
/// connection is never made: a failed dial must not pass for a refusal.
async fn ask_as_stranger(member: &str, protocol: &str, request: Vec<u8>) -> (String, Result<Vec<u8>, RequestResponseError>, bool) {
	let (config, mut handle) = RequestResponseConfigBuilder::new(ProtocolName::from(protocol.to_string()))
		.with_max_size(2 * 1024 * 1024)
		.with_timeout(Duration::from_secs(20))
		.build();
	let tcp = TcpConfig { listen_addresses: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("an address")], ..Default::default() };
	let mut litep2p =
		Litep2p::new(ConfigBuilder::new().with_tcp(tcp).with_request_response_protocol(config).build()).expect("litep2p starts");
	let me = litep2p.local_peer_id().to_base58();
	let address: Multiaddr = member.parse().expect("a multiaddr");
	let peer = PeerId::try_from_multiaddr(&address).expect("the address names the member's peer id");
	litep2p.dial_address(address).await.expect("the dial starts");
	let connected = tokio::time::timeout(Duration::from_secs(30), async {
		loop {
			match litep2p.next_event().await {
				Some(Litep2pEvent::ConnectionEstablished { peer: remote, .. }) if remote == peer => return Ok(()),
				Some(Litep2pEvent::DialFailure { error, .. }) => return Err(format!("{error:?}")),
				Some(Litep2pEvent::ListDialFailures { errors }) => return Err(format!("{errors:?}")),
				Some(_) => {},
				None => return Err("litep2p stopped".to_string()),
			}
		}
	})
	.await;
	assert!(matches!(connected, Ok(Ok(()))), "{protocol}: the stranger never connected to {member}: {connected:?}");

	// Let the protocol learn of the connection, then ask on it (no second dial).
	let mut closed = false;
	let _ = tokio::time::timeout(Duration::from_millis(500), async {
		loop {
			match litep2p.next_event().await {
				Some(Litep2pEvent::ConnectionClosed { peer: remote, .. }) => closed |= remote == peer,
				Some(_) => {},
				None => break,
			}
		}
	})
	.await;
	let sent = handle.send_request(peer, request, DialOptions::Reject).await.expect("the request is queued");
	let outcome = tokio::time::timeout(Duration::from_secs(30), async {
		loop {
			tokio::select! {
				event = handle.next() => match event {
					Some(RequestResponseEvent::ResponseReceived { request_id, response, .. }) if request_id == sent =>
						return Ok(response),
					Some(RequestResponseEvent::RequestFailed { request_id, error, .. }) if request_id == sent => return Err(error),
					Some(_) => {},
					None => panic!("{protocol}: the stranger's request-response protocol stopped"),
				},
				event = litep2p.next_event() => match event {
					Some(Litep2pEvent::ConnectionClosed { peer: remote, .. }) => closed |= remote == peer,
					Some(_) => {},
					None => panic!("{protocol}: the stranger's litep2p stopped"),
				},
			}
		}
	})
	.await
	.unwrap_or_else(|_| panic!("{protocol}: the request got neither an answer nor a refusal in 30 s"));
	(me, outcome, closed)
}

#[test]
fn a_node_that_is_not_a_member_gets_no_block_and_no_ciphertext() {
	let dir = temp_dir("phr-stranger-");
	let nodes = start_local_consortium(dir.path());
	assert!(wait_until(Duration::from_secs(150), || min_finalized(&nodes) >= 2), "finality; logs:\n{}", logs(&nodes));
	let member_ids: Vec<String> = nodes.iter().map(peer_id).collect();

	// A fifth node of the same chain: no validator, a random node key of its own, every member a
	// bootnode.
	let mut stranger = Node::new("stranger", &dir.path().join("stranger"));
	let mut args: Vec<String> = ["--chain", "local-consortium", "--bootnodes"].iter().map(|s| s.to_string()).collect();
	args.extend(nodes.iter().zip(&member_ids).map(|(node, id)| node.multiaddr(id)));
	stranger.start(args);
	let up = wait_until(Duration::from_secs(60), || stranger.rpc("system_localPeerId", json!([])).is_ok());
	assert!(up, "the stranger's RPC; log:\n{}", stranger.log_tail());
	let stranger_id = peer_id(&stranger);
	assert!(!member_ids.contains(&stranger_id), "the stranger has a member's node key");

	let finalized = min_finalized(&nodes);
	std::thread::sleep(Duration::from_secs(60));
	assert_eq!(stranger.best_height(), Some(0), "the stranger should get no block; log:\n{}", stranger.log_tail());
	for node in &nodes {
		let answer = node.rpc("system_peers", json!([])).unwrap_or_else(|e| panic!("{}: system_peers: {e}", node.name));
		let peers: Vec<&str> =
			answer.as_array().expect("an array of peers").iter().map(|p| p["peerId"].as_str().expect("a peerId")).collect();
		let members_seen = peers.iter().any(|p| member_ids.iter().any(|m| m.as_str() == *p));
		assert!(members_seen, "{} should list other members: {peers:?}", node.name);
		assert!(!peers.contains(&stranger_id.as_str()), "{} peers with the stranger {stranger_id}: {peers:?}", node.name);
	}
	assert!(min_finalized(&nodes) > finalized, "the members should keep finalizing past {finalized}; logs:\n{}", logs(&nodes));

	// A raw libp2p peer asks H1 for a chunk, then (each time as another fresh peer: the one before is
	// banned) for blocks and for the whole state at the finalized block.
	let genesis = nodes[0].rpc("chain_getBlockHash", json!([0])).expect("genesis hash");
	let genesis = genesis.as_str().expect("a hash").trim_start_matches("0x").to_string();
	let sync = format!("/{genesis}/sync/2");
	let state = format!("/{genesis}/state/2");
	// `WireRequest::Chunk { hash, index: 0 }`: variant 0, the hash's 32 bytes, the index (u32 LE).
	let chunk = (0u8, [0x42u8; 32], 0u32).encode();
	assert_eq!(chunk.len(), 37);
	let head = finalized_hash(&nodes[0]);
	let h1 = nodes[0].multiaddr(&member_ids[0]);
	let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime");
	for (protocol, request) in
		[(BLOB_PROTOCOL, chunk), (sync.as_str(), vec![1, 2, 3, 4]), (state.as_str(), state_request(&head))]
	{
		let (me, outcome, closed) = runtime.block_on(ask_as_stranger(&h1, protocol, request));
		let refusal = match outcome {
			Ok(response) => panic!("H1 answered the stranger {me} on {protocol} ({} bytes)", response.len()),
			Err(RequestResponseError::Rejected(RejectReason::DialFailed(error))) =>
				panic!("{protocol}: the request was never sent (dial failed: {error:?}), not refused"),
			// The member closed the request's substream or, having banned the peer, the connection.
			Err(RequestResponseError::Rejected(reason)) if closed => format!("{reason:?}, and H1 closed the connection"),
			Err(RequestResponseError::Rejected(reason)) => format!("{reason:?}"),
			Err(error) => panic!("{protocol}: expected H1 to refuse the request, got {error:?} (closed: {closed})"),
		};
		let line = format!("refused {me} on {protocol}: {REFUSAL}");
		let logged = wait_until(Duration::from_secs(10), || {
			std::fs::read_to_string(nodes[0].base.with_extension("log")).unwrap_or_default().contains(&line)
		});
		assert!(logged, "H1 should log `{line}` (the request failed: {refusal}); log:\n{}", nodes[0].log_tail());
	}

	// The light-client protocol: a read proof of `System::Number` at the finalized block. A member
	// serves no proofs on it, so the answer is a read response without one.
	let light = format!("/{genesis}/light/2");
	let (me, outcome, _) = runtime.block_on(ask_as_stranger(&h1, &light, light_read_request(&head, &SYSTEM_NUMBER)));
	// An answer, so the request did reach the protocol's handler; and that answer proves nothing.
	let response = outcome.unwrap_or_else(|error| panic!("{light}: expected an answer without a proof, got {error:?}"));
	assert!(response == NO_PROOF, "H1 gave the stranger {me} {} bytes on {light}, not an empty read response", response.len());
}

/// The storage key of `System::Number` (twox128("System") ++ twox128("Number")).
const SYSTEM_NUMBER: [u8; 32] = hex_literal_32("26aa394eea5630e07c48ae0c9558cef702a5c1b19ab7a04f536c519aca4983ac");

/// A light-client `Response { remote_read_response: RemoteReadResponse { proof: None } }`.
const NO_PROOF: [u8; 2] = [0x12, 0x00];

const fn hex_literal_32(hex: &str) -> [u8; 32] {
	let bytes = hex.as_bytes();
	let mut out = [0u8; 32];
	let mut i = 0;
	while i < 32 {
		out[i] = (nibble(bytes[2 * i]) << 4) | nibble(bytes[2 * i + 1]);
		i += 1;
	}
	out
}

const fn nibble(c: u8) -> u8 {
	match c {
		b'0'..=b'9' => c - b'0',
		b'a'..=b'f' => c - b'a' + 10,
		_ => panic!("not a lower-case hex digit"),
	}
}

fn finalized_hash(node: &Node) -> [u8; 32] {
	let hash = node.rpc("chain_getFinalizedHead", json!([])).unwrap_or_else(|e| panic!("{}: finalized head: {e}", node.name));
	let bytes = hex::decode(hash.as_str().expect("a hash").trim_start_matches("0x")).expect("hex");
	bytes.try_into().expect("32 bytes")
}

/// A protobuf length-delimited field (`tag`, then the length as a varint, then `bytes`).
fn field(tag: u8, bytes: &[u8]) -> Vec<u8> {
	let mut out = vec![tag];
	let mut len = bytes.len();
	while len >= 0x80 {
		out.push((len as u8 & 0x7f) | 0x80);
		len >>= 7;
	}
	out.push(len as u8);
	out.extend_from_slice(bytes);
	out
}

/// `api.v1.StateRequest { block, start: [], no_proof: true }`: the whole state, as key-value pairs.
fn state_request(block: &[u8; 32]) -> Vec<u8> {
	let mut request = field(0x0a, block);
	request.extend_from_slice(&[0x18, 0x01]);
	request
}

/// `api.v1.light.Request { remote_read_request: RemoteReadRequest { block, keys: [key] } }`.
fn light_read_request(block: &[u8; 32], key: &[u8]) -> Vec<u8> {
	let mut read = field(0x12, block);
	read.extend(field(0x1a, key));
	field(0x12, &read)
}
