//! FHIR R4 Bundles: split into one record per resource (its category from `resourceType`), plus
//! one record holding the Bundle's MANIFEST: the Bundle itself (type, identifier, timestamp, every
//! entry's `fullUrl`, `request`, `response`, `search`, in order) with each entry's resource replaced
//! by the id of the record that holds it. Each record's plaintext is the resource's JSON, byte for
//! byte as serde_json writes it, so a resource reads back JSON-equal; `phr record export --bundle`
//! rebuilds the Bundle from its manifest, so every `urn:uuid:` (or other `fullUrl`) reference that
//! resolved in it still resolves; an entry the exporter may not read is left out and reported,
//! with every reference to it that then dangles.

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

/// The entry extension a manifest names an entry's record with (`valueString`: the record id).
pub const RECORD_EXTENSION: &str = "urn:phr:fhir:record";
/// The `meta.tag` that marks a record as a Bundle manifest.
const MANIFEST_TAG_SYSTEM: &str = "urn:phr:fhir";
const MANIFEST_TAG_CODE: &str = "bundle-manifest";
/// The Bundle types a manifest keeps and rebuilds.
pub const BUNDLE_TYPES: [&str; 4] = ["transaction", "batch", "collection", "document"];

/// The manifest of `bundle`, whose entries' resources became records `ids` (in entry order).
pub fn manifest(bundle: &[u8], ids: &[u64]) -> Result<Value> {
	let mut manifest: Value = serde_json::from_slice(bundle).map_err(|e| WalletError::Usage(format!("the Bundle is not JSON: {e}")))?;
	let entries = manifest.get_mut("entry").and_then(Value::as_array_mut).ok_or_else(|| WalletError::Usage("the Bundle has no entries".into()))?;
	if entries.len() != ids.len() {
		return Err(WalletError::Corrupt(format!("{} entries but {} records", entries.len(), ids.len())));
	}
	for (entry, id) in entries.iter_mut().zip(ids) {
		let entry = entry.as_object_mut().ok_or_else(|| WalletError::Usage("a Bundle entry is not an object".into()))?;
		entry.remove("resource");
		let extensions = entry.entry("extension").or_insert_with(|| json!([]));
		if let Some(list) = extensions.as_array_mut() {
			list.push(json!({ "url": RECORD_EXTENSION, "valueString": id.to_string() }));
		}
	}
	let meta = manifest.as_object_mut().expect("a Bundle is an object").entry("meta").or_insert_with(|| json!({}));
	let tags = meta.as_object_mut().ok_or_else(|| WalletError::Usage("the Bundle's meta is not an object".into()))?.entry("tag").or_insert_with(|| json!([]));
	if let Some(list) = tags.as_array_mut() {
		list.push(json!({ "system": MANIFEST_TAG_SYSTEM, "code": MANIFEST_TAG_CODE }));
	}
	Ok(manifest)
}

/// Whether `value` is a Bundle manifest this wallet wrote.
pub fn is_manifest(value: &Value) -> bool {
	value["resourceType"] == "Bundle" &&
		value["meta"]["tag"].as_array().is_some_and(|tags| {
			tags.iter().any(|t| t["system"] == MANIFEST_TAG_SYSTEM && t["code"] == MANIFEST_TAG_CODE)
		})
}

/// The record each entry of a manifest names, with the entry's `fullUrl`, in order.
pub fn manifest_entries(manifest: &Value) -> Vec<(Option<u64>, Option<String>)> {
	manifest["entry"]
		.as_array()
		.into_iter()
		.flatten()
		.map(|entry| {
			let record = entry["extension"]
				.as_array()
				.into_iter()
				.flatten()
				.find(|e| e["url"] == RECORD_EXTENSION)
				.and_then(|e| e["valueString"].as_str())
				.and_then(|id| id.parse().ok());
			(record, entry["fullUrl"].as_str().map(str::to_string))
		})
		.collect()
}

/// What an export left out: the entry (by `fullUrl` and record) and why, and the references
/// (in the resources exported) that pointed at it.
#[derive(Debug, PartialEq)]
pub struct Unresolved {
	pub full_url: Option<String>,
	pub record: Option<u64>,
	pub reason: String,
	pub referenced_by: Vec<String>,
}

