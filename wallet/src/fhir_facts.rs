//! FHIR R4 out of the chain's facts, for hospital systems to ingest: grants as `Consent` resources
//! (`phr grants --fhir`) and the audit trail and the verified read receipts as `AuditEvent`s
//! (`phr audit --fhir`), each set in a `collection` Bundle. Everything rendered was read with
//! proofs (docs/verified-reads.md).
//!
//! Accounts are identifiers in the system [`ACCOUNT_SYSTEM`] (SS58 addresses), records in
//! [`RECORD_SYSTEM`]; chain block numbers travel in the extension [`BLOCK_EXTENSION`].

use phr_primitives::{AuditAction, AuditEntry, Grant, GrantId, Grantee, Right};
use phr_runtime::{AccountId, BlockNumber};
use serde_json::{json, Value};
use sp_core::crypto::Ss58Codec;

pub const ACCOUNT_SYSTEM: &str = "urn:phr:account";
pub const RECORD_SYSTEM: &str = "urn:phr:record";
pub const BLOCK_EXTENSION: &str = "urn:phr:fhir:block";
const CATEGORY_SYSTEM: &str = "urn:phr:category";
const ACTION_SYSTEM: &str = "urn:phr:audit-action";

fn account(who: &AccountId) -> Value {
	json!({ "identifier": { "system": ACCOUNT_SYSTEM, "value": who.to_ss58check() } })
}

fn record(id: u64) -> Value {
	json!({ "identifier": { "system": RECORD_SYSTEM, "value": id.to_string() } })
}

fn block(number: BlockNumber) -> Value {
	json!([{ "url": BLOCK_EXTENSION, "valueUnsignedInt": number }])
}

/// Unix milliseconds as a FHIR instant (UTC).
pub fn instant(ms: u64) -> String {
	let (days, rest) = ((ms / 86_400_000) as i64, ms % 86_400_000);
	// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
	let z = days + 719_468;
	let era = z.div_euclid(146_097);
	let doe = z - era * 146_097;
	let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
	let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	let mp = (5 * doy + 2) / 153;
	let day = doy - (153 * mp + 2) / 5 + 1;
	let month = if mp < 10 { mp + 3 } else { mp - 9 };
	let year = yoe + era * 400 + i64::from(month <= 2);
	let (h, m, s, milli) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60, rest % 1000);
	format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// A grant as a FHIR `Consent`: a privacy consent of the patient that permits the grantee (an
/// account, a role at a hospital, or an attribute policy) to access (read) and/or add to (append)
/// the categories and records it covers, until it expires.
pub fn consent(id: GrantId, grant: &Grant<AccountId, BlockNumber>, now_ms: u64) -> Value {
	let terms = &grant.terms;
	let actor_reference = match &terms.grantee {
		Grantee::Account(who) => account(who),
		Grantee::HospitalRole { hospital, role } => json!({ "display": format!("{} staff of hospital {hospital}", role.as_str()) }),
		Grantee::Policy(policy) => json!({ "display": format!("staff matching {policy:?}") }),
	};
	let mut actions = Vec::new();
	if terms.rights.contains(Right::Read) {
		actions.push(json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "access" }] }));
	}
	if terms.rights.contains(Right::Append) {
		actions.push(json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "collect" }] }));
	}
	let classes: Vec<Value> = phr_primitives::Category::ALL
		.iter()
		.filter(|c| terms.scope.categories.contains(**c))
		.map(|c| json!({ "system": CATEGORY_SYSTEM, "code": c.as_str() }))
		.collect();
	let data: Vec<Value> = terms.scope.records.iter().map(|r| json!({ "meaning": "related", "reference": record(*r) })).collect();
	let mut provision = json!({
		"type": "permit",
		"period": { "end": instant(terms.expires_at) },
		"actor": [{
			"role": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP" }] },
			"reference": actor_reference,
		}],
		"action": actions,
	});
	if !classes.is_empty() {
		provision["class"] = Value::Array(classes);
	}
	if !data.is_empty() {
		provision["data"] = Value::Array(data);
	}
	json!({
		"resourceType": "Consent",
		"id": format!("grant-{id}"),
		"extension": block(grant.granted_at),
		"identifier": [{ "system": "urn:phr:grant", "value": id.to_string() }],
		"status": if terms.expires_at > now_ms { "active" } else { "inactive" },
		"scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy" }] },
		"category": [{ "coding": [{ "system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent" }] }],
		"patient": account(&grant.patient),
		"performer": [account(&grant.granted_by)],
		"policyRule": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN" }] },
		"provision": provision,
	})
}

/// The CRUDE action of an audit trail entry.
fn crude(action: &AuditAction<AccountId>) -> &'static str {
	match action {
		AuditAction::GrantAdded { .. } | AuditAction::RecordRegistered { .. } | AuditAction::GuardianAppointed { .. } |
		AuditAction::ConsentGiven { .. } => "C",
		AuditAction::GrantExpiryAmended { .. } | AuditAction::RecordAmended { .. } | AuditAction::DataKeyRotated { .. } => "U",
		AuditAction::GrantRevoked { .. } | AuditAction::GrantExpired { .. } | AuditAction::RecordErased { .. } |
		AuditAction::GuardianRemoved { .. } | AuditAction::ConsentWithdrawn { .. } => "D",
		AuditAction::EmergencyOpened { .. } | AuditAction::EmergencyReviewed { .. } => "E",
	}
}

