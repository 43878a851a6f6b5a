//! Access control vocabulary: grants, scopes, rights, conditions, purposes and decisions.

use crate::{
	consortium::{AttributeCode, HospitalId, Role, RoleSet, StaffView},
	records::{Category, RecordId},
};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use sp_core::{ConstU32, H256};
use sp_runtime::BoundedVec;

/// Numbers a grant, never reused.
pub type GrantId = u64;
/// Numbers a break-glass opening, never reused.
pub type EmergencyId = u64;
/// Numbers a batch of read receipts anchored on chain, never reused.
pub type BatchId = u64;
/// A research purpose, as a code the consortium publishes (e.g. an ethics-board approval number).
pub type PurposeCode = u32;
/// Unix time in milliseconds, as `pallet-timestamp` keeps it.
pub type Moment = u64;

/// Most attribute values one policy may list per attribute.
pub const MAX_POLICY_VALUES: u32 = 8;
/// Most record ids one scope may name.
pub const MAX_SCOPE_RECORDS: u32 = 32;

pub type PolicyValues = BoundedVec<AttributeCode, ConstU32<MAX_POLICY_VALUES>>;
pub type ScopeRecords = BoundedVec<RecordId, ConstU32<MAX_SCOPE_RECORDS>>;

/// A set of [`Category`]s, one bit each.
#[derive(
	Clone, Copy, Default, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen,
	TypeInfo, Debug,
)]
pub struct CategorySet(pub u16);

impl CategorySet {
	pub fn all() -> Self {
		CategorySet::from_categories(&Category::ALL)
	}

	pub fn from_categories(categories: &[Category]) -> Self {
		CategorySet(categories.iter().fold(0, |bits, c| bits | (1 << (*c as u16))))
	}

	pub fn contains(&self, category: Category) -> bool {
		self.0 & (1 << (category as u16)) != 0
	}

	pub fn is_empty(&self) -> bool {
		self.0 == 0
	}

	/// True when a bit outside the known categories is set.
	pub fn has_unknown_bits(&self) -> bool {
		self.0 & !CategorySet::all().0 != 0
	}
}

/// What a grant allows.
#[derive(
	Clone, Copy, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
	Debug,
)]
pub enum Right {
	/// Fetch and decrypt the record.
	Read,
	/// Add records for the patient (register, amend) within the grant's scope.
	Append,
}

/// A set of [`Right`]s.
#[derive(
	Clone, Copy, Default, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen,
	TypeInfo, Debug,
)]
pub struct Rights(pub u8);

impl Rights {
	pub const READ: Rights = Rights(1);
	pub const APPEND: Rights = Rights(2);
	pub const READ_APPEND: Rights = Rights(3);

	pub fn contains(&self, right: Right) -> bool {
		let bit = match right {
			Right::Read => 1,
			Right::Append => 2,
		};
		self.0 & bit != 0
	}

	pub fn is_valid(&self) -> bool {
		self.0 != 0 && self.0 & !3 == 0
	}
}

/// Which records a grant or consent covers: every record in `categories`, plus the records whose
/// root is in `records` (naming a root covers every version of that record).
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub struct Scope {
	pub categories: CategorySet,
	pub records: ScopeRecords,
}

impl Scope {
	pub fn covers(&self, category: Category, root: RecordId) -> bool {
		self.categories.contains(category) || self.records.contains(&root)
	}

	pub fn is_empty(&self) -> bool {
		self.categories.is_empty() && self.records.is_empty()
	}
}

/// The hospitals whose staff an attribute policy may match. Departments, facilities and roles are
/// assigned by each hospital's admin alone, so a policy names the hospitals it trusts to assign
/// them; matching staff of every member must be asked for explicitly.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub enum PolicyHospitals {
	/// Staff of these hospitals only (at least one).
	Only(BoundedVec<HospitalId, ConstU32<MAX_POLICY_VALUES>>),
	/// Staff of any member hospital, present or future: the patient confirmed it.
	ConsortiumWide,
}

