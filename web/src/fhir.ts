/**
 * Readable display of FHIR R4 resources: plain functions, no DOM.
 *
 * Input is patient data of unknown shape (other systems, old exports, hand edits), so every
 * accessor is defensive and nothing here throws. Output is plain text: escaping is the
 * renderer's job (Preact does it for text nodes; chart.ts does it for SVG markup).
 */

export type Row = { label: string; value: string }
export type Summary = { title: string; subtitle: string; rows: Row[] }
export type Point = { t: number; value: number }
export type Series = { unit: string; points: Point[] }

type Obj = Record<string, any>

const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x)
const arr = (x: unknown): any[] => (Array.isArray(x) ? x : [])

/** A primitive as text; objects, arrays, null and NaN give '' so "[object Object]" never shows. */
function str(x: unknown): string {
  if (typeof x === 'string') return x.trim()
  if (typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x))) return String(x)
  return ''
}

/** Text of a CodeableConcept (or an array of them): text, else the first coding display, else code. */
function concept(cc: unknown): string {
  if (Array.isArray(cc)) return [...new Set(cc.map(concept).filter(Boolean))].join(', ')
  if (!isObj(cc)) return str(cc) // some producers put a bare string where a concept belongs
  const codings = arr(cc.coding).filter(isObj)
  return str(cc.text) || codings.map((c) => str(c.display)).find(Boolean) || codings.map((c) => str(c.code)).find(Boolean) || ''
}

const codes = (cc: unknown): string[] => (isObj(cc) ? arr(cc.coding).map((c) => str(c?.code)) : [])
const unitOf = (q: unknown): string => (isObj(q) ? str(q.unit) || str(q.code) : '')

function quantity(q: unknown): string {
  if (!isObj(q) || !str(q.value)) return ''
  return `${str(q.comparator)}${str(q.value)} ${unitOf(q)}`.trim()
}

function range(r: unknown): string {
  if (!isObj(r)) return ''
  const lo = quantity(r.low), hi = quantity(r.high)
  return lo && hi ? `${lo} – ${hi}` : lo ? `≥ ${lo}` : hi ? `≤ ${hi}` : str(r.text)
}

/** "2024-03-01T10:15:00+01:00" → "2024-03-01 10:15" (wall-clock time as recorded); dates pass through. */
function date(x: unknown): string {
  const s = str(x)
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(s)
  return m ? `${m[1]} ${m[2]}` : s
}

/** First non-empty date among candidates (e.g. effectiveDateTime, then effectivePeriod.start). */
const firstDate = (...xs: unknown[]): string => xs.map(date).find(Boolean) ?? ''

const reference = (r: unknown): string => (isObj(r) ? str(r.display) || str(r.reference) : '')

/** Rows from [label, value] pairs, dropping empty values. */
const rows = (...pairs: [string, string][]): Row[] =>
  pairs.filter(([, v]) => v).map(([label, value]) => ({ label, value }))

const join = (...parts: string[]): string => parts.filter(Boolean).join(' · ')

function observationValue(o: Obj): string {
  return (
    quantity(o.valueQuantity) || str(o.valueString) || concept(o.valueCodeableConcept) ||
    str(o.valueInteger) || str(o.valueBoolean) || range(o.valueRange) || date(o.valueDateTime)
  )
}

const SYSTOLIC = '8480-6', DIASTOLIC = '8462-4' // LOINC

/** Blood pressure as "128/82 mmHg" from its systolic/diastolic components, plus the components used. */
function bloodPressure(components: Obj[]): { text: string; used: Obj[] } | null {
  const find = (code: string, word: RegExp) =>
    components.find((c) => codes(c.code).includes(code) || word.test(concept(c.code)))
  const sys = find(SYSTOLIC, /systolic/i), dia = find(DIASTOLIC, /diastolic/i)
  if (!sys || !dia) return null
  const s = str(sys.valueQuantity?.value), d = str(dia.valueQuantity?.value)
  const su = unitOf(sys.valueQuantity), du = unitOf(dia.valueQuantity)
  if (!s || !d || (su && du && su !== du)) return null
  return { text: `${s}/${d} ${su || du}`.trim(), used: [sys, dia] }
}

function observation(o: Obj): Summary {
  const components = arr(o.component).filter(isObj)
  const bp = bloodPressure(components)
  const value = observationValue(o) || bp?.text || ''
  const when = firstDate(o.effectiveDateTime, o.effectivePeriod?.start, o.effectiveInstant, o.issued)
  const refRange = arr(o.referenceRange).filter(isObj).map((r) => str(r.text) || range(r)).find(Boolean) ?? ''
  return {
    title: concept(o.code) || 'Observation',
    subtitle: join(value, when),
    rows: [
      ...rows(['Value', value]),
      // Components not already folded into the blood-pressure value.
      ...components
        .filter((c) => !bp?.used.includes(c))
        .map((c) => ({ label: concept(c.code) || 'Component', value: observationValue(c) }))
        .filter((r) => r.value),
      ...rows(
        ['Interpretation', concept(o.interpretation)],
        ['Reference range', refRange],
        ['Date', when],
        ['Status', str(o.status)],
        ['Category', concept(o.category)],
        ['Note', arr(o.note).map((n) => str(n?.text)).filter(Boolean).join('; ')],
      ),
    ],
  }
}

