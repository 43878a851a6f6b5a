/**
 * Dependency-free SVG line chart for numeric FHIR series (see numericSeries in fhir.ts).
 *
 * Returns markup for the caller to insert. The SVG is self-contained and CSP-friendly: styling
 * uses presentation attributes only (no style attributes/elements, which `style-src` would block),
 * and there are no scripts, event handlers or external references. Series names and units are
 * patient data, so every piece of text goes through escapeHtml.
 */

type ChartPoint = { t: number; value: number }
type ChartSeries = { unit: string; points: ChartPoint[] }

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Escapes text for HTML/SVG element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c])
}

// Distinguishable colours (also for common colour-vision deficiencies), cycled for many series.
const PALETTE = ['#2563eb', '#d97706', '#059669', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#4b5563']
const DAY = 86_400_000
const MAX_TIME = 8.64e15 // beyond this Date is invalid and toISOString throws
const MARGIN = { left: 56, right: 40, top: 12, bottom: 28 }
const LEGEND_ROW = 18

const round = (n: number): number => Math.round(n * 10) / 10
const ymd = (t: number): string => new Date(t).toISOString().slice(0, 10)
const ymdhm = (t: number): string => new Date(t).toISOString().slice(0, 16).replace('T', ' ') + ' UTC'
const dim = (x: unknown, fallback: number, min: number): number =>
  typeof x === 'number' && Number.isFinite(x) ? Math.max(min, Math.round(x)) : fallback
const truncate = (s: string, max: number): string => (s.length > max ? s.slice(0, Math.max(1, max - 1)) + '…' : s)

/** A "nice" tick step (1, 2 or 5 × 10^k) giving roughly `count` intervals over `span`. */
function niceStep(span: number, count: number): number {
  const raw = span / count
  const p = 10 ** Math.floor(Math.log10(raw))
  const f = raw / p
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p
  return step > 0 && Number.isFinite(step) ? step : span || 1
}

/**
 * One polyline (with point markers) per non-empty series on shared time and value axes, with a
 * legend below the plot. `height` is the plot area including axes; the legend adds one row per series.
 */
export function lineChart(
  series: Map<string, ChartSeries>,
  opts: { width?: number; height?: number } = {},
): string {
  const width = dim(opts?.width, 640, 160)
  const height = dim(opts?.height, 320, 120)
  const list = (series instanceof Map ? [...series] : [])
    .map(([name, s]) => ({
      name: String(name),
      unit: typeof s?.unit === 'string' ? s.unit : '',
      points: (Array.isArray(s?.points) ? s.points : [])
        .filter((p) => Number.isFinite(p?.value) && Number.isFinite(p?.t) && Math.abs(p.t) <= MAX_TIME)
        .sort((a, b) => a.t - b.t),
    }))
    .filter((s) => s.points.length > 0)

  const names = list.map((s) => (s.unit ? `${s.name} (${s.unit})` : s.name))
  const label = list.length ? `Line chart of ${names.join(', ')}` : 'Chart: no numeric data'
  const totalHeight = height + (list.length ? list.length * LEGEND_ROW + 8 : 0)
  const open =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${totalHeight}" ` +
    `viewBox="0 0 ${width} ${totalHeight}" role="img" aria-label="${escapeHtml(label)}" ` +
    `font-family="system-ui, sans-serif" font-size="11" fill="#374151">` +
    `<title>${escapeHtml(label)}</title>`
  if (!list.length) {
    return `${open}<text x="${width / 2}" y="${height / 2}" text-anchor="middle">No numeric data to chart</text></svg>`
  }

  const x0 = MARGIN.left, x1 = width - MARGIN.right
  const y0 = MARGIN.top, y1 = height - MARGIN.bottom
  const all = list.flatMap((s) => s.points)

  // Time domain; a single instant is centred in a two-day window.
  // (Reduce, not Math.min(...xs): spreading very long series overflows the call stack.)
  let tLo = all.reduce((m, p) => Math.min(m, p.t), Infinity)
  let tHi = all.reduce((m, p) => Math.max(m, p.t), -Infinity)
  const singleTime = tLo === tHi
  if (singleTime) {
    tLo -= DAY
    tHi += DAY
  }

  // Value domain widened to nice tick boundaries; identical values get artificial padding.
  let vMin = all.reduce((m, p) => Math.min(m, p.value), Infinity)
  let vMax = all.reduce((m, p) => Math.max(m, p.value), -Infinity)
  if (vMin === vMax) {
    const pad = Math.abs(vMin) * 0.1 || 1
    vMin -= pad
    vMax += pad
  }
  const step = niceStep(vMax - vMin, 4)
  const vLo = Math.floor(vMin / step) * step, vHi = Math.ceil(vMax / step) * step
  const decimals = Math.max(0, Math.min(10, -Math.floor(Math.log10(step))))

  const x = (t: number) => round(x0 + ((t - tLo) / (tHi - tLo)) * (x1 - x0))
  const y = (v: number) => round(y1 - ((v - vLo) / (vHi - vLo || 1)) * (y1 - y0))

  const parts: string[] = [open]

  // Horizontal grid lines with value labels (capped in case of pathological steps).
  for (let i = 0, v = vLo; v <= vHi + step / 2 && i <= 20; i++, v = vLo + i * step) {
    parts.push(
      `<line x1="${x0}" y1="${y(v)}" x2="${x1}" y2="${y(v)}" stroke="#e5e7eb"/>`,
      `<text x="${x0 - 6}" y="${y(v) + 4}" text-anchor="end">${escapeHtml(v.toFixed(decimals))}</text>`,
    )
  }

  // Date ticks: evenly spaced, as many as fit, repeated labels dropped (short spans).
  const tickCount = Math.max(2, Math.min(5, Math.floor((x1 - x0) / 100) + 1))
  const tTicks = singleTime ? [all[0].t] : Array.from({ length: tickCount }, (_, i) => tLo + ((tHi - tLo) * i) / (tickCount - 1))
  let lastLabel = ''
  for (const t of tTicks) {
    const text = ymd(t)
    if (text === lastLabel) continue
    lastLabel = text
    parts.push(
      `<line x1="${x(t)}" y1="${y1}" x2="${x(t)}" y2="${y1 + 4}" stroke="#6b7280"/>`,
      `<text x="${x(t)}" y="${y1 + 16}" text-anchor="middle">${text}</text>`,
    )
  }

  // Axes.
  parts.push(`<path d="M${x0} ${y0}V${y1}H${x1}" fill="none" stroke="#6b7280"/>`)

  list.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length]
    const unit = s.unit ? ` ${s.unit}` : ''
    const pts = s.points.map((p) => `${x(p.t)},${y(p.value)}`).join(' ')
    parts.push(`<g fill="${colour}" stroke="${colour}">`)
    parts.push(`<polyline points="${pts}" fill="none" stroke-width="2" stroke-linejoin="round"/>`)
    for (const p of s.points) {
      // Each marker carries a native tooltip with the exact reading.
      const tip = `${s.name}: ${p.value}${unit} (${ymdhm(p.t)})`
      parts.push(`<circle cx="${x(p.t)}" cy="${y(p.value)}" r="3"><title>${escapeHtml(tip)}</title></circle>`)
    }
    parts.push('</g>')

    const ly = height + 4 + i * LEGEND_ROW
    const maxChars = Math.max(8, Math.floor((width - x0 - 24) / 6.5))
    parts.push(
      `<g><title>${escapeHtml(names[i])}</title>`,
      `<rect x="${x0}" y="${ly + 4}" width="16" height="4" fill="${colour}"/>`,
      `<text x="${x0 + 22}" y="${ly + 10}">${escapeHtml(truncate(names[i], maxChars))}</text></g>`,
    )
  })

  parts.push('</svg>')
  return parts.join('')
}