/// An audit trail entry as an `AuditEvent`, recorded by the chain at its block.
pub fn trail_event(patient: &AccountId, index: usize, entry: &AuditEntry<AccountId, BlockNumber>, now_ms: u64) -> Value {
	let name = format!("{:?}", entry.action);
	let code = name.split([' ', '{', '(']).next().unwrap_or_default().to_string();
	let mut entities = vec![json!({ "what": account(patient), "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1" }, "description": name })];
	let touched = match &entry.action {
		AuditAction::RecordRegistered { record } | AuditAction::DataKeyRotated { record } | AuditAction::RecordAmended { record, .. } => Some(*record),
		AuditAction::RecordErased { root } => Some(*root),
		_ => None,
	};
	if let Some(id) = touched {
		entities.push(json!({ "what": record(id), "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2" } }));
	}
	json!({
		"resourceType": "AuditEvent",
		"id": format!("trail-{index}"),
		"extension": block(entry.at),
		"type": { "system": ACTION_SYSTEM, "code": code },
		"action": crude(&entry.action),
		"recorded": instant(now_ms),
		"outcome": "0",
		"agent": [{ "who": account(&entry.actor), "requestor": true }],
		"source": { "observer": { "display": format!("PHR consortium chain, block {}", entry.at) } },
		"entity": entities,
	})
}

/// A verified read receipt as an `AuditEvent`: who read which record, through which hospital's
/// node, on what basis; the read happened before its signed request expired.
pub fn read_event(read: &Value, now_ms: u64) -> Value {
	let reader = read["reader"].as_str().unwrap_or_default();
	json!({
		"resourceType": "AuditEvent",
		"id": format!("read-{}-{}", read["batch"], read["index"]),
		"extension": [{ "url": BLOCK_EXTENSION, "valueUnsignedInt": read["anchoredAt"] }],
		"type": { "system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110110", "display": "Patient Record" },
		"action": "R",
		"period": { "end": instant(read["requestExpiresAt"].as_u64().unwrap_or_default()) },
		"recorded": instant(now_ms),
		"outcome": if read["verified"] == true { "0" } else { "4" },
		"purposeOfEvent": [{ "text": read["basis"] }],
		"agent": [{ "who": { "identifier": { "system": ACCOUNT_SYSTEM, "value": reader } }, "requestor": true }],
		"source": { "observer": { "display": format!("node of hospital {}", read["hospital"]) } },
		"entity": [{ "what": record(read["record"].as_u64().unwrap_or_default()),
			"type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2" } }],
	})
}

/// A `collection` Bundle of resources.
pub fn collection(resources: Vec<Value>) -> Value {
	let entries: Vec<Value> = resources.into_iter().map(|resource| json!({ "resource": resource })).collect();
	json!({ "resourceType": "Bundle", "type": "collection", "entry": entries })
}

/// The R4 rules of `Consent` this output must keep: the required elements and their value sets
/// (status, scope, category, a patient for a privacy consent: ppc-2, a policy or policy rule:
/// ppc-1), a provision's type, and identifiers with a system and value.
pub fn check_consent(consent: &Value) -> Result<(), String> {
	if consent["resourceType"] != "Consent" {
		return Err("not a Consent".into());
	}
	let status = consent["status"].as_str().unwrap_or_default();
	if !["draft", "proposed", "active", "rejected", "inactive", "entered-in-error"].contains(&status) {
		return Err(format!("status '{status}'"));
	}
	if consent["scope"]["coding"][0]["code"].as_str().is_none() {
		return Err("no scope".into());
	}
	if consent["category"].as_array().is_none_or(Vec::is_empty) {
		return Err("no category".into());
	}
	if consent["scope"]["coding"][0]["code"] == "patient-privacy" && consent["patient"].is_null() {
		return Err("a privacy consent without a patient (ppc-2)".into());
	}
	if consent["policy"].is_null() && consent["policyRule"].is_null() {
		return Err("neither policy nor policyRule (ppc-1)".into());
	}
	if !["deny", "permit"].contains(&consent["provision"]["type"].as_str().unwrap_or_default()) {
		return Err("a provision without type deny or permit".into());
	}
	check_identifiers(consent)
}