function medication(m: Obj): Summary {
  const dosage = arr(m.dosage ?? m.dosageInstruction).map((d) => str(d?.text)).filter(Boolean).join('; ')
  const when = firstDate(m.effectiveDateTime, m.effectivePeriod?.start, m.authoredOn, m.dateAsserted)
  return {
    title: concept(m.medicationCodeableConcept) || reference(m.medicationReference) || 'Medication',
    subtitle: join(dosage, str(m.status)),
    rows: rows(
      ['Dosage', dosage],
      ['Status', str(m.status)],
      ['Intent', str(m.intent)],
      ['Reason', concept(m.reasonCode)],
      ['Prescriber', reference(m.requester)],
      ['Date', when],
    ),
  }
}

function allergy(a: Obj): Summary {
  const reactions = arr(a.reaction).filter(isObj)
  const manifestations = [...new Set(reactions.flatMap((r) => arr(r.manifestation).map(concept)).filter(Boolean))].join(', ')
  const severity = reactions.map((r) => str(r.severity)).find(Boolean) ?? ''
  return {
    title: concept(a.code) || 'Allergy',
    subtitle: join(manifestations, str(a.criticality) && `criticality ${str(a.criticality)}`),
    rows: rows(
      ['Reaction', manifestations],
      ['Severity', severity],
      ['Criticality', str(a.criticality)],
      ['Clinical status', concept(a.clinicalStatus)],
      ['Verification', concept(a.verificationStatus)],
      ['Type', str(a.type)],
      ['Category', arr(a.category).map(str).filter(Boolean).join(', ')],
      ['Onset', firstDate(a.onsetDateTime, a.onsetPeriod?.start, a.onsetString)],
      ['Recorded', date(a.recordedDate)],
    ),
  }
}

function condition(c: Obj): Summary {
  const onset = firstDate(c.onsetDateTime, c.onsetPeriod?.start, c.onsetString)
  return {
    title: concept(c.code) || 'Condition',
    subtitle: join(concept(c.clinicalStatus), onset && `since ${onset}`),
    rows: rows(
      ['Clinical status', concept(c.clinicalStatus)],
      ['Verification', concept(c.verificationStatus)],
      ['Severity', concept(c.severity)],
      ['Onset', onset],
      ['Resolved', firstDate(c.abatementDateTime, c.abatementPeriod?.start, c.abatementString)],
      ['Recorded', date(c.recordedDate)],
    ),
  }
}

function immunization(i: Obj): Summary {
  const when = firstDate(i.occurrenceDateTime, i.occurrenceString)
  const dose = arr(i.protocolApplied).map((p) => str(p?.doseNumberPositiveInt) || str(p?.doseNumberString)).find(Boolean) ?? ''
  return {
    title: concept(i.vaccineCode) || 'Immunization',
    subtitle: join(when, str(i.status)),
    rows: rows(
      ['Date', when],
      ['Status', str(i.status)],
      ['Dose', dose],
      ['Lot', str(i.lotNumber)],
      ['Site', concept(i.site)],
    ),
  }
}

function procedure(p: Obj): Summary {
  const when = firstDate(p.performedDateTime, p.performedPeriod?.start, p.performedString)
  return {
    title: concept(p.code) || 'Procedure',
    subtitle: join(when, str(p.status)),
    rows: rows(
      ['Date', when],
      ['Status', str(p.status)],
      ['Body site', concept(p.bodySite)],
      ['Outcome', concept(p.outcome)],
      ['Reason', concept(p.reasonCode)],
    ),
  }
}

function diagnosticReport(d: Obj): Summary {
  const when = firstDate(d.effectiveDateTime, d.effectivePeriod?.start, d.issued)
  const results = arr(d.result).map(reference).filter(Boolean)
  return {
    title: concept(d.code) || 'Diagnostic report',
    subtitle: join(when, str(d.status)),
    rows: rows(
      ['Date', when],
      ['Status', str(d.status)],
      ['Category', concept(d.category)],
      ['Conclusion', str(d.conclusion) || concept(d.conclusionCode)],
      ['Results', results.join(', ') || (arr(d.result).length ? `${arr(d.result).length} result(s)` : '')],
      ['Issued', date(d.issued)],
    ),
  }
}

function humanName(names: unknown): string {
  const list = arr(names).filter(isObj)
  const n = list.find((x) => x.use === 'official') ?? list[0]
  if (!n) return ''
  return str(n.text) || [...arr(n.prefix), ...arr(n.given), n.family, ...arr(n.suffix)].map(str).filter(Boolean).join(' ')
}

