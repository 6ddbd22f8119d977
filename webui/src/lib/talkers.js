// SPDX-License-Identifier: MIT
// Top talkers (GET /api/v1/top): the panel's choices and the drop rule one click proposes.
// Plain functions without Vue, so tests/ui/unit can run them in node.

export const TALKER_BY = ['src', 'src_prefix', 'dst', 'dst_port']
export const TALKER_VERDICTS = ['dropped', 'passed']
export const TALKER_WINDOWS = ['10s', '1m', '5m']
export const DEFAULT_BLOCK_EXPIRY = '1h'

// Only a source (address or prefix) can be blocked from the panel: a destination is what
// is being protected, and a port alone would drop everyone's traffic to it.
export function canBlock(by) {
  return by === 'src' || by === 'src_prefix'
}

// The body of POST /api/v1/rules for form { src, name, expires_in }: a drop rule on the
// source address (src_ip) or prefix (src_cidr); an empty expiry means none.
export function blockRuleOf(form) {
  const src = String(form.src || '').trim()
  const body = { name: String(form.name || '').trim(), action: 'drop', enabled: true, comment: 'blocked from top talkers' }
  if (src.includes('/')) body.src_cidr = src
  else body.src_ip = src
  const exp = String(form.expires_in || '').trim()
  if (exp) body.expires_in = exp
  return body
}

// The talkers of a reply (the API's `talkers`, heaviest first), each with its share as a
// percentage 0..100 for the bar.
export function talkerRows(reply) {
  const list = (reply && reply.talkers) || []
  return list.map((x) => ({
    ...x,
    packets: Number(x.packets) || 0,
    bytes: Number(x.bytes) || 0,
    pps: Number(x.pps) || 0,
    bps: Number(x.bps) || 0,
    percent: Math.max(0, Math.min(100, Math.round((Number(x.share) || 0) * 1000) / 10)),
  }))
}

// 'off' when no node samples (sample_rate 0: an empty table would read as "no traffic"),
// 'empty' when sampling is on but nothing was seen, 'rows' otherwise.
export function talkerState(reply) {
  if (!reply) return 'empty'
  if (!Number(reply.sample_rate)) return 'off'
  return (reply.talkers || []).length ? 'rows' : 'empty'
}