impl PolicyHospitals {
	pub fn admits(&self, hospital: HospitalId) -> bool {
		match self {
			PolicyHospitals::Only(hospitals) => hospitals.contains(&hospital),
			PolicyHospitals::ConsortiumWide => true,
		}
	}
}

/// Staff described by attributes: a staff member matches when it is staff of a hospital the
/// policy admits and every non-empty list contains its value (an empty list matches anyone).
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub struct AttributePolicy {
	/// Staff holding at least one of these roles (empty: any role).
	pub roles: RoleSet,
	/// Of these hospitals, or explicitly of any member.
	pub hospitals: PolicyHospitals,
	/// In one of these departments (empty: any).
	pub departments: PolicyValues,
	/// At one of these facilities (empty: any).
	pub facilities: PolicyValues,
}

/// Who a grant is for.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub enum Grantee<AccountId> {
	/// One account.
	Account(AccountId),
	/// Every staff member of `hospital` holding `role`.
	HospitalRole { hospital: HospitalId, role: Role },
	/// Every staff member matching the policy.
	Policy(AttributePolicy),
}

impl<AccountId: PartialEq> Grantee<AccountId> {
	/// Whether this grantee names `who` (with its staff registration, if any): the account itself,
	/// or staff of the hospital holding the role, or staff matching every restriction of the policy.
	pub fn names(&self, who: &AccountId, staff: Option<&StaffView>) -> bool {
		match (self, staff) {
			(Grantee::Account(account), _) => account == who,
			(Grantee::HospitalRole { hospital, role }, Some(staff)) =>
				staff.hospital == *hospital && staff.roles.contains(*role),
			(Grantee::Policy(policy), Some(staff)) =>
				(policy.roles.is_empty() || policy.roles.0 & staff.roles.0 != 0) &&
					policy.hospitals.admits(staff.hospital) &&
					(policy.departments.is_empty() || policy.departments.contains(&staff.department)) &&
					(policy.facilities.is_empty() || policy.facilities.contains(&staff.facility)),
			(_, None) => false,
		}
	}
}

/// A UTC time-of-day window in minutes since midnight, `start..end`; wraps past midnight when
/// `start > end` (a night shift, 22:00 to 06:00, is `1320..360`).
#[derive(
	Clone, Copy, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
	Debug,
)]
pub struct TimeWindow {
	pub start_minute: u16,
	pub end_minute: u16,
}

pub const MINUTES_PER_DAY: u16 = 24 * 60;

impl TimeWindow {
	pub fn is_valid(&self) -> bool {
		self.start_minute < MINUTES_PER_DAY && self.end_minute <= MINUTES_PER_DAY && self.start_minute != self.end_minute
	}

	/// Whether the instant `now` (unix ms) falls in the window.
	pub fn contains(&self, now: Moment) -> bool {
		let minute = ((now / 60_000) % MINUTES_PER_DAY as u64) as u16;
		if self.start_minute < self.end_minute {
			self.start_minute <= minute && minute < self.end_minute
		} else {
			minute >= self.start_minute || minute < self.end_minute
		}
	}
}

/// Context a request must meet besides who and what.
#[derive(Clone, Default, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub struct Conditions {
	/// Only within this UTC time-of-day window.
	pub time_window: Option<TimeWindow>,
	/// Only for staff registered at this facility.
	pub facility: Option<AttributeCode>,
}

/// What a grant looks like when the patient (or a guardian) asks for it.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub struct GrantTerms<AccountId> {
	pub grantee: Grantee<AccountId>,
	pub scope: Scope,
	pub rights: Rights,
	/// Unix ms after which the grant no longer applies.
	pub expires_at: Moment,
	pub conditions: Conditions,
}

