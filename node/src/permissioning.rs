//! Network permissioning: this node peers only with the nodes of consortium members, and answers
//! nobody else.
//!
//! The member list lives on chain (`pallet-consortium`, each member's node peer id). It is read
//! through `ConsortiumApi::member_nodes` at the finalized block before the network starts and again
//! at every finalized block, into one [`MemberNodes`] set that three things share:
//! - the network's authorized (reserved) peers. The network is built in reserved-only mode
//!   (`NonReservedPeerMode::Deny`, from its first second), so only members get the block-announce
//!   substream, and with it GRANDPA and transaction gossip; a member voted out is dropped once the
//!   vote is final;
//! - [`guard_requests`], in front of the request-response protocols whose handlers would otherwise
//!   answer any connected peer (block requests, state requests, warp proofs; `crate::network`
//!   builds the network around them): a non-member's request is refused, and the peer is banned
//!   (reputation to the minimum) on every attempt;
//! - the blob store's `/phr/blob/1` protocol, which checks the same set.
//!
//! This is what `pallet-node-authorization` does through an offchain worker, driven here by the
//! consortium's own membership instead of a second registry that could disagree with it. What the
//! network layer of this polkadot-sdk release still lets a non-member do (connect, and ask) is in
//! docs/threat-model.md.

use std::{
	collections::HashSet,
	sync::{Arc, RwLock},
};

use futures::StreamExt;
use pallet_consortium_runtime_api::ConsortiumApi;
use phr_runtime::{opaque::Block, AccountId};
use sc_client_api::{BlockchainEvents, HeaderBackend};
use sc_network::{
	config::{IncomingRequest, OutgoingResponse, RequestResponseConfig},
	service::traits::NetworkService,
	NetworkBackend, ReputationChange,
};
use sc_network_types::PeerId;
use sp_api::ProvideRuntimeApi;

const LOG_TARGET: &str = "phr::peers";

/// What a peer that is not a member's node gets for a request: nothing, and a ban.
pub const NOT_A_MEMBER: ReputationChange = ReputationChange::new_fatal("not a consortium member's node");

/// The other members' nodes at the latest finalized block, shared by the network's peer set, the
/// request guards and the blob store. With `--open-network` (development) every peer counts.
#[derive(Clone)]
pub struct MemberNodes {
	peers: Arc<RwLock<HashSet<PeerId>>>,
	open: bool,
}

impl MemberNodes {
	/// The member nodes at `client`'s finalized block, read before the network starts (this node
	/// among them until [`follow_member_nodes`] knows its peer id).
	pub fn load<C>(client: &C, open: bool) -> MemberNodes
	where
		C: ProvideRuntimeApi<Block> + HeaderBackend<Block>,
		C::Api: ConsortiumApi<Block, AccountId>,
	{
		let members = MemberNodes { peers: Default::default(), open };
		if let Some(peers) = read_member_nodes(client, client.info().finalized_hash, None) {
			members.replace(peers);
		}
		members
	}

	/// Whether `peer` is another member's node (any peer with `--open-network`).
	pub fn contains(&self, peer: &PeerId) -> bool {
		self.open || self.peers.read().expect("member set lock").contains(peer)
	}

	/// The member nodes, this node excluded.
	pub fn snapshot(&self) -> HashSet<PeerId> {
		self.peers.read().expect("member set lock").clone()
	}

	/// Replaces the set; true when it changed.
	fn replace(&self, peers: HashSet<PeerId>) -> bool {
		let mut current = self.peers.write().expect("member set lock");
		if *current == peers {
			return false;
		}
		*current = peers;
		true
	}
}

/// The backend whose request-response configuration has public fields: handlers build their
/// configuration for it, and [`guard_requests`] rebuilds it for the backend the node runs.
pub type ConfigHarvest = sc_network::NetworkWorker<Block, <Block as sp_runtime::traits::Block>::Hash>;

/// Puts a membership check in front of a request-response protocol: requests from member nodes
/// reach the handler's queue; any other peer is refused and banned. Returns the protocol's
/// configuration for the network backend `N`.
pub fn guard_requests<N: NetworkBackend<Block, <Block as sp_runtime::traits::Block>::Hash>>(
	config: RequestResponseConfig,
	members: MemberNodes,
	spawner: &sc_service::SpawnTaskHandle,
) -> N::RequestResponseProtocolConfig {
	let name = config.name.clone();
	let Some(handler) = config.inbound_queue else {
		// An outbound-only protocol: nothing to guard.
		return N::request_response_config(
			config.name,
			config.fallback_names,
			config.max_request_size,
			config.max_response_size,
			config.request_timeout,
			None,
		);
	};
	let (sender, receiver) = async_channel::bounded::<IncomingRequest>(handler.capacity().unwrap_or(64).max(1));
	let protocol = name.to_string();
	spawner.spawn("phr-request-guard", Some("networking"), async move {
		while let Ok(request) = receiver.recv().await {
			if members.contains(&request.peer) {
				// A full handler queue drops the request, as the network would.
				let _ = handler.try_send(request);
				continue;
			}
			log::warn!(target: LOG_TARGET, "refused {} on {protocol}: not a consortium member's node", request.peer);
			let _ = request.pending_response.send(OutgoingResponse {
				result: Err(()),
				reputation_changes: vec![NOT_A_MEMBER],
				sent_feedback: None,
			});
		}
	});
	N::request_response_config(
		config.name,
		config.fallback_names,
		config.max_request_size,
		config.max_response_size,
		config.request_timeout,
		Some(sender),
	)
}