function patient(p: Obj): Summary {
  const address = arr(p.address).filter(isObj).map((a) => str(a.text) || [a.city, a.country].map(str).filter(Boolean).join(', ')).find(Boolean) ?? ''
  return {
    title: humanName(p.name) || 'Patient',
    subtitle: join(date(p.birthDate) && `born ${date(p.birthDate)}`, str(p.gender)),
    rows: rows(['Birth date', date(p.birthDate)], ['Gender', str(p.gender)], ['Address', address]),
  }
}

/** Any other resource: its type, id, a code if it has one, and a few top-level scalar fields. */
function generic(r: Obj): Summary {
  const scalars = Object.entries(r)
    .filter(([k, v]) => k !== 'resourceType' && k !== 'id' && str(v))
    .slice(0, 6)
    .map(([k, v]): [string, string] => [k, str(v)])
  return {
    title: str(r.resourceType) || 'Resource',
    subtitle: str(r.id),
    rows: rows(['Code', concept(r.code)], ...scalars),
  }
}

const BY_TYPE: Record<string, (r: Obj) => Summary> = {
  Observation: observation,
  MedicationStatement: medication,
  MedicationRequest: medication,
  AllergyIntolerance: allergy,
  Condition: condition,
  Immunization: immunization,
  Procedure: procedure,
  DiagnosticReport: diagnosticReport,
  Patient: patient,
}

/** Human-readable title, subtitle and label/value rows for a FHIR resource. Never throws. */
export function summarize(resource: any): Summary {
  if (!isObj(resource)) {
    return { title: 'Unreadable record', subtitle: resource === null ? 'null' : Array.isArray(resource) ? 'array' : typeof resource, rows: [] }
  }
  try {
    const type = str(resource.resourceType)
    const fn = Object.hasOwn(BY_TYPE, type) ? BY_TYPE[type] : generic
    return fn(resource)
  } catch {
    // Only reachable with exotic objects (throwing getters, proxies).
    return { title: 'Unreadable record', subtitle: '', rows: [] }
  }
}

// ---------------------------------------------------------------------------------------------

const toNumber = (x: unknown): number =>
  typeof x === 'number' ? x : typeof x === 'string' && x.trim() !== '' ? Number(x) : NaN

/** Observation time: effectiveDateTime, else effectivePeriod.start, else issued (first that parses). */
function observationTime(o: Obj): number {
  for (const c of [o.effectiveDateTime, o.effectivePeriod?.start, o.issued]) {
    const t = typeof c === 'string' ? Date.parse(c) : NaN
    if (Number.isFinite(t)) return t
  }
  return NaN
}

/**
 * Numeric Observations as time series keyed by readable name. Blood pressure (and any other
 * observation with components) yields one series per numeric component. Observations without a
 * parseable time or number, without a name, or recorded in error are skipped.
 */
export function numericSeries(resources: any[]): Map<string, Series> {
  const out = new Map<string, Series>()
  const add = (name: string, value: number, unit: string, t: number) => {
    if (!name || !Number.isFinite(value)) return
    // The same name in a different unit must not share an axis-less line: give it its own series.
    const existing = out.get(name)
    const key = existing && existing.unit !== unit ? `${name} (${unit || 'no unit'})` : name
    const series = out.get(key) ?? { unit, points: [] }
    series.points.push({ t, value })
    out.set(key, series)
  }
  for (const o of arr(resources)) {
    if (!isObj(o) || o.resourceType !== 'Observation') continue
    if (o.status === 'entered-in-error' || o.status === 'cancelled') continue
    const t = observationTime(o)
    if (!Number.isFinite(t)) continue
    const name = concept(o.code)
    if (isObj(o.valueQuantity)) add(name, toNumber(o.valueQuantity.value), unitOf(o.valueQuantity), t)
    else add(name, toNumber(o.valueInteger), '', t)
    for (const c of arr(o.component).filter(isObj)) {
      if (isObj(c.valueQuantity)) add(concept(c.code), toNumber(c.valueQuantity.value), unitOf(c.valueQuantity), t)
    }
  }
  for (const s of out.values()) s.points.sort((a, b) => a.t - b.t)
  return out
}

const CATEGORY_LABELS: Record<string, string> = {
  observation: 'Observations',
  medication: 'Medications',
  allergy: 'Allergies',
  condition: 'Conditions',
  immunization: 'Immunizations',
  procedure: 'Procedures',
  imaging: 'Imaging',
  document: 'Documents',
  other: 'Other',
}

/** Display label of a record category; unknown categories are capitalised, empty ones are "Other". */
export function categoryLabel(category: string): string {
  const c = str(category).toLowerCase()
  if (!c) return 'Other'
  return Object.hasOwn(CATEGORY_LABELS, c) ? CATEGORY_LABELS[c] : c[0].toUpperCase() + c.slice(1)
}
