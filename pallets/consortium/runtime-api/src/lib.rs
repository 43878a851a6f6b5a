//! Runtime API of the consortium pallet.
//!
//! The node asks it, at every finalized block, which peers are member nodes (network permissioning);
//! wallets and auditors ask whether an account is registered and with which roles, and list staff
//! (version 2) to deliver data keys to the staff a grant names; wallets and nodes list the members
//! with their validator accounts and nodes (version 3) to escrow data keys for break-glass.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use codec::Codec;
use phr_primitives::{HospitalId, NodePeerId, RoleSet, StaffView};

sp_api::decl_runtime_apis! {
	#[api_version(2)]
	pub trait ConsortiumApi<AccountId: Codec> {
		/// Peer ids of the member hospitals' nodes, ordered by hospital id.
		fn member_nodes() -> Vec<NodePeerId>;
		/// Whether `who` may sign extrinsics (admin, validator, staff of a member, or patient).
		fn is_registered(who: AccountId) -> bool;
		/// The hospital and roles of a staff member or member admin.
		fn roles_of(who: AccountId) -> Option<(HospitalId, RoleSet)>;
		/// Approvals a proposal needs with the current members.
		fn approvals_needed() -> u32;
		/// Up to `limit` (at most 1000) staff of member hospitals after `start_after`, with their
		/// hospital, roles and attributes.
		#[api_version(2)]
		fn staff(start_after: Option<AccountId>, limit: u32) -> Vec<(AccountId, StaffView)>;
		/// Every member hospital with its validator account (whose registered X25519 key is the
		/// hospital's escrow key for break-glass shares) and its node's peer id, by hospital id.
		#[api_version(3)]
		fn members() -> Vec<(HospitalId, AccountId, NodePeerId)>;
	}
}
