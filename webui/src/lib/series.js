// SPDX-License-Identifier: MIT
// Traffic points for the charts: from /api/v1/stats/history (back-fill) and from live
// `stats` events, kept to a window of the newest MAX_POINTS.
//
// A point holds the five mutually exclusive categories the chart stacks, in packets and in
// bits per second, so that the stack's top is what was received and no packet is drawn
// twice (docs/api.md, Counters: every packet has one verdict and one reason):
//   passed       passed for any reason but the whitelist (default, pass rule, within a
//                rate limit, protected control traffic, non-IP)
//   whitelisted  passed by a whitelist entry
//   ruleDropped  dropped by a drop rule
//   rateLimited  dropped by a rate limit
//   malformed    dropped as malformed
// A category is derived from the totals (passed - whitelisted, dropped - rate-limited -
// malformed), which the counters' identities make equal to the sum of its reasons, and
// which stays right with an agent that reports no per-reason breakdown.
//
// A time with no figures is a gap, never a zero: a history point without `rates` becomes a
// point whose values are all null, and withGaps() puts a null point where seconds are
// missing, so the chart (connectNulls false) breaks the line there.
export const MAX_POINTS = 300
export const CATEGORIES = ['passed', 'whitelisted', 'ruleDropped', 'rateLimited', 'malformed']

const nonNeg = (x) => Math.max(0, Number(x) || 0)

// The categories of one Rates message in one unit ('pps' or 'bps').
function categoriesOf(r, unit) {
  const f = (name) => Number(r[`${name}_${unit}`]) || 0
  const dropped = f('dropped')
  const rateLimited = f('rate_limited')
  const malformed = f('malformed')
  const whitelisted = f('whitelisted')
  return {
    total: f('rx'),
    passed: nonNeg(f('passed') - whitelisted),
    whitelisted,
    ruleDropped: nonNeg(dropped - rateLimited - malformed),
    rateLimited,
    malformed,
    dropped,
  }
}

function nullCategories() {
  const o = { total: null, dropped: null }
  for (const c of CATEGORIES) o[c] = null
  return o
}

// One point at `at` (RFC 3339 or a number, see format.js toMs) from a Rates message; rates
// null or missing means no figures at that time (a gap).
export function pointOf(at, rates) {
  const t = typeof at === 'number' ? (at > 1e15 ? at / 1e6 : at) : Date.parse(at)
  if (!rates) return { t, gap: true, pps: nullCategories(), bps: nullCategories() }
  return { t, gap: false, pps: categoriesOf(rates, 'pps'), bps: categoriesOf(rates, 'bps') }
}

// Whether a cluster stats reply or event holds any current figures: some node in its
// `nodes` is neither stale nor among offlineIds. Without one, its zero rates mean "nobody
// reported", so the chart draws a gap and the cards no rate, rather than a fall to 0.
export function hasCurrentFigures(stats, offlineIds = []) {
  const off = new Set(offlineIds)
  return ((stats && stats.nodes) || []).some((n) => !n.stale && !off.has(n.node_id))
}

export function fromHistory(reply) {
  return ((reply && reply.points) || []).map((p) => pointOf(p.at, p.rates)).filter((p) => Number.isFinite(p.t))
}

// A new array with p appended (when newer than the last point) and the window kept.
export function appendPoint(points, p) {
  if (!Number.isFinite(p.t)) return points
  const last = points[points.length - 1]
  if (last && p.t <= last.t) return points
  const out = points.concat([p])
  return out.length > MAX_POINTS ? out.slice(out.length - MAX_POINTS) : out
}

// The usual spacing of the points in ms: the median of the newest intervals (1 s when
// there are too few to tell).
export function stepOf(points) {
  const d = []
  for (let i = Math.max(1, points.length - 20); i < points.length; i++) d.push(points[i].t - points[i - 1].t)
  d.sort((a, b) => a - b)
  return d.length ? Math.max(1, d[Math.floor(d.length / 2)]) : 1000
}

// points with a null point inserted wherever the time to the next point is more than
// GAP_STEPS usual steps (missing seconds: the feed or the history had nothing there).
export const GAP_STEPS = 2.5
export function withGaps(points) {
  if (points.length < 2) return points
  const step = stepOf(points)
  const out = [points[0]]
  for (let i = 1; i < points.length; i++) {
    const prev = points[i - 1]
    if (points[i].t - prev.t > GAP_STEPS * step && !prev.gap) {
      const g = pointOf(prev.t + step, null)
      out.push(g)
    }
    out.push(points[i])
  }
  return out
}

// The [time, value] pairs of one category in one unit, null where there are no figures.
export function seriesData(points, unit, category) {
  return withGaps(points).map((p) => [p.t, p[unit][category]])
}