/// The R4 rules of `AuditEvent` this output must keep: type, recorded (an instant), a CRUDE action,
/// an outcome code, at least one agent each with `requestor`, a source with an observer.
pub fn check_audit_event(event: &Value) -> Result<(), String> {
	if event["resourceType"] != "AuditEvent" {
		return Err("not an AuditEvent".into());
	}
	if event["type"]["code"].as_str().is_none() {
		return Err("no type".into());
	}
	let recorded = event["recorded"].as_str().unwrap_or_default();
	if recorded.len() != 24 || !recorded.ends_with('Z') || recorded.as_bytes()[10] != b'T' {
		return Err(format!("recorded '{recorded}' is not an instant"));
	}
	if !["C", "R", "U", "D", "E"].contains(&event["action"].as_str().unwrap_or_default()) {
		return Err("action is not C, R, U, D or E".into());
	}
	if !["0", "4", "8", "12"].contains(&event["outcome"].as_str().unwrap_or_default()) {
		return Err("outcome is not 0, 4, 8 or 12".into());
	}
	let agents = event["agent"].as_array().filter(|a| !a.is_empty()).ok_or("no agent")?;
	if agents.iter().any(|a| !a["requestor"].is_boolean()) {
		return Err("an agent without requestor".into());
	}
	if event["source"]["observer"].is_null() {
		return Err("a source without observer".into());
	}
	check_identifiers(event)
}

/// Every `identifier` object has a system and a value.
fn check_identifiers(value: &Value) -> Result<(), String> {
	let mut stack = vec![value];
	while let Some(value) = stack.pop() {
		match value {
			Value::Object(map) => {
				if let Some(identifier) = map.get("identifier").filter(|i| i.is_object()) {
					if identifier["system"].as_str().is_none() || identifier["value"].as_str().is_none_or(str::is_empty) {
						return Err(format!("an identifier without system or value: {identifier}"));
					}
				}
				stack.extend(map.values());
			},
			Value::Array(list) => stack.extend(list),
			_ => {},
		}
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;
	use phr_primitives::{AttributePolicy, Category, CategorySet, Conditions, GrantTerms, PolicyHospitals, Rights, Role, RoleSet, Scope};
	use sp_keyring::Sr25519Keyring;

	#[test]
	fn instants_are_utc_dates() {
		assert_eq!(instant(0), "1970-01-01T00:00:00.000Z");
		assert_eq!(instant(951_782_400_123), "2000-02-29T00:00:00.123Z");
		assert_eq!(instant(1_796_428_800_000 + 3_723_004), "2026-12-05T01:02:03.004Z");
	}

	#[test]
	fn every_grant_and_audit_entry_renders_as_valid_r4() {
		let (bob, eve) = (Sr25519Keyring::Bob.to_account_id(), Sr25519Keyring::Eve.to_account_id());
		let grantees = [
			Grantee::Account(eve.clone()),
			Grantee::HospitalRole { hospital: 2, role: Role::Physician },
			Grantee::Policy(AttributePolicy {
				roles: RoleSet::from_roles(&[Role::Physician]),
				hospitals: PolicyHospitals::ConsortiumWide,
				departments: Default::default(),
				facilities: Default::default(),
			}),
		];
		for (i, grantee) in grantees.into_iter().enumerate() {
			let grant = Grant {
				patient: bob.clone(),
				terms: GrantTerms {
					grantee,
					scope: Scope { categories: CategorySet::from_categories(&[Category::Observation]), records: vec![7].try_into().unwrap() },
					rights: Rights(Rights::READ.0 | Rights::APPEND.0),
					expires_at: 2_000_000_000_000,
					conditions: Conditions::default(),
				},
				granted_by: bob.clone(),
				granted_at: 12,
			};
			let rendered = consent(i as u64, &grant, 1_000);
			check_consent(&rendered).unwrap_or_else(|e| panic!("{rendered}: {e}"));
			assert_eq!(rendered["status"], "active");
			assert_eq!(consent(0, &grant, 3_000_000_000_000)["status"], "inactive");
		}
		let mut bad = consent(0, &Grant { patient: bob.clone(), terms: GrantTerms { grantee: Grantee::Account(eve.clone()),
			scope: Scope { categories: CategorySet::all(), records: Default::default() }, rights: Rights::default(), expires_at: 0,
			conditions: Conditions::default() }, granted_by: bob.clone(), granted_at: 1 }, 0);
		bad["policyRule"] = Value::Null;
		assert!(check_consent(&bad).is_err());

		let actions = [
			AuditAction::GrantAdded { grant: 1 },
			AuditAction::RecordRegistered { record: 3 },
			AuditAction::RecordErased { root: 3 },
			AuditAction::EmergencyOpened { emergency: 0 },
			AuditAction::GuardianAppointed { guardian: eve.clone() },
		];
		for (i, action) in actions.into_iter().enumerate() {
			let event = trail_event(&bob, i, &AuditEntry { at: 40, actor: bob.clone(), action }, 1_796_428_800_000);
			check_audit_event(&event).unwrap_or_else(|e| panic!("{event}: {e}"));
		}
		let read = json!({ "batch": 0, "index": 2, "hospital": 3, "anchoredAt": 55, "reader": eve.to_ss58check(), "record": 9,
			"basis": "Grant(1)", "verified": true, "requestExpiresAt": 1_796_428_800_000u64 });
		let event = read_event(&read, 1_796_428_900_000);
		check_audit_event(&event).unwrap();
		assert_eq!(event["action"], "R");
		let mut bad = event.clone();
		bad["agent"][0].as_object_mut().unwrap().remove("requestor");
		assert!(check_audit_event(&bad).is_err());
	}
}
