// SPDX-License-Identifier: MIT
// Number, time and rule formatting shared by the views. Everything returns plain text:
// the templates print it with {{ }}, which escapes it.

export function fmtNum(n) {
  if (n === null || n === undefined || n === '') return '0'
  const v = Number(n)
  if (!Number.isFinite(v)) return String(n)
  return Math.round(v).toLocaleString('en-US')
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

export function fmtTime(t) {
  if (!t) return '—'
  const d = new Date(typeof t === 'number' ? t / 1e6 : t)
  if (Number.isNaN(d.getTime())) return String(t)
  const p = (x) => String(x).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(
    d.getMinutes(),
  )}:${p(d.getSeconds())}`
}

// Seconds since t (RFC 3339 string or nanoseconds since the epoch), or null.
export function ageSeconds(t) {
  if (!t) return null
  const ms = typeof t === 'number' ? t / 1e6 : Date.parse(t)
  if (!Number.isFinite(ms)) return null
  return Math.max(0, Math.round((Date.now() - ms) / 1000))
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