/// The Bundle `manifest` was made from: each entry's resource from `resources` (by record id, or
/// the reason it is not there), the manifest's own marks removed.
pub fn rebuild(manifest: &Value, resources: &std::collections::BTreeMap<u64, std::result::Result<Value, String>>) -> (Value, Vec<Unresolved>) {
	let mut bundle = manifest.clone();
	if let Some(meta) = bundle.get_mut("meta").and_then(Value::as_object_mut) {
		if let Some(tags) = meta.get_mut("tag").and_then(Value::as_array_mut) {
			tags.retain(|t| !(t["system"] == MANIFEST_TAG_SYSTEM && t["code"] == MANIFEST_TAG_CODE));
			if tags.is_empty() {
				meta.remove("tag");
			}
		}
		if meta.is_empty() {
			bundle.as_object_mut().expect("an object").remove("meta");
		}
	}
	let mut unresolved = Vec::new();
	let mut kept = Vec::new();
	for (mut entry, (record, full_url)) in bundle["entry"].as_array().cloned().unwrap_or_default().into_iter().zip(manifest_entries(manifest)) {
		let object = entry.as_object_mut().expect("a manifest entry is an object");
		if let Some(list) = object.get_mut("extension").and_then(Value::as_array_mut) {
			list.retain(|e| e["url"] != RECORD_EXTENSION);
			if list.is_empty() {
				object.remove("extension");
			}
		}
		match record.map(|id| resources.get(&id).cloned().unwrap_or_else(|| Err("not read".into()))) {
			Some(Ok(resource)) => {
				object.insert("resource".into(), resource);
				kept.push(entry);
			},
			Some(Err(reason)) => unresolved.push(Unresolved { full_url, record, reason, referenced_by: Vec::new() }),
			None => unresolved.push(Unresolved { full_url, record, reason: "the manifest names no record".into(), referenced_by: Vec::new() }),
		}
	}
	for missing in &mut unresolved {
		let Some(url) = &missing.full_url else { continue };
		for entry in &kept {
			if references(&entry["resource"]).iter().any(|r| r == url) {
				missing.referenced_by.push(entry["fullUrl"].as_str().unwrap_or("(an entry without fullUrl)").to_string());
			}
		}
	}
	bundle["entry"] = Value::Array(kept);
	(bundle, unresolved)
}

/// Every `reference` string in a resource (FHIR `Reference.reference`), at any depth.
pub fn references(value: &Value) -> Vec<String> {
	let mut found = Vec::new();
	let mut stack = vec![value];
	while let Some(value) = stack.pop() {
		match value {
			Value::Object(map) => {
				if let Some(Value::String(reference)) = map.get("reference") {
					found.push(reference.clone());
				}
				stack.extend(map.values());
			},
			Value::Array(list) => stack.extend(list),
			_ => {},
		}
	}
	found
}

/// The category of a single file: a FHIR resource's from its `resourceType`, else `other`.
pub fn category_of_file(bytes: &[u8]) -> Category {
	serde_json::from_slice::<Value>(bytes)
		.ok()
		.and_then(|v| v.get("resourceType").and_then(Value::as_str).map(Category::from_fhir_resource_type))
		.unwrap_or(Category::Other)
}

/// A `collection` Bundle of `resources` (each a resource's JSON, with the `fullUrl` its Bundle gave
/// it, if any).
pub fn bundle(resources: &[(Option<String>, Vec<u8>)]) -> Result<Value> {
	let entries = resources
		.iter()
		.map(|(full_url, bytes)| {
			let resource = serde_json::from_slice::<Value>(bytes).map_err(|e| WalletError::Corrupt(format!("a record is not FHIR JSON: {e}")))?;
			Ok(match full_url {
				Some(url) => json!({ "fullUrl": url, "resource": resource }),
				None => json!({ "resource": resource }),
			})
		})
		.collect::<Result<Vec<_>>>()?;
	Ok(json!({ "resourceType": "Bundle", "type": "collection", "entry": entries }))
}

