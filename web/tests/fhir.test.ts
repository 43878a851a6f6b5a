import { describe, it, expect } from 'vitest'
import { summarize, numericSeries, categoryLabel, type Row } from '../src/fhir'
import { lineChart, escapeHtml } from '../src/chart'

const row = (rows: Row[], label: string) => rows.find((r) => r.label === label)?.value

const loinc = (code: string, display: string) => ({ coding: [{ system: 'http://loinc.org', code, display }] })

const bp = (when: string, sys: number, dia: number, extra: object = {}) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { text: 'Blood pressure', coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
  effectiveDateTime: when,
  component: [
    { code: loinc('8480-6', 'Systolic blood pressure'), valueQuantity: { value: sys, unit: 'mmHg' } },
    { code: loinc('8462-4', 'Diastolic blood pressure'), valueQuantity: { value: dia, unit: 'mmHg' } },
  ],
  ...extra,
})

const weight = (when: any, value: any, extra: object = {}) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { text: 'Body weight' },
  effectiveDateTime: when,
  valueQuantity: { value, unit: 'kg' },
  ...extra,
})

describe('summarize', () => {
  it('Observation with a quantity, interpretation and status', () => {
    const s = summarize({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ code: '2339-0', display: 'Glucose' }] },
      valueQuantity: { value: 5.4, unit: 'mmol/L' },
      effectiveDateTime: '2024-03-01T08:30:00Z',
      interpretation: [{ coding: [{ code: 'H', display: 'High' }] }],
    })
    expect(s.title).toBe('Glucose')
    expect(s.subtitle).toBe('5.4 mmol/L · 2024-03-01 08:30')
    expect(row(s.rows, 'Value')).toBe('5.4 mmol/L')
    expect(row(s.rows, 'Interpretation')).toBe('High')
    expect(row(s.rows, 'Status')).toBe('final')
    expect(row(s.rows, 'Date')).toBe('2024-03-01 08:30')
  })

  it('Observation title falls back from text to display to code', () => {
    expect(summarize({ resourceType: 'Observation', code: { text: 'Heart rate', coding: [{ display: 'x' }] } }).title).toBe('Heart rate')
    expect(summarize({ resourceType: 'Observation', code: { coding: [{ code: '8867-4' }] } }).title).toBe('8867-4')
    expect(summarize({ resourceType: 'Observation' }).title).toBe('Observation')
  })

  it('Observation valueString and valueCodeableConcept', () => {
    expect(row(summarize({ resourceType: 'Observation', valueString: 'Negative' }).rows, 'Value')).toBe('Negative')
    const s = summarize({ resourceType: 'Observation', valueCodeableConcept: { coding: [{ display: 'Positive' }] } })
    expect(row(s.rows, 'Value')).toBe('Positive')
  })

  it('blood pressure components read as systolic/diastolic', () => {
    const s = summarize(bp('2024-01-02', 128, 82))
    expect(s.title).toBe('Blood pressure')
    expect(row(s.rows, 'Value')).toBe('128/82 mmHg')
    expect(s.subtitle).toContain('128/82 mmHg')
    expect(row(s.rows, 'Systolic blood pressure')).toBeUndefined() // folded into the value
  })

  it('other components are listed as rows', () => {
    const s = summarize({
      resourceType: 'Observation',
      code: { text: 'Panel' },
      component: [{ code: { text: 'Hemoglobin' }, valueQuantity: { value: 14, unit: 'g/dL' } }],
    })
    expect(row(s.rows, 'Hemoglobin')).toBe('14 g/dL')
  })

  it('MedicationStatement and MedicationRequest', () => {
    const st = summarize({
      resourceType: 'MedicationStatement',
      status: 'active',
      medicationCodeableConcept: { text: 'Metformin 500 mg' },
      dosage: [{ text: '1 tablet twice daily' }],
    })
    expect(st.title).toBe('Metformin 500 mg')
    expect(row(st.rows, 'Dosage')).toBe('1 tablet twice daily')
    expect(row(st.rows, 'Status')).toBe('active')
    const rq = summarize({
      resourceType: 'MedicationRequest',
      status: 'completed',
      medicationCodeableConcept: { coding: [{ display: 'Amoxicillin' }] },
      dosageInstruction: [{ text: '500 mg every 8 hours' }],
    })
    expect(rq.title).toBe('Amoxicillin')
    expect(row(rq.rows, 'Dosage')).toBe('500 mg every 8 hours')
  })

  it('AllergyIntolerance', () => {
    const s = summarize({
      resourceType: 'AllergyIntolerance',
      code: { text: 'Penicillin' },
      criticality: 'high',
      clinicalStatus: { coding: [{ code: 'active' }] },
      reaction: [{ manifestation: [{ text: 'Hives' }, { coding: [{ display: 'Anaphylaxis' }] }], severity: 'severe' }],
    })
    expect(s.title).toBe('Penicillin')
    expect(row(s.rows, 'Criticality')).toBe('high')
    expect(row(s.rows, 'Reaction')).toBe('Hives, Anaphylaxis')
    expect(row(s.rows, 'Clinical status')).toBe('active')
  })

  it('Condition', () => {
    const s = summarize({
      resourceType: 'Condition',
      code: { text: 'Type 2 diabetes' },
      clinicalStatus: { coding: [{ code: 'active' }] },
      onsetDateTime: '2019-05-01',
    })
    expect(s.title).toBe('Type 2 diabetes')
    expect(row(s.rows, 'Clinical status')).toBe('active')
    expect(row(s.rows, 'Onset')).toBe('2019-05-01')
  })

  it('Immunization, Procedure, DiagnosticReport', () => {
    const im = summarize({ resourceType: 'Immunization', vaccineCode: { text: 'Influenza' }, occurrenceDateTime: '2023-10-15', status: 'completed' })
    expect(im.title).toBe('Influenza')
    expect(row(im.rows, 'Date')).toBe('2023-10-15')
    const pr = summarize({ resourceType: 'Procedure', code: { text: 'Appendectomy' }, status: 'completed', performedPeriod: { start: '2010-06-01' } })
    expect(pr.title).toBe('Appendectomy')
    expect(row(pr.rows, 'Date')).toBe('2010-06-01')
    const dr = summarize({
      resourceType: 'DiagnosticReport',
      code: { text: 'Chest X-ray' },
      status: 'final',
      conclusion: 'No acute findings',
      result: [{ reference: 'Observation/1', display: 'Finding' }],
    })
    expect(dr.title).toBe('Chest X-ray')
    expect(row(dr.rows, 'Conclusion')).toBe('No acute findings')
    expect(row(dr.rows, 'Results')).toBe('Finding')
  })

  it('Patient', () => {
    const s = summarize({
      resourceType: 'Patient',
      name: [{ use: 'nickname', text: 'Jo' }, { use: 'official', given: ['Joanna', 'M'], family: 'Smith' }],
      birthDate: '1980-02-29',
      gender: 'female',
    })
    expect(s.title).toBe('Joanna M Smith')
    expect(row(s.rows, 'Birth date')).toBe('1980-02-29')
    expect(row(s.rows, 'Gender')).toBe('female')
  })

  it('generic fallback shows type, id and scalar fields', () => {
    const s = summarize({ resourceType: 'Encounter', id: 'enc-1', status: 'finished', meta: { x: 1 }, priority: 3 })
    expect(s.title).toBe('Encounter')
    expect(s.subtitle).toBe('enc-1')
    expect(row(s.rows, 'status')).toBe('finished')
    expect(row(s.rows, 'priority')).toBe('3')
    expect(row(s.rows, 'meta')).toBeUndefined()
  })

  it('odd input never throws and stays readable', () => {
    const odd: any[] = [
      null, undefined, 42, 'text', [], [1, 2], true,
      {}, { resourceType: 42 }, { resourceType: '__proto__' }, { resourceType: 'constructor' },
      { resourceType: 'Observation', code: 'bare string', valueQuantity: 'nope', component: 'x', interpretation: {} },
      { resourceType: 'Observation', code: { coding: 'x' }, component: [null, 1, { code: null, valueQuantity: [] }] },
      { resourceType: 'Observation', valueQuantity: { value: { nested: 1 }, unit: ['kg'] }, effectiveDateTime: 7 },
      { resourceType: 'AllergyIntolerance', reaction: [null, { manifestation: 'x' }], category: 'food' },
      { resourceType: 'Patient', name: [{ given: 'Ann', family: { x: 1 } }], address: [null] },
      { resourceType: 'MedicationRequest', dosageInstruction: {}, medicationReference: 'x' },
      { resourceType: 'DiagnosticReport', result: [null, 'x'] },
      { resourceType: 'Observation', get code() { throw new Error('boom') } },
    ]
    for (const r of odd) {
      const s = summarize(r)
      expect(typeof s.title).toBe('string')
      expect(s.title.length).toBeGreaterThan(0)
      expect(typeof s.subtitle).toBe('string')
      expect(Array.isArray(s.rows)).toBe(true)
      for (const x of s.rows) {
        expect(typeof x.value).toBe('string')
        expect(x.value).not.toContain('[object')
      }
    }
    expect(summarize(null).title).toBe('Unreadable record')
  })
})

