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

/** A `collection` Bundle of resources (export). */
export const exportBundle = (resources: unknown[]) => ({ resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) });