/// A grant as the chain keeps it.
#[derive(Clone, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug)]
pub struct Grant<AccountId, BlockNumber> {
	pub patient: AccountId,
	pub terms: GrantTerms<AccountId>,
	/// The patient, or the guardian acting for the patient.
	pub granted_by: AccountId,
	pub granted_at: BlockNumber,
}

/// Why someone reads.
#[derive(
	Clone, Copy, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
	Debug,
)]
pub enum Purpose {
	/// Care of the patient: grants apply.
	Treatment,
	/// Break-glass: an open emergency access applies.
	Emergency,
	/// Research under the patient's consent to this purpose code.
	Research(PurposeCode),
}

impl Purpose {
	/// Parses a purpose as the `phr_fetch` RPC and the wallet write it: `treatment`, `emergency`
	/// or `research:<code>`.
	pub fn from_param(text: &str) -> Option<Purpose> {
		match text {
			"treatment" => Some(Purpose::Treatment),
			"emergency" => Some(Purpose::Emergency),
			other => other.strip_prefix("research:")?.parse().ok().map(Purpose::Research),
		}
	}
}

/// Why a decision allowed access.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub enum Basis {
	/// The reader is the patient.
	Owner,
	/// The reader is the patient's guardian, with the read power.
	Guardian,
	/// This grant.
	Grant(GrantId),
	/// This break-glass opening.
	Emergency(EmergencyId),
	/// The patient's live consent to this research purpose.
	Consent(PurposeCode),
}

/// Why a decision denied access: the furthest any rule got.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub enum Denial {
	/// No such record.
	UnknownRecord,
	/// The patient erased the record.
	Erased,
	/// The account is not registered with the consortium.
	Unregistered,
	/// No grant of the patient names the reader, its role or its attributes.
	NoGrant,
	/// A grant names the reader but not this right.
	RightNotGranted(GrantId),
	/// A grant names the reader but not this record.
	OutOfScope(GrantId),
	/// The grant that would apply has expired.
	Expired(GrantId),
	/// The grant that would apply is limited to another time of day.
	OutsideTimeWindow(GrantId),
	/// The grant that would apply is limited to another facility.
	WrongFacility(GrantId),
	/// Emergency purpose without an open break-glass access by this reader.
	NoEmergencyAccess,
	/// The reader's break-glass access to this patient has ended.
	EmergencyExpired(EmergencyId),
	/// Research purpose, but the reader does not hold the researcher role.
	NotResearcher,
	/// No live consent of the patient covers this purpose and record.
	NoConsent,
}

impl Denial {
	/// How far the rule that produced this denial got: the decision reports the furthest.
	pub fn depth(&self) -> u8 {
		match self {
			Denial::UnknownRecord | Denial::Erased | Denial::Unregistered => 0,
			Denial::NoGrant | Denial::NoEmergencyAccess | Denial::NotResearcher | Denial::NoConsent => 1,
			Denial::RightNotGranted(_) => 2,
			Denial::OutOfScope(_) => 3,
			Denial::Expired(_) | Denial::EmergencyExpired(_) => 4,
			Denial::OutsideTimeWindow(_) => 5,
			Denial::WrongFacility(_) => 6,
		}
	}
}

/// The answer of the one decision function.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub enum Decision {
	Allowed(Basis),
	Denied(Denial),
}

impl Decision {
	pub fn is_allowed(&self) -> bool {
		matches!(self, Decision::Allowed(_))
	}
}

/// What a guardian may do for a patient.
#[derive(
	Clone, Copy, Default, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen,
	TypeInfo, Debug,
)]
pub struct GuardianPowers {
	/// Read the patient's records.
	pub read: bool,
	/// Grant, revoke and amend grants in the patient's name.
	pub manage_grants: bool,
}

/// One entry of a patient's audit trail.
#[derive(Clone, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug)]
pub struct AuditEntry<AccountId, BlockNumber> {
	pub at: BlockNumber,
	/// Who acted: the patient, a guardian, staff, an auditor or a node's account.
	pub actor: AccountId,
	pub action: AuditAction<AccountId>,
}