describe('numericSeries', () => {
  it('splits blood pressure into systolic and diastolic series', () => {
    const m = numericSeries([bp('2024-02-01', 130, 85), bp('2024-01-01', 128, 82)])
    expect([...m.keys()]).toEqual(['Systolic blood pressure', 'Diastolic blood pressure'])
    expect(m.get('Systolic blood pressure')).toEqual({
      unit: 'mmHg',
      points: [
        { t: Date.parse('2024-01-01'), value: 128 },
        { t: Date.parse('2024-02-01'), value: 130 },
      ],
    })
    expect(m.get('Diastolic blood pressure')!.points.map((p) => p.value)).toEqual([82, 85])
  })

  it('uses effectiveDateTime, then effectivePeriod.start, then issued, and sorts by time', () => {
    const m = numericSeries([
      weight('2024-03-01', 70),
      { ...weight(undefined, 71), effectivePeriod: { start: '2024-01-01' } },
      { ...weight(undefined, 72), issued: '2024-02-01T10:00:00Z' },
    ])
    expect(m.get('Body weight')!.points.map((p) => p.value)).toEqual([71, 72, 70])
  })

  it('skips observations without a parseable time or number, and non-observations', () => {
    const m = numericSeries([
      weight('2024-01-01', 70),
      weight('not a date', 71),
      weight(undefined, 72),
      weight('2024-01-02', 'heavy'),
      weight('2024-01-03', NaN),
      weight('2024-01-04', null),
      weight('2024-01-05', 73, { status: 'entered-in-error' }),
      { resourceType: 'Observation', effectiveDateTime: '2024-01-01', valueString: '7' },
      { resourceType: 'Condition', code: { text: 'Body weight' }, onsetDateTime: '2024-01-01', valueQuantity: { value: 1 } },
      null, 5, 'x',
    ])
    expect([...m.keys()]).toEqual(['Body weight'])
    expect(m.get('Body weight')!.points).toEqual([{ t: Date.parse('2024-01-01'), value: 70 }])
  })

  it('keeps different units apart and tolerates non-array input', () => {
    const m = numericSeries([weight('2024-01-01', 70), { ...weight('2024-01-02', 154), valueQuantity: { value: 154, unit: 'lb' } }])
    expect(m.get('Body weight')!.unit).toBe('kg')
    expect(m.get('Body weight (lb)')!.points[0].value).toBe(154)
    expect(numericSeries(null as any).size).toBe(0)
    expect(numericSeries({} as any).size).toBe(0)
  })
})