/// The R4 rules of a Bundle that an export must keep: a known `type`; each entry a resource with a
/// `resourceType`; `fullUrl`s absolute and unique (bdl-7); `transaction` and `batch` entries with a
/// `request` (method and url, bdl-3), `document` starting with a Composition (bdl-11), no `request`
/// in a `collection` or `document`.
pub fn check_bundle(bundle: &Value) -> std::result::Result<(), String> {
	if bundle["resourceType"] != "Bundle" {
		return Err("not a Bundle".into());
	}
	let kind = bundle["type"].as_str().unwrap_or_default();
	if !BUNDLE_TYPES.contains(&kind) && !["searchset", "history", "message", "transaction-response", "batch-response"].contains(&kind) {
		return Err(format!("Bundle.type '{kind}' is not an R4 bundle type"));
	}
	let mut urls = std::collections::BTreeSet::new();
	for (i, entry) in bundle["entry"].as_array().into_iter().flatten().enumerate() {
		if entry["resource"]["resourceType"].as_str().is_none_or(str::is_empty) {
			return Err(format!("entry {i} has no resource"));
		}
		if let Some(url) = entry.get("fullUrl") {
			let url = url.as_str().ok_or_else(|| format!("entry {i}'s fullUrl is not a string"))?;
			if !(url.starts_with("urn:uuid:") || url.starts_with("urn:oid:") || url.contains("://")) {
				return Err(format!("entry {i}'s fullUrl '{url}' is not absolute"));
			}
			if !urls.insert(url.to_string()) {
				return Err(format!("entry {i}'s fullUrl '{url}' is not unique"));
			}
		}
		let request = &entry["request"];
		match kind {
			"transaction" | "batch" if request["method"].as_str().is_none() || request["url"].as_str().is_none() =>
				return Err(format!("{kind} entry {i} has no request method and url")),
			"collection" | "document" if !request.is_null() => return Err(format!("{kind} entry {i} has a request")),
			"document" if i == 0 && entry["resource"]["resourceType"] != "Composition" =>
				return Err("a document's first entry is not a Composition".into()),
			_ => {},
		}
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::fhir_samples::synthetic_bundle;

	#[test]
	fn every_bundle_type_rebuilds_from_its_manifest_json_equal_with_every_reference_resolved() {
		for kind in BUNDLE_TYPES {
			let original = synthetic_bundle(kind, 60);
			check_bundle(&original).unwrap_or_else(|e| panic!("{kind}: the synthetic Bundle is valid R4: {e}"));
			let bytes = original.to_string();
			let resources = split_bundle(bytes.as_bytes()).unwrap().unwrap();
			let ids: Vec<u64> = (100..100 + resources.len() as u64).collect();
			let manifest = manifest(bytes.as_bytes(), &ids).unwrap();
			assert!(is_manifest(&manifest) && !is_manifest(&original));
			assert!(manifest["entry"].as_array().unwrap().iter().all(|e| e.get("resource").is_none()), "the manifest holds no resource");
			let read: std::collections::BTreeMap<u64, std::result::Result<Value, String>> =
				ids.iter().zip(&resources).map(|(id, r)| (*id, Ok(serde_json::from_slice(&r.json).unwrap()))).collect();
			let (rebuilt, unresolved) = rebuild(&manifest, &read);
			assert!(unresolved.is_empty(), "{kind}: {unresolved:?}");
			assert_eq!(rebuilt, original, "{kind}: the rebuilt Bundle is the original");
			check_bundle(&rebuilt).unwrap();
			let urls: Vec<&str> = rebuilt["entry"].as_array().unwrap().iter().filter_map(|e| e["fullUrl"].as_str()).collect();
			for entry in rebuilt["entry"].as_array().unwrap() {
				for reference in references(&entry["resource"]) {
					assert!(urls.contains(&reference.as_str()), "{kind}: {reference} resolves");
				}
			}
		}
	}

	#[test]
	fn an_entry_the_exporter_cannot_read_is_reported_with_the_references_it_breaks() {
		let original = synthetic_bundle("transaction", 12);
		let bytes = original.to_string();
		let resources = split_bundle(bytes.as_bytes()).unwrap().unwrap();
		let ids: Vec<u64> = (0..resources.len() as u64).collect();
		let manifest = manifest(bytes.as_bytes(), &ids).unwrap();
		let mut read: std::collections::BTreeMap<u64, std::result::Result<Value, String>> =
			ids.iter().zip(&resources).map(|(id, r)| (*id, Ok(serde_json::from_slice(&r.json).unwrap()))).collect();
		// The Encounter (entry 1), which the Observations 2..=5 refer to, was not shared.
		read.insert(1, Err("access denied: NoGrant".into()));
		let (rebuilt, unresolved) = rebuild(&manifest, &read);
		assert_eq!(rebuilt["entry"].as_array().unwrap().len(), 11);
		assert_eq!(unresolved.len(), 1);
		assert_eq!(unresolved[0].record, Some(1));
		assert_eq!(unresolved[0].reason, "access denied: NoGrant");
		let url = |i: usize| crate::fhir_samples::full_url("transaction", i);
		assert_eq!(unresolved[0].full_url.as_deref(), Some(url(1).as_str()));
		assert_eq!(unresolved[0].referenced_by, (2..=5).map(url).collect::<Vec<_>>());
	}

	#[test]
	fn the_r4_bundle_rules_refuse_what_they_should() {
		let mut bad = synthetic_bundle("transaction", 3);
		bad["entry"][1]["request"] = Value::Null;
		assert!(check_bundle(&bad).is_err());
		let mut bad = synthetic_bundle("collection", 3);
		bad["entry"][2]["fullUrl"] = bad["entry"][1]["fullUrl"].clone();
		assert!(check_bundle(&bad).is_err());
		let mut bad = synthetic_bundle("document", 3);
		bad["entry"].as_array_mut().unwrap().swap(0, 1);
		assert!(check_bundle(&bad).is_err());
		let mut bad = synthetic_bundle("batch", 3);
		bad["type"] = json!("bag");
		assert!(check_bundle(&bad).is_err());
	}

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
		let exported = bundle(&resources.into_iter().map(|r| (None, r.json)).collect::<Vec<_>>()).unwrap();
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
