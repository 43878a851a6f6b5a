//! Synthetic FHIR R4 Bundles for the tests (the wallet's unit tests and `wallet/tests/e2e.rs`, which
//! includes this file) and the wallet benchmark: many resources that refer to each other by
//! `urn:uuid:` fullUrls, in each Bundle type a record set can come in.

#![allow(dead_code)]

use serde_json::{json, Value};

/// The `fullUrl` of entry `i` of the synthetic Bundle of `kind` (distinct between kinds).
pub fn full_url(kind: &str, i: usize) -> String {
	let tag = ["transaction", "batch", "collection", "document"].iter().position(|k| *k == kind).unwrap_or(9);
	format!("urn:uuid:5e0c1a2b-{tag:04}-4000-8000-{i:012}")
}

/// A Bundle of `kind` with `n` resources referring to each other by `urn:uuid:` fullUrls: a
/// Patient, Encounters of the Patient, Observations of an Encounter and the Patient, and (for a
/// document) a Composition first that refers to all of them.
pub fn synthetic_bundle(kind: &str, n: usize) -> Value {
	let url = |i: usize| full_url(kind, i);
	let mut entries = Vec::new();
	let first = if kind == "document" { 1 } else { 0 };
	for i in first..n {
		let resource = match i - first {
			0 => json!({"resourceType": "Patient", "name": [{"family": "Doe", "given": ["Jane"]}], "birthDate": "1970-01-01"}),
			k if k % 5 == 1 => json!({"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
				"subject": {"reference": url(first)}}),
			k => json!({"resourceType": "Observation", "status": "final", "code": {"text": format!("observation {k}")},
				"subject": {"reference": url(first)}, "encounter": {"reference": url(first + 1 + (k - 1) / 5 * 5)},
				"valueQuantity": {"value": k, "unit": "mmHg"}}),
		};
		let mut entry = json!({"fullUrl": url(i), "resource": resource});
		if kind == "transaction" || kind == "batch" {
			entry["request"] = json!({"method": "POST", "url": entry["resource"]["resourceType"]});
		}
		entries.push(entry);
	}
	if kind == "document" {
		let sections: Vec<Value> = (1..n).map(|i| json!({"reference": url(i)})).collect();
		entries.insert(0, json!({"fullUrl": url(0), "resource": {"resourceType": "Composition", "status": "final",
			"type": {"text": "summary"}, "date": "2026-12-05", "title": "Summary", "author": [{"display": "H1"}],
			"subject": {"reference": url(1)}, "section": [{"title": "All", "entry": sections}]}}));
	}
	json!({"resourceType": "Bundle", "type": kind, "identifier": {"system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{kind}-bundle")},
		"timestamp": "2026-12-05T00:00:00Z", "entry": entries})
}
