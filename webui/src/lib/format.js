// SPDX-License-Identifier: MIT
// Number, time and rule formatting shared by the views. Everything returns plain text:
// the templates print it with {{ }}, which escapes it.

// The Intl locale (BCP 47 tag) numbers and times are written in: the UI's language, set
// by lib/session.js saveLocale() ("1,234" in en-US, "1.234" in es-ES). Formatters are kept
// per tag (building one is not cheap).
let fmtTag = 'en-US'
const cache = new Map()
function formatter(kind, make) {
  const k = `${kind} ${fmtTag}`
  if (!cache.has(k)) cache.set(k, make(fmtTag))
  return cache.get(k)
}

export function setFormatLocale(tag) {
  try {
    fmtTag = Intl.getCanonicalLocales(tag)[0] || 'en-US'
  } catch {
    fmtTag = 'en-US'
  }
}

export function formatLocale() {
  return fmtTag
}

export function fmtNum(n) {
  if (n === null || n === undefined || n === '') return '0'
  const v = Number(n)
  if (!Number.isFinite(v)) return String(n)
  return formatter('num', (l) => new Intl.NumberFormat(l, { maximumFractionDigits: 0 })).format(Math.round(v))
}

export function fmtRate(n) {
  const v = Number(n) || 0
  if (v >= 1e9) return (v / 1e9).toFixed(2) + 'G'
  if (v >= 1e6) return (v / 1e6).toFixed(2) + 'M'
  if (v >= 1e4) return (v / 1e3).toFixed(1) + 'k'
  return v >= 100 ? Math.round(v).toString() : v.toFixed(1).replace(/\.0$/, '')
}

export function fmtBytes(n) {
  let v = Number(n) || 0
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`
}

// Milliseconds since the epoch of a time the API gave: an RFC 3339 string (the time
// fields), or a number in ns, ms or s (status_since is ms); null when there is none.
export function toMs(t) {
  if (t === null || t === undefined || t === '' || t === 0) return null
  if (typeof t === 'number') {
    if (!Number.isFinite(t) || t <= 0) return null
    if (t > 1e15) return t / 1e6 // nanoseconds
    if (t > 1e11) return t // milliseconds
    return t * 1000 // seconds
  }
  const ms = Date.parse(t)
  return Number.isFinite(ms) ? ms : null
}

const TIME_OPTS = { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }
const DATE_OPTS = { year: 'numeric', month: '2-digit', day: '2-digit', ...TIME_OPTS }

// Date and time of t in local time, in the UI's locale ("2026/12/07 14:03:12" in ja-JP,
// "07/12/2026, 14:03:12" in es-ES); '—' without a time. English writes the date year
// first ("2026-12-07, 14:03:12", en-CA's order): an operator's logs and tickets do, and
// 12/07 is a different day on either side of the Atlantic.
export function fmtTime(t) {
  if (!t) return '—'
  const ms = toMs(t)
  if (ms === null) return String(t)
  return formatter('date', (l) => new Intl.DateTimeFormat(l.startsWith('en') ? 'en-CA' : l, DATE_OPTS)).format(new Date(ms))
}

// hh:mm:ss of t in local time ("as of 14:03:12"), '—' without a time.
export function fmtClock(t) {
  const ms = toMs(t)
  if (ms === null) return '—'
  return formatter('clock', (l) => new Intl.DateTimeFormat(l, TIME_OPTS)).format(new Date(ms))
}

// Seconds since t (RFC 3339 string or a number as toMs reads it), or null.
export function ageSeconds(t) {
  const ms = toMs(t)
  if (ms === null) return null
  return Math.max(0, Math.round((Date.now() - ms) / 1000))
}

// A duration in seconds as "3 d 4 h", "2 h 5 min", "4 min 7 s", "12 s"; '—' for none.
export function fmtDuration(secs) {
  const s = Math.floor(Number(secs))
  if (!Number.isFinite(s) || s < 0 || secs === null || secs === undefined || secs === '') return '—'
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  if (d) return `${d} d ${h} h`
  if (h) return `${h} h ${m} min`
  if (m) return `${m} min ${s % 60} s`
  return `${s} s`
}

// Bits per second with decimal (SI) units as network gear counts them: "0 bit/s",
// "950 bit/s", "12.5 kbit/s", "1.20 Mbit/s", "10.0 Gbit/s".
export function fmtBps(n) {
  const v = Number(n) || 0
  const units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s']
  let x = Math.abs(v)
  let i = 0
  while (x >= 1000 && i < units.length - 1) {
    x /= 1000
    i++
  }
  const sign = v < 0 ? '-' : ''
  if (i === 0) return `${sign}${Math.round(x)} ${units[0]}`
  return `${sign}${x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)} ${units[i]}`
}

// Packets per second with its unit: "0 pps", "12.5 pps", "1.25M pps".
export function fmtPps(n) {
  return `${fmtRate(n)} pps`
}

// A rate as the pps/bps switch asks: unit 'bps' prints bps with fmtBps, else pps.
export function fmtUnitRate(unit, pps, bps) {
  return unit === 'bps' ? fmtBps(bps) : fmtPps(pps)
}

// A short axis label for a value in the unit ("1.5M", "200k"); the axis name says the unit.
export function fmtAxis(v) {
  return fmtRate(v)
}

// A rule's or whitelist entry's match as one short line ("udp 10.0.0.0/8 -> :53").
export function matchText(r) {
  const side = (ip, cidr, port) => {
    const a = ip || cidr || ''
    if (!a && !port) return '*'
    if (!port) return a
    return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`
  }
  const parts = []
  if (r.protocol && r.protocol !== 'any') parts.push(r.protocol)
  parts.push(`${side(r.src_ip, r.src_cidr, r.src_port)} → ${side(r.dst_ip, r.dst_cidr, r.dst_port)}`)
  if (r.tcp_flags) parts.push(`flags ${r.tcp_flags}`)
  if (r.pkt_len_min || r.pkt_len_max) parts.push(`len ${r.pkt_len_min || 0}-${r.pkt_len_max || '∞'}`)
  return parts.join(' ')
}

export function downloadJson(name, obj) {
  const blob = new Blob([JSON.stringify(obj, null, 2) + '\n'], { type: 'application/json' })
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}

// How long until expiresAt (an API time) at nowMs: { state: 'never' } without an expiry,
// { state: 'expired' } once it passed, else { state: 'in', n, unit } with unit 's', 'min',
// 'h' or 'd', rounded down ("in 54 min" until the 55th minute is complete).
export function timeLeft(expiresAt, nowMs = Date.now()) {
  const ms = toMs(expiresAt)
  if (ms === null) return { state: 'never' }
  const s = Math.floor((ms - nowMs) / 1000)
  if (s <= 0) return { state: 'expired' }
  if (s < 60) return { state: 'in', n: s, unit: 's' }
  if (s < 3600) return { state: 'in', n: Math.floor(s / 60), unit: 'min' }
  if (s < 86400) return { state: 'in', n: Math.floor(s / 3600), unit: 'h' }
  return { state: 'in', n: Math.floor(s / 86400), unit: 'd' }
}
