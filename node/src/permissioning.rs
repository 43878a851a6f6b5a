//! Network permissioning: this node peers only with the nodes of consortium members.
//!
//! The member list lives on chain (`pallet-consortium`, each member's node peer id). At start and at
//! every finalized block this task reads it through `ConsortiumApi::member_nodes` and hands it to the
//! network as the authorized peer set, in authorized-only mode: connections from any other peer are
//! refused, and a member voted out is dropped once the vote is final. This is what
//! `pallet-node-authorization` does through an offchain worker, driven here by the consortium's own
//! membership instead of a second registry that could disagree with it.

use std::{collections::HashSet, sync::Arc};

use futures::StreamExt;
use pallet_consortium_runtime_api::ConsortiumApi;
use phr_runtime::{opaque::Block, AccountId};
use sc_client_api::{BlockchainEvents, HeaderBackend};
use sc_network::service::traits::NetworkService;
use sc_network_types::PeerId;
use sp_api::ProvideRuntimeApi;

const LOG_TARGET: &str = "phr::peers";

/// Decodes the member nodes' peer ids, leaving out this node and any malformed entry.
pub fn authorized_peers(member_nodes: &[Vec<u8>], local: &PeerId) -> HashSet<PeerId> {
	member_nodes
		.iter()
		.filter_map(|bytes| match PeerId::from_bytes(bytes) {
			Ok(peer) => Some(peer),
			Err(error) => {
				log::warn!(target: LOG_TARGET, "ignoring a member node with a malformed peer id: {error}");
				None
			},
		})
		.filter(|peer| peer != local)
		.collect()
}

fn apply<C>(client: &C, network: &dyn NetworkService, at: <Block as sp_runtime::traits::Block>::Hash, current: &mut Option<HashSet<PeerId>>)
where
	C: ProvideRuntimeApi<Block>,
	C::Api: ConsortiumApi<Block, AccountId>,
{
	let nodes = match client.runtime_api().member_nodes(at) {
		Ok(nodes) => nodes,
		Err(error) => {
			log::error!(target: LOG_TARGET, "cannot read the consortium's member nodes at {at}: {error}");
			return;
		},
	};
	let nodes: Vec<Vec<u8>> = nodes.into_iter().map(|node| node.into_inner()).collect();
	let peers = authorized_peers(&nodes, &network.local_peer_id());
	if current.as_ref() != Some(&peers) {
		log::info!(target: LOG_TARGET, "authorized member peers: {}", peers.len());
		network.set_authorized_peers(peers.clone());
		*current = Some(peers);
	}
}

/// Keeps the network's authorized peers equal to the member nodes at the latest finalized block.
pub async fn follow_member_nodes<C>(client: Arc<C>, network: Arc<dyn NetworkService>)
where
	C: ProvideRuntimeApi<Block> + BlockchainEvents<Block> + HeaderBackend<Block> + Send + Sync + 'static,
	C::Api: ConsortiumApi<Block, AccountId>,
{
	let mut finalized = client.finality_notification_stream();
	let mut current = None;
	apply(&*client, &*network, client.info().finalized_hash, &mut current);
	network.set_authorized_only(true);
	while let Some(notification) = finalized.next().await {
		apply(&*client, &*network, notification.hash, &mut current);
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
		let peers = authorized_peers(&with_garbage, &local);
		assert_eq!(peers.len(), 3);
		assert!(!peers.contains(&local));
		assert!(peers.contains(&PeerId::from_bytes(&nodes[3]).unwrap()));
	}
}
