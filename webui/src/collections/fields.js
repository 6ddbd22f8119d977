// SPDX-License-Identifier: MIT
// The fields a rule or whitelist entry can have, once: how each is edited in the form
// (label, widget, placeholder, data-test suffix), how a row fills it (from) and how it goes
// into the API's body (to), and which API field names its errors carry (aliases). A kind
// (kinds.js) lists the fields its form shows, with their layout.

export const ACTIONS = ['drop', 'pass', 'rate_limit']
// The packet anomalies a rule can match, in the bit order of match_anomaly (1, 2).
export const ANOMALIES = ['bad_fragment', 'invalid']
export const PROTOCOLS = ['any', 'tcp', 'udp', 'icmp', 'icmpv6', 'igmp', 'gre', 'esp']

// Numbers go as numbers when they look like one; anything else goes as typed, so the API
// (not the UI) says what is wrong with it, beside the field.
export function num(v) {
  const s = String(v ?? '').trim()
  if (s === '') return 0
  return /^\d+$/.test(s) ? Number(s) : s
}

const numText = (v) => (v ? String(v) : '')

// The names of the anomalies in mask (match_anomaly), in bit order; and back.
export function anomalyNames(mask) {
  return ANOMALIES.filter((a, i) => (Number(mask) || 0) & (1 << i))
}
export function anomalyMask(names) {
  return ANOMALIES.reduce((m, a, i) => ((names || []).includes(a) ? m | (1 << i) : m), 0)
}

// An address box holds an IP or a CIDR; the API keeps them apart (src_ip / src_cidr).
function address(side) {
  return {
    label: `rule.${side}`,
    test: side,
    placeholderKey: 'rule.addrPlaceholder',
    from: (r) => r[`${side}_ip`] || r[`${side}_cidr`] || '',
    to: (f, b) => {
      const a = f[side].trim()
      b[`${side}_ip`] = a.includes('/') ? '' : a
      b[`${side}_cidr`] = a.includes('/') ? a : ''
    },
    aliases: [`${side}_ip`, `${side}_cidr`],
  }
}

// A numeric box typed as text ("any" or 0 when empty).
function count(key, label, test, placeholder) {
  return { label, test, inputmode: 'numeric', ...placeholder, from: (r) => numText(r[key]), to: (f, b) => (b[key] = num(f[key])) }
}

// A rate-limit number: shown, and sent, only for the rate_limit action.
function rateNumber(key, label, test) {
  return {
    label,
    test,
    widget: 'number',
    show: (f) => f.action === 'rate_limit',
    from: (r) => r[key] || 0,
    to: (f, b) => (b[key] = f.action === 'rate_limit' ? num(f[key]) : 0),
  }
}

// widget: 'text' (default; textarea with rows), 'select' (options, optionLabel(t, v),
// creatable), 'checks' (a checkbox per option, the value an array), 'number', 'switch'. show(form) / disabled(form) where they depend on others.
export const FIELDS = {
  name: { label: 'rule.name', test: 'name', from: (r) => r.name || '', to: (f, b) => (b.name = f.name) },
  action: {
    label: 'rule.action',
    test: 'action',
    widget: 'select',
    options: ACTIONS,
    optionLabel: (t, a) => t(`action.${a}`),
    from: (r) => r.action || 'drop',
    to: (f, b) => (b.action = f.action),
  },
  rate_limit: rateNumber('rate_limit', 'rule.rateLimit', 'rate'),
  burst: rateNumber('burst', 'rule.burst', 'burst'),
  src: address('src'),
  dst: address('dst'),
  protocol: {
    label: 'rule.protocol',
    test: 'protocol',
    widget: 'select',
    creatable: true,
    options: PROTOCOLS,
    optionLabel: (t, p) => (p === 'any' ? t('rule.any') : p),
    from: (r) => r.protocol || 'any',
    to: (f, b) => (b.protocol = f.protocol || 'any'),
  },
  src_port: count('src_port', 'rule.srcPort', 'src-port', { placeholderKey: 'rule.anyPort' }),
  dst_port: count('dst_port', 'rule.dstPort', 'dst-port', { placeholderKey: 'rule.anyPort' }),
  pkt_len_min: count('pkt_len_min', 'rule.lenMin', 'len-min', { placeholder: '0' }),
  pkt_len_max: count('pkt_len_max', 'rule.lenMax', 'len-max', { placeholder: '0' }),
  tcp_flags: {
    label: 'rule.tcpFlags',
    test: 'flags',
    placeholder: 'SYN,!ACK',
    disabled: (f) => f.protocol !== 'tcp',
    from: (r) => r.tcp_flags || '',
    to: (f, b) => (b.tcp_flags = f.protocol === 'tcp' ? f.tcp_flags.trim() : ''),
  },
  // match_anomaly (v2.7's mask) as one checkbox per anomaly; the API gets the mask.
  match_anomaly: {
    label: 'rule.anomaly',
    test: 'anomaly',
    widget: 'checks',
    options: ANOMALIES,
    optionLabel: (t, a) => t(`anomaly.${a}`),
    from: (r) => anomalyNames(r.match_anomaly),
    to: (f, b) => (b.match_anomaly = anomalyMask(f.match_anomaly)),
  },
  // A duration from now; editing shows the current expiry under the box (expiresAt).
  expires_in: {
    label: 'rule.expiresIn',
    test: 'expires',
    placeholderKey: 'rule.expiresPlaceholder',
    expiresAt: true,
    from: () => '',
    to: (f, b) => {
      if (f.expires_in.trim()) b.expires_in = num(f.expires_in)
    },
    aliases: ['expires_at'],
  },
  enabled: {
    label: 'rule.enabled',
    test: 'enabled',
    widget: 'switch',
    from: (r) => (r.enabled !== undefined ? r.enabled : true),
    to: (f, b) => (b.enabled = f.enabled),
  },
  comment: { label: 'rule.comment', test: 'comment', rows: 2, from: (r) => r.comment || '', to: (f, b) => (b.comment = f.comment) },
}

// A form layout: [[field, { xs, sm, ...overrides }], ...] -> the fields with their layout,
// each with its key.
export function formOf(layout) {
  return layout.map(([key, opts]) => ({ key, ...FIELDS[key], ...opts }))
}

// { apiField: formItem } for a form's fields, from their aliases.
export function aliasesOf(fields) {
  const out = {}
  for (const f of fields) for (const a of f.aliases || []) out[a] = f.key
  return out
}