/// Decodes the member nodes' peer ids, leaving out this node (when known) and any malformed entry.
pub fn authorized_peers(member_nodes: &[Vec<u8>], local: Option<&PeerId>) -> HashSet<PeerId> {
	member_nodes
		.iter()
		.filter_map(|bytes| match PeerId::from_bytes(bytes) {
			Ok(peer) => Some(peer),
			Err(error) => {
				log::warn!(target: LOG_TARGET, "ignoring a member node with a malformed peer id: {error}");
				None
			},
		})
		.filter(|peer| Some(peer) != local)
		.collect()
}

fn read_member_nodes<C>(
	client: &C,
	at: <Block as sp_runtime::traits::Block>::Hash,
	local: Option<&PeerId>,
) -> Option<HashSet<PeerId>>
where
	C: ProvideRuntimeApi<Block>,
	C::Api: ConsortiumApi<Block, AccountId>,
{
	match client.runtime_api().member_nodes(at) {
		Ok(nodes) => {
			let nodes: Vec<Vec<u8>> = nodes.into_iter().map(|node| node.into_inner()).collect();
			Some(authorized_peers(&nodes, local))
		},
		Err(error) => {
			// Keep the last known set rather than shut out every member or let anyone in.
			log::error!(target: LOG_TARGET, "cannot read the consortium's member nodes at {at}: {error}");
			None
		},
	}
}

/// Keeps [`MemberNodes`], and (unless `--open-network`) the network's authorized peers, equal to
/// the member nodes at the latest finalized block. The network itself was built in reserved-only
/// mode; switching that mode on again here would cancel the members' substreams being opened.
pub async fn follow_member_nodes<C>(client: Arc<C>, network: Arc<dyn NetworkService>, members: MemberNodes)
where
	C: ProvideRuntimeApi<Block> + BlockchainEvents<Block> + HeaderBackend<Block> + Send + Sync + 'static,
	C::Api: ConsortiumApi<Block, AccountId>,
{
	let mut finalized = client.finality_notification_stream();
	let local = network.local_peer_id();
	let update = |at, first: bool| {
		let Some(peers) = read_member_nodes(&*client, at, Some(&local)) else { return };
		if members.replace(peers.clone()) || first {
			log::info!(target: LOG_TARGET, "authorized member peers: {}", peers.len());
			if !members.open {
				network.set_authorized_peers(peers);
			}
		}
	};
	update(client.info().finalized_hash, true);
	while let Some(notification) = finalized.next().await {
		update(notification.hash, false);
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use sp_core::Pair;
	use phr_runtime::genesis_config_presets::{ed25519_peer_id, LOCAL_NODE_PUBLIC_KEYS};

	/// The secrets `scripts/run-consortium.sh` passes with `--node-key`.
	fn local_node_secret(hospital: u32) -> [u8; 32] {
		sp_io::hashing::blake2_256(format!("phr-local-consortium-node-H{hospital}").as_bytes())
	}

	#[test]
	fn local_consortium_node_keys_match_the_preset_peer_ids() {
		for (i, public) in LOCAL_NODE_PUBLIC_KEYS.iter().enumerate() {
			let secret = local_node_secret(i as u32 + 1);
			let pair = sp_core::ed25519::Pair::from_seed(&secret);
			assert_eq!(&pair.public().0, public, "node key of H{}", i + 1);
			let peer = PeerId::from_bytes(&ed25519_peer_id(public)).expect("a valid peer id");
			assert_eq!(peer.to_bytes(), ed25519_peer_id(public));
		}
	}

	#[test]
	fn authorized_peers_skip_self_and_malformed_entries() {
		let nodes: Vec<Vec<u8>> = LOCAL_NODE_PUBLIC_KEYS.iter().map(ed25519_peer_id).collect();
		let local = PeerId::from_bytes(&nodes[0]).unwrap();
		let mut with_garbage = nodes.clone();
		with_garbage.push(vec![1, 2, 3]);
		let peers = authorized_peers(&with_garbage, Some(&local));
		assert_eq!(peers.len(), 3);
		assert!(!peers.contains(&local));
		assert!(peers.contains(&PeerId::from_bytes(&nodes[3]).unwrap()));
	}
}