/// What happened, in an audit entry.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug)]
pub enum AuditAction<AccountId> {
	GrantAdded { grant: GrantId },
	GrantRevoked { grant: GrantId },
	GrantExpiryAmended { grant: GrantId, expires_at: Moment },
	GuardianAppointed { guardian: AccountId },
	GuardianRemoved { guardian: AccountId },
	EmergencyOpened { emergency: EmergencyId },
	EmergencyReviewed { emergency: EmergencyId },
	ConsentGiven { purpose: PurposeCode },
	ConsentWithdrawn { purpose: PurposeCode },
	RecordRegistered { record: RecordId },
	RecordAmended { record: RecordId, previous: RecordId },
	RecordErased { root: RecordId },
	DataKeyRotated { record: RecordId },
	/// The grant's expiry passed and the chain dropped it (the actor is the patient).
	GrantExpired { grant: GrantId },
}

/// A batch of served reads a node anchored on chain: the Merkle root of their receipt hashes.
#[derive(Clone, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug)]
pub struct ReceiptBatch<AccountId, BlockNumber> {
	/// The hospital whose node served the reads.
	pub hospital: HospitalId,
	pub submitted_by: AccountId,
	pub root: H256,
	/// Number of receipts: a proof must name an index below it.
	pub count: u32,
	pub anchored_at: BlockNumber,
}

#[cfg(test)]
mod tests {
	use super::*;

	const HOUR: u64 = 3_600_000;

	#[test]
	fn time_window_within_a_day_and_across_midnight() {
		let office = TimeWindow { start_minute: 8 * 60, end_minute: 17 * 60 };
		assert!(office.contains(9 * HOUR));
		assert!(office.contains(8 * HOUR));
		assert!(!office.contains(17 * HOUR));
		assert!(!office.contains(3 * HOUR));
		assert!(office.contains(24 * HOUR + 12 * HOUR), "the next day too");
		let night = TimeWindow { start_minute: 22 * 60, end_minute: 6 * 60 };
		assert!(night.contains(23 * HOUR));
		assert!(night.contains(2 * HOUR));
		assert!(!night.contains(12 * HOUR));
		assert!(!TimeWindow { start_minute: 5, end_minute: 5 }.is_valid());
		assert!(!TimeWindow { start_minute: 1440, end_minute: 5 }.is_valid());
	}

	#[test]
	fn scope_covers_categories_and_named_records() {
		let scope = Scope {
			categories: CategorySet::from_categories(&[Category::Medication]),
			records: vec![7].try_into().unwrap(),
		};
		assert!(scope.covers(Category::Medication, 1));
		assert!(scope.covers(Category::Imaging, 7));
		assert!(!scope.covers(Category::Imaging, 8));
		assert!(CategorySet::all().contains(Category::Other));
		assert!(!CategorySet::all().has_unknown_bits());
		assert!(CategorySet(1 << 12).has_unknown_bits());
	}

	#[test]
	fn purposes_parse_from_their_parameter_names() {
		assert_eq!(Purpose::from_param("treatment"), Some(Purpose::Treatment));
		assert_eq!(Purpose::from_param("emergency"), Some(Purpose::Emergency));
		assert_eq!(Purpose::from_param("research:42"), Some(Purpose::Research(42)));
		for bad in ["", "research:", "research:x", "Treatment", "care"] {
			assert_eq!(Purpose::from_param(bad), None, "{bad}");
		}
	}

	#[test]
	fn rights_sets() {
		assert!(Rights::READ.contains(Right::Read));
		assert!(!Rights::READ.contains(Right::Append));
		assert!(Rights::READ_APPEND.contains(Right::Append));
		assert!(!Rights(0).is_valid());
		assert!(!Rights(4).is_valid());
	}
}
