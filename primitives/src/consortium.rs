//! Consortium vocabulary: hospitals, staff roles and attributes, node identities, and the error codes
//! with which the transaction pool refuses an extrinsic.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use sp_core::ConstU32;
use sp_runtime::BoundedVec;

/// A consortium member (a hospital), numbered by the consortium when it is voted in.
pub type HospitalId = u32;

/// Numbers consortium proposals, never reused.
pub type ProposalId = u32;

/// Longest organisational attribute code (department, facility), in bytes.
pub const MAX_ATTRIBUTE_LEN: u32 = 32;

/// A short organisational code such as `b"cardiology"` or `b"H2-north"`. Never a person's data.
pub type AttributeCode = BoundedVec<u8, ConstU32<MAX_ATTRIBUTE_LEN>>;

/// Longest encoded libp2p peer id accepted for a member's node (an ed25519 peer id is 38 bytes).
pub const MAX_PEER_ID_LEN: u32 = 64;

/// The libp2p peer id of a member's node, as its multihash bytes (`PeerId::to_bytes`).
pub type NodePeerId = BoundedVec<u8, ConstU32<MAX_PEER_ID_LEN>>;

/// What a member of a hospital's staff may do. A staff member holds a [`RoleSet`] of these.
#[derive(
	Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, DecodeWithMemTracking,
	MaxEncodedLen, TypeInfo, Debug,
)]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
	Physician,
	Nurse,
	Pharmacist,
	Researcher,
	Auditor,
	/// May open time-boxed break-glass access to a patient's records.
	Emergency,
	/// Manages the hospital's staff and onboards patients. Granted only by consortium vote (the
	/// member's admin list), never by another admin.
	Admin,
}

impl Role {
	/// Every role, in the order of their bits in a [`RoleSet`].
	pub const ALL: [Role; 7] = [
		Role::Physician,
		Role::Nurse,
		Role::Pharmacist,
		Role::Researcher,
		Role::Auditor,
		Role::Emergency,
		Role::Admin,
	];

	const fn bit(self) -> u8 {
		1 << (self as u8)
	}

	/// The lowercase name used on the command line and in chain specs.
	pub fn as_str(self) -> &'static str {
		match self {
			Role::Physician => "physician",
			Role::Nurse => "nurse",
			Role::Pharmacist => "pharmacist",
			Role::Researcher => "researcher",
			Role::Auditor => "auditor",
			Role::Emergency => "emergency",
			Role::Admin => "admin",
		}
	}

	/// Parses the lowercase name of a role.
	pub fn from_name(name: &str) -> Option<Role> {
		Role::ALL.into_iter().find(|role| role.as_str() == name)
	}
}

/// A set of [`Role`]s, one bit each: fixed size on chain, cheap to test.
#[derive(
	Clone, Copy, Default, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen,
	TypeInfo, Debug,
)]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct RoleSet(pub u8);

impl RoleSet {
	/// The set holding exactly `roles`.
	pub fn from_roles(roles: &[Role]) -> Self {
		RoleSet(roles.iter().fold(0, |bits, role| bits | role.bit()))
	}

	pub fn contains(&self, role: Role) -> bool {
		self.0 & role.bit() != 0
	}

	pub fn insert(&mut self, role: Role) {
		self.0 |= role.bit();
	}

	pub fn is_empty(&self) -> bool {
		self.0 == 0
	}

	/// True when a bit outside the known roles is set (an encoding from a newer or broken client).
	pub fn has_unknown_bits(&self) -> bool {
		self.0 & !RoleSet::from_roles(&Role::ALL).0 != 0
	}

	/// The roles in the set, in [`Role::ALL`] order.
	pub fn iter(self) -> impl Iterator<Item = Role> {
		Role::ALL.into_iter().filter(move |role| self.contains(*role))
	}
}

/// What access rules need to know about a staff member.
#[derive(Clone, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug)]
pub struct StaffView {
	pub hospital: HospitalId,
	/// Includes `Admin` for a member's admins.
	pub roles: RoleSet,
	pub department: AttributeCode,
	pub facility: AttributeCode,
}

/// Error codes carried by `InvalidTransaction::Custom` when the pool refuses an extrinsic.
/// Documented for operators and wallets in docs/operator.md.
pub mod tx_error {
	/// The signer is not a registered account of the consortium (admin, validator, staff or patient).
	pub const UNREGISTERED_SIGNER: u8 = 1;
	// 2 was `RATE_LIMITED` until spec version 103: a signer's extrinsics beyond its rate window now
	// wait in the pool for the next window instead of being refused.
	/// The signer is a patient its hospital offboarded: it may only take exposure back (revoke,
	/// withdraw consent, remove a guardian, re-key, erase) until a member onboards it again.
	pub const OFFBOARDED_PATIENT: u8 = 3;

	/// One sentence naming what was wrong, for a custom code above.
	pub fn describe(code: u8) -> &'static str {
		match code {
			UNREGISTERED_SIGNER =>
				"the signer is not registered with the consortium: ask a hospital admin to onboard the account",
			OFFBOARDED_PATIENT =>
				"the account was offboarded by its hospital: it can still revoke grants, withdraw consents and erase records; ask a member hospital to onboard it again for anything else",
			_ => "unknown PHR transaction error code",
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn role_set_holds_exactly_the_roles_put_in() {
		let set = RoleSet::from_roles(&[Role::Physician, Role::Emergency]);
		assert!(set.contains(Role::Physician));
		assert!(set.contains(Role::Emergency));
		assert!(!set.contains(Role::Nurse));
		assert_eq!(set.iter().collect::<Vec<_>>(), vec![Role::Physician, Role::Emergency]);
		assert!(!set.has_unknown_bits());
		assert!(RoleSet(0x80).has_unknown_bits());
	}

	#[test]
	fn role_names_round_trip() {
		for role in Role::ALL {
			assert_eq!(Role::from_name(role.as_str()), Some(role));
		}
		assert_eq!(Role::from_name("surgeon"), None);
	}
}
