//! FHIR R4 Bundles: split into one record per resource (its category from `resourceType`), and
//! exported back as a `collection` Bundle. Each record's plaintext is the resource's JSON, byte for
//! byte as serde_json writes it, so a round trip is JSON-equal.

use phr_primitives::Category;
use serde_json::{json, Value};

use crate::error::{Result, WalletError};

/// One resource of a Bundle, ready to be a record.
pub struct Resource {
	pub category: Category,
	pub resource_type: String,
	pub json: Vec<u8>,
}

/// The resources of `bytes` when it is a FHIR Bundle; `None` when it is not JSON or not a Bundle
/// (the file is then stored as one opaque record).
pub fn split_bundle(bytes: &[u8]) -> Result<Option<Vec<Resource>>> {
	let Ok(value) = serde_json::from_slice::<Value>(bytes) else { return Ok(None) };
	if value.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
		return Ok(None);
	}
	let entries = value.get("entry").and_then(Value::as_array).cloned().unwrap_or_default();
	let mut resources = Vec::with_capacity(entries.len());
	for (i, entry) in entries.into_iter().enumerate() {
		let resource = entry
			.get("resource")
			.cloned()
			.ok_or_else(|| WalletError::Usage(format!("Bundle entry {i} has no resource: fix the Bundle")))?;
		let resource_type = resource
			.get("resourceType")
			.and_then(Value::as_str)
			.ok_or_else(|| WalletError::Usage(format!("Bundle entry {i}'s resource has no resourceType: fix the Bundle")))?
			.to_string();
		resources.push(Resource {
			category: Category::from_fhir_resource_type(&resource_type),
			resource_type,
			json: serde_json::to_vec(&resource).expect("a JSON value serializes"),
		});
	}
	if resources.is_empty() {
		return Err(WalletError::Usage("the Bundle has no entries: nothing to add".into()));
	}
	Ok(Some(resources))
}

/// The category of a single file: a FHIR resource's from its `resourceType`, else `other`.
pub fn category_of_file(bytes: &[u8]) -> Category {
	serde_json::from_slice::<Value>(bytes)
		.ok()
		.and_then(|v| v.get("resourceType").and_then(Value::as_str).map(Category::from_fhir_resource_type))
		.unwrap_or(Category::Other)
}

/// A `collection` Bundle of `resources` (each a resource's JSON).
pub fn bundle(resources: &[Vec<u8>]) -> Result<Value> {
	let entries = resources
		.iter()
		.map(|bytes| {
			serde_json::from_slice::<Value>(bytes)
				.map(|resource| json!({ "resource": resource }))
				.map_err(|e| WalletError::Corrupt(format!("a record is not FHIR JSON: {e}")))
		})
		.collect::<Result<Vec<_>>>()?;
	Ok(json!({ "resourceType": "Bundle", "type": "collection", "entry": entries }))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_bundle_splits_by_resource_and_exports_json_equal() {
		let input = json!({
			"resourceType": "Bundle", "type": "collection",
			"entry": [
				{"resource": {"resourceType": "Observation", "id": "bp", "status": "final", "valueQuantity": {"value": 120, "unit": "mmHg"}}},
				{"resource": {"resourceType": "MedicationStatement", "id": "m1", "status": "active"}},
				{"resource": {"resourceType": "AllergyIntolerance", "id": "a1", "code": {"text": "penicillin"}}},
				{"resource": {"resourceType": "Patient", "id": "p"}}
			]
		});
		let resources = split_bundle(input.to_string().as_bytes()).unwrap().unwrap();
		let categories: Vec<Category> = resources.iter().map(|r| r.category).collect();
		assert_eq!(categories, vec![Category::Observation, Category::Medication, Category::Allergy, Category::Other]);
		let exported = bundle(&resources.into_iter().map(|r| r.json).collect::<Vec<_>>()).unwrap();
		assert_eq!(exported, input);
	}

	#[test]
	fn non_bundles_and_bad_bundles() {
		assert!(split_bundle(b"\x00\x01 binary").unwrap().is_none());
		assert!(split_bundle(br#"{"resourceType":"Observation"}"#).unwrap().is_none());
		assert_eq!(category_of_file(br#"{"resourceType":"Immunization"}"#), Category::Immunization);
		assert_eq!(category_of_file(b"plain text"), Category::Other);
		assert!(split_bundle(br#"{"resourceType":"Bundle","entry":[{"fullUrl":"x"}]}"#).is_err());
		assert!(split_bundle(br#"{"resourceType":"Bundle","entry":[]}"#).is_err());
	}
}
