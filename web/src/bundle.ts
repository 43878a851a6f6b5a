// FHIR R4 Bundles as the `phr` wallet splits and exports them (wallet/src/fhir.rs): one record per
// resource, its category from `resourceType`, its plaintext the resource's JSON as serde_json
// writes it (object keys in sorted order, no spaces), so a record added here and one added by the
// CLI are the same bytes. Checked against the Rust side's split in web/tests/crypto.test.ts.

import { UserError } from './errors';

const CATEGORIES: [string, string[]][] = [
  ['observation', ['Observation', 'VitalSigns', 'DiagnosticReport', 'Specimen', 'MolecularSequence']],
  ['condition', ['Condition', 'ClinicalImpression', 'FamilyMemberHistory', 'RiskAssessment', 'DetectedIssue']],
  ['medication', ['Medication', 'MedicationRequest', 'MedicationStatement', 'MedicationAdministration', 'MedicationDispense']],
  ['immunization', ['Immunization', 'ImmunizationRecommendation', 'ImmunizationEvaluation']],
  ['allergy', ['AllergyIntolerance']],
  ['procedure', ['Procedure', 'ServiceRequest', 'CarePlan']],
  ['imaging', ['ImagingStudy', 'Media']],
  ['document', ['DocumentReference', 'Composition', 'Binary', 'DocumentManifest']],
];
/** The chain's categories, in the runtime's order (`Category` in primitives/src/records.rs). */
export const CATEGORY_NAMES = ['observation', 'condition', 'medication', 'immunization', 'allergy', 'procedure', 'imaging', 'document', 'other'];

export const categoryOf = (resourceType: string): string =>
  CATEGORIES.find(([, types]) => types.includes(resourceType))?.[0] ?? 'other';

/** A JSON number as serde_json writes it back: integers as written, floats in shortest form with
 *  ".0" when integral (serde_json parses "1.0" as a float and keeps it one). */
class JsonNumber {
  constructor(readonly lexeme: string) {}
  toString(): string {
    if (!/[.eE]/.test(this.lexeme)) return this.lexeme.replace(/^-0$/, '-0');
    const text = String(Number(this.lexeme));
    return /[.eE]|Infinity|NaN/.test(text) ? text : `${text}.0`;
  }
}

/** Parses JSON keeping each number's lexeme (JSON.parse would turn 1.0 into 1). */
function parseJson(text: string): unknown {
  let at = 0;
  const ws = () => {
    while (at < text.length && ' \t\n\r'.includes(text[at])) at++;
  };
  const fail = (): never => {
    throw new SyntaxError(`not JSON at ${at}`);
  };
  const value = (): unknown => {
    ws();
    const c = text[at];
    if (c === '{') {
      at++;
      const object: Record<string, unknown> = {};
      ws();
      if (text[at] === '}') return at++, object;
      for (;;) {
        ws();
        if (text[at] !== '"') fail();
        const key = string();
        ws();
        if (text[at++] !== ':') fail();
        object[key] = value();
        ws();
        if (text[at] === ',') at++;
        else if (text[at++] === '}') return object;
        else fail();
      }
    }
    if (c === '[') {
      at++;
      const array: unknown[] = [];
      ws();
      if (text[at] === ']') return at++, array;
      for (;;) {
        array.push(value());
        ws();
        if (text[at] === ',') at++;
        else if (text[at++] === ']') return array;
        else fail();
      }
    }
    if (c === '"') return string();
    const literal = /^(-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(at, at + 400));
    if (!literal) fail();
    at += literal![0].length;
    const word = literal![0];
    return word === 'true' ? true : word === 'false' ? false : word === 'null' ? null : new JsonNumber(word);
  };
  const string = (): string => {
    const start = at;
    at++;
    while (at < text.length && text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
    if (at >= text.length) fail();
    at++;
    return JSON.parse(text.slice(start, at));
  };
  const result = value();
  ws();
  if (at !== text.length) fail();
  return result;
}

/** JSON text as serde_json writes a `Value`: keys sorted, compact, numbers as it keeps them. */
export function canonicalJson(value: unknown): string {
  if (value instanceof JsonNumber) return value.toString();
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as any)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export type Resource = { category: string; resourceType: string; json: Uint8Array };

/** The resources of a Bundle, or null when `bytes` is not a JSON Bundle (one opaque record). */
export function splitBundle(bytes: Uint8Array): Resource[] | null {
  let value: any;
  try {
    value = parseJson(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object' || (value as any).resourceType !== 'Bundle') return null;
  const entries: any[] = Array.isArray(value.entry) ? value.entry : [];
  if (entries.length === 0) throw new UserError('The Bundle has no entries: there is nothing to add.');
  return entries.map((entry, i) => {
    const resource = entry?.resource;
    if (!resource || typeof resource !== 'object') throw new UserError(`Bundle entry ${i} has no resource: fix the Bundle and try again.`);
    if (typeof resource.resourceType !== 'string') throw new UserError(`Bundle entry ${i}'s resource has no resourceType: fix the Bundle and try again.`);
    return { category: categoryOf(resource.resourceType), resourceType: resource.resourceType, json: new TextEncoder().encode(canonicalJson(resource)) };
  });
}

/** The category of a single file: a FHIR resource's from its `resourceType`, else `other`. */
export function categoryOfFile(bytes: Uint8Array): string {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes));
    return typeof value?.resourceType === 'string' ? categoryOf(value.resourceType) : 'other';
  } catch {
    return 'other';
  }
}

/** A `collection` Bundle of resources, each with the `fullUrl` its Bundle gave it when known
 *  (export of every record). */
