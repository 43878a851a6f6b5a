// Bundles added in the portal keep what makes them Bundles (wallet/src/fhir.rs does the same for
// the CLI, and wallet/tests/portal.rs has the CLI rebuild a Bundle the browser added): the
// manifest names each entry's record and keeps the rest of the Bundle, and the rebuilt Bundle is
// the one that went in, every reference resolving; entries left out are reported with the
// references they break.
import { describe, expect, it } from 'vitest';
import { BUNDLE_TYPES, bundleManifest, bundleType, isManifest, manifestEntries, rebuildBundle, references, splitBundle } from '../src/bundle';

/** A Bundle of `kind` with `n` observations of one patient, each referring to the patient by its
 *  `urn:uuid:` fullUrl (and a document's Composition listing them all). */
function synthetic(kind: string, n: number) {
  const uuid = (i: number) => `urn:uuid:0000000${i % 10}-0000-4000-8000-${String(i).padStart(12, '0')}`;
  const entry: any[] = [];
  const request = (type: string) => (kind === 'transaction' || kind === 'batch' ? { request: { method: 'POST', url: type } } : {});
  if (kind === 'document') {
    entry.push({ fullUrl: uuid(9999), resource: { resourceType: 'Composition', status: 'final', type: { text: 'Visit' }, date: '2026-12-01', title: 'Visit', author: [{ reference: uuid(0) }], subject: { reference: uuid(0) }, section: [{ entry: Array.from({ length: n }, (_, i) => ({ reference: uuid(i + 1) })) }] } });
  }
  entry.push({ fullUrl: uuid(0), resource: { resourceType: 'Patient', name: [{ family: 'Synthetic' }] }, ...request('Patient') });
  for (let i = 1; i <= n; i++) {
    entry.push({ fullUrl: uuid(i), resource: { resourceType: 'Observation', status: 'final', code: { text: 'Glucose' }, subject: { reference: uuid(0) }, valueQuantity: { value: 5.5 + i / 10, unit: 'mmol/L' } }, ...request('Observation') });
  }
  return { resourceType: 'Bundle', type: kind, identifier: { system: 'urn:ietf:rfc:3986', value: `urn:uuid:bundle-${kind}` }, ...(kind === 'document' ? { timestamp: '2026-12-01T10:00:00Z' } : {}), entry };
}

describe('Bundle manifests', () => {
  it('rebuild every Bundle type JSON-equal, every reference resolving', () => {
    for (const kind of BUNDLE_TYPES) {
      const original = synthetic(kind, 20);
      const bytes = new TextEncoder().encode(JSON.stringify(original));
      expect(bundleType(bytes)).toBe(kind);
      const split = splitBundle(bytes)!;
      const ids = split.map((_, i) => BigInt(100 + i));
      const manifest = JSON.parse(new TextDecoder().decode(bundleManifest(bytes, ids)));
      expect(isManifest(manifest)).toBe(true);
      expect(isManifest(original)).toBe(false);
      expect(manifest.entry.every((e: any) => e.resource === undefined)).toBe(true);
      expect(manifestEntries(manifest).map((e) => e.record)).toEqual(ids);
      const resources = new Map(split.map((r, i) => [ids[i], { resource: JSON.parse(new TextDecoder().decode(r.json)) }]));
      const { bundle, unresolved } = rebuildBundle(manifest, resources);
      expect(unresolved).toEqual([]);
      expect(bundle).toEqual(original);
      const urls = new Set(bundle.entry.map((e: any) => e.fullUrl));
      expect(bundle.entry.flatMap((e: any) => references(e.resource)).every((r: string) => urls.has(r))).toBe(true);
    }
  });

  it('reports an entry left out and the references it breaks', () => {
    const original = synthetic('collection', 3);
    const bytes = new TextEncoder().encode(JSON.stringify(original));
    const split = splitBundle(bytes)!;
    const ids = split.map((_, i) => BigInt(i));
    const manifest = JSON.parse(new TextDecoder().decode(bundleManifest(bytes, ids)));
    const resources = new Map<bigint, { resource: unknown } | { reason: string }>(split.map((r, i) => [ids[i], { resource: JSON.parse(new TextDecoder().decode(r.json)) }]));
    resources.set(0n, { reason: 'no grant covers it' });
    const { bundle, unresolved } = rebuildBundle(manifest, resources);
    expect(bundle.entry.length).toBe(3);
    expect(unresolved).toEqual([{ fullUrl: original.entry[0].fullUrl, record: 0n, reason: 'no grant covers it', referencedBy: original.entry.slice(1).map((e) => e.fullUrl) }]);
  });
});