describe('categoryLabel', () => {
  it('maps known categories and degrades gracefully', () => {
    expect(categoryLabel('observation')).toBe('Observations')
    expect(categoryLabel('medication')).toBe('Medications')
    expect(categoryLabel('allergy')).toBe('Allergies')
    expect(categoryLabel('condition')).toBe('Conditions')
    expect(categoryLabel('immunization')).toBe('Immunizations')
    expect(categoryLabel('procedure')).toBe('Procedures')
    expect(categoryLabel('imaging')).toBe('Imaging')
    expect(categoryLabel('document')).toBe('Documents')
    expect(categoryLabel('other')).toBe('Other')
    expect(categoryLabel('lab')).toBe('Lab')
    expect(categoryLabel('')).toBe('Other')
    expect(categoryLabel(undefined as any)).toBe('Other')
    expect(categoryLabel('toString')).toBe('Tostring')
  })
})

describe('chart', () => {
  const count = (s: string, needle: string) => s.split(needle).length - 1

  it('escapeHtml escapes & < > " \'', () => {
    expect(escapeHtml(`<a href="x">Tom & Jerry's</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;')
  })

  it('draws one polyline per series with markers, axes, legend and accessible title', () => {
    const svg = lineChart(numericSeries([bp('2024-01-01', 128, 82), bp('2024-02-01', 130, 85), bp('2024-03-01', 125, 80)]))
    expect(svg.startsWith('<svg')).toBe(true)
    expect(svg.endsWith('</svg>')).toBe(true)
    expect(count(svg, '<polyline')).toBe(2)
    expect(count(svg, '<circle')).toBe(6)
    expect(svg).toContain('role="img"')
    expect(svg).toMatch(/aria-label="Line chart of Systolic blood pressure \(mmHg\), Diastolic blood pressure \(mmHg\)"/)
    expect(svg).toContain('<title>')
    expect(svg).toContain('2024-01-01')
    expect(svg).toContain('2024-03-01')
    expect(svg).toContain('Systolic blood pressure (mmHg)') // legend
    // Distinct colours for the two lines.
    const colours = [...svg.matchAll(/<g fill="(#[0-9a-f]+)"/g)].map((m) => m[1])
    expect(new Set(colours).size).toBe(2)
    expect(svg).not.toMatch(/NaN|Infinity|undefined/)
  })

  it('escapes untrusted series names and units', () => {
    const evil = '<script>alert(1)</script>'
    const svg = lineChart(new Map([[evil, { unit: '"><img src=x onerror=alert(1)>', points: [{ t: 0, value: 1 }, { t: 86_400_000, value: 2 }] }]]))
    expect(svg).not.toContain('<script')
    expect(svg).not.toContain('<img')
    expect(svg).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    // Every tag is well formed (quoted attributes cannot be broken out of), and no attribute
    // name is an event handler; "onerror" may only appear as escaped text.
    const tags = svg.match(/<[^>]*>/g)!
    for (const tag of tags) expect(tag).toMatch(/^<\/?[a-z]+(\s[\w:-]+="[^"<>]*")*\s*\/?>$/)
    const attrNames = tags.flatMap((t) => [...t.matchAll(/\s([\w:-]+)="/g)].map((m) => m[1]))
    expect(attrNames.filter((n) => /^on/i.test(n))).toEqual([])
    expect(count(svg, '<polyline')).toBe(1)
  })

  it('handles a single point and identical values without dividing by zero', () => {
    const one = lineChart(new Map([['Weight', { unit: 'kg', points: [{ t: Date.parse('2024-05-05'), value: 70 }] }]]))
    expect(count(one, '<polyline')).toBe(1)
    expect(one).toContain('2024-05-05')
    expect(one).not.toMatch(/NaN|Infinity/)
    const flat = lineChart(new Map([['Zero', { unit: '', points: [{ t: 0, value: 0 }, { t: 1e9, value: 0 }] }]]), { width: 300, height: 200 })
    expect(flat).not.toMatch(/NaN|Infinity/)
    expect(flat).toContain('width="300"')
  })

  it('renders an empty chart for no usable data', () => {
    for (const input of [new Map(), new Map([['x', { unit: '', points: [] }]]), new Map([['y', { unit: '', points: [{ t: NaN, value: 1 }] }]])]) {
      const svg = lineChart(input as any)
      expect(svg).toContain('No numeric data')
      expect(count(svg, '<polyline')).toBe(0)
    }
  })
})