export const exportBundle = (resources: { fullUrl?: string | null; resource: unknown }[]) => ({
  resourceType: 'Bundle', type: 'collection',
  entry: resources.map(({ fullUrl, resource }) => (fullUrl ? { fullUrl, resource } : { resource })),
});

// ---- Bundle manifests, as the CLI writes them (wallet/src/fhir.rs: manifest, rebuild) ----

/** The entry extension a manifest names an entry's record with (`valueString`: the record id). */
const RECORD_EXTENSION = 'urn:phr:fhir:record';
const MANIFEST_TAG = { system: 'urn:phr:fhir', code: 'bundle-manifest' };
/** The Bundle types a manifest keeps and rebuilds. */
export const BUNDLE_TYPES = ['transaction', 'batch', 'collection', 'document'];

/** The Bundle's `type`, for a JSON Bundle. */
export function bundleType(bytes: Uint8Array): string {
  try {
    return String((parseJson(new TextDecoder().decode(bytes)) as any)?.type ?? '');
  } catch {
    return '';
  }
}

/** The manifest of the Bundle `bytes`, whose entries' resources became records `ids` (in entry
 *  order): the Bundle without its resources, each entry naming its record, tagged as a manifest.
 *  The same bytes as the CLI's manifest of the same Bundle. */
export function bundleManifest(bytes: Uint8Array, ids: bigint[]): Uint8Array {
  const manifest: any = parseJson(new TextDecoder().decode(bytes));
  const entries: any[] = manifest.entry;
  if (!Array.isArray(entries) || entries.length !== ids.length) throw new UserError(`The Bundle has ${entries?.length} entries but ${ids.length} records were added: reload the page.`);
  entries.forEach((entry, i) => {
    delete entry.resource;
    if (!Array.isArray(entry.extension)) entry.extension = entry.extension ?? [];
    if (Array.isArray(entry.extension)) entry.extension.push({ url: RECORD_EXTENSION, valueString: ids[i].toString() });
  });
  manifest.meta = manifest.meta ?? {};
  manifest.meta.tag = manifest.meta.tag ?? [];
  if (Array.isArray(manifest.meta.tag)) manifest.meta.tag.push({ ...MANIFEST_TAG });
  return new TextEncoder().encode(canonicalJson(manifest));
}

/** Whether `value` is a Bundle manifest a wallet wrote. */
export const isManifest = (value: any): boolean =>
  value?.resourceType === 'Bundle' && Array.isArray(value?.meta?.tag) &&
  value.meta.tag.some((t: any) => t?.system === MANIFEST_TAG.system && t?.code === MANIFEST_TAG.code);

/** The record each entry of a manifest names, with the entry's `fullUrl`, in order. */
export function manifestEntries(manifest: any): { record: bigint | null; fullUrl: string | null }[] {
  return (Array.isArray(manifest?.entry) ? manifest.entry : []).map((entry: any) => {
    const named = (Array.isArray(entry?.extension) ? entry.extension : []).find((e: any) => e?.url === RECORD_EXTENSION)?.valueString;
    return {
      record: typeof named === 'string' && /^\d+$/.test(named) ? BigInt(named) : null,
      fullUrl: typeof entry?.fullUrl === 'string' ? entry.fullUrl : null,
    };
  });
}

/** Every `reference` string inside a resource. */
export function references(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => references(v, found));
  else if (value && typeof value === 'object') {
    const reference = (value as any).reference;
    if (typeof reference === 'string') found.push(reference);
    Object.values(value).forEach((v) => references(v, found));
  }
  return found;
}

export type Unresolved = { fullUrl: string | null; record: bigint | null; reason: string; referencedBy: string[] };

/** The Bundle `manifest` was made from: each entry's resource from `resources` (by record id: the
 *  resource, or why it is not there), the manifest's own marks removed; entries left out are
 *  reported with the entries whose references now dangle. */
export function rebuildBundle(manifest: any, resources: Map<bigint, { resource: unknown } | { reason: string }>): { bundle: any; unresolved: Unresolved[] } {
  const bundle = JSON.parse(JSON.stringify(manifest));
  if (bundle.meta && Array.isArray(bundle.meta.tag)) {
    bundle.meta.tag = bundle.meta.tag.filter((t: any) => !(t?.system === MANIFEST_TAG.system && t?.code === MANIFEST_TAG.code));
    if (bundle.meta.tag.length === 0) delete bundle.meta.tag;
    if (Object.keys(bundle.meta).length === 0) delete bundle.meta;
  }
  const unresolved: Unresolved[] = [];
  const kept: any[] = [];
  const named = manifestEntries(manifest);
  (Array.isArray(bundle.entry) ? bundle.entry : []).forEach((entry: any, i: number) => {
    if (Array.isArray(entry.extension)) {
      entry.extension = entry.extension.filter((e: any) => e?.url !== RECORD_EXTENSION);
      if (entry.extension.length === 0) delete entry.extension;
    }
    const { record, fullUrl } = named[i];
    const found = record === null ? { reason: 'the manifest names no record' } : resources.get(record) ?? { reason: 'not read' };
    if ('resource' in found) {
      entry.resource = found.resource;
      kept.push(entry);
    } else unresolved.push({ fullUrl, record, reason: found.reason, referencedBy: [] });
  });
  for (const missing of unresolved) {
    if (!missing.fullUrl) continue;
    for (const entry of kept) {
      if (references(entry.resource).includes(missing.fullUrl)) missing.referencedBy.push(entry.fullUrl ?? '(an entry without fullUrl)');
    }
  }
  bundle.entry = kept;
  return { bundle, unresolved };
}
