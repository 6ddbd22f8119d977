// SPDX-License-Identifier: MIT
// PPS points for the charts: from /api/v1/stats/history (back-fill) and from live
// `stats` events, kept to a window of the newest MAX_POINTS.
export const MAX_POINTS = 300

export function pointOf(at, rates) {
  const r = rates || {}
  return {
    t: typeof at === 'number' ? at : Date.parse(at),
    total: Number(r.rx_pps) || 0,
    dropped: Number(r.dropped_pps) || 0,
    passed: Number(r.passed_pps) || 0,
    rateLimited: Number(r.rate_limited_pps) || 0,
  }
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
