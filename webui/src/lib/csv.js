// SPDX-License-Identifier: MIT
// CSV files of rules, as `xdropctl rules export -o csv` writes them (cli/csv.c): a header
// row naming the fields, then one record per item, RFC 4180 quoting (a quoted cell may hold
// commas, doubled quotes and line breaks). Each cell is typed by its field, so a CSV import
// sends the same JSON a JSON import does; an empty cell means the field is absent.

// Fields that are integers (sent as numbers when written in digits; anything else goes as
// typed, so the API names what is wrong with it) and booleans.
const INTEGER = new Set(['src_port', 'dst_port', 'rate_limit', 'burst', 'pkt_len_min', 'pkt_len_max', 'match_anomaly'])
const BOOLEAN = new Set(['enabled'])

export class CsvError extends Error {
  constructor(line, message) {
    super(`line ${line}: ${message}`)
    this.line = line
  }
}

// text -> [{ line, cells }]: every record with the file line it starts on (1-based). Throws
// CsvError for an unterminated quote or text after a closing quote.
export function parseCsv(text) {
  const out = []
  let i = 0
  let line = 1
  const s = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  while (i < s.length) {
    const start = line
    const cells = []
    for (;;) {
      let cell = ''
      if (s[i] === '"') {
        i++
        for (;;) {
          if (i >= s.length) throw new CsvError(start, 'unterminated quote')
          if (s[i] === '"' && s[i + 1] === '"') {
            cell += '"'
            i += 2
          } else if (s[i] === '"') {
            i++
            break
          } else {
            if (s[i] === '\n') line++
            cell += s[i++]
          }
        }
      } else {
        while (i < s.length && s[i] !== ',' && s[i] !== '\n' && s[i] !== '\r') cell += s[i++]
      }
      cells.push(cell)
      if (s[i] === ',') {
        i++
        continue
      }
      if (i < s.length && s[i] !== '\n' && s[i] !== '\r') throw new CsvError(line, 'text after a closing quote')
      if (s[i] === '\r') i++
      if (s[i] === '\n') i++
      line++
      break
    }
    if (!(cells.length === 1 && cells[0] === '')) out.push({ line: start, cells })
  }
  return out
}

function typed(field, v) {
  if (INTEGER.has(field)) return /^-?\d+$/.test(v) ? Number(v) : v
  if (BOOLEAN.has(field)) {
    const l = v.toLowerCase()
    if (l === 'true' || l === '1' || l === 'yes') return true
    if (l === 'false' || l === '0' || l === 'no') return false
  }
  return v
}

// text -> { items, lines }: the records after the header as JSON objects, in file order,
// with the file line of each (lines[i] for items[i]). Throws CsvError for a missing
// header, a record whose cell count differs from the header's, or bad quoting.
export function csvToItems(text) {
  const recs = parseCsv(text)
  if (!recs.length) throw new CsvError(1, 'a header row naming the columns is required')
  const head = recs[0].cells.map((h) => h.trim())
  const items = []
  const lines = []
  for (const r of recs.slice(1)) {
    if (r.cells.length !== head.length) {
      throw new CsvError(r.line, `${r.cells.length} cells, the header has ${head.length}`)
    }
    const o = {}
    head.forEach((h, k) => {
      if (r.cells[k] !== '') o[h] = typed(h, r.cells[k])
    })
    items.push(o)
    lines.push(r.line)
  }
  return { items, lines }
}

// A file's text -> { items, lines, format }: CSV when the name ends in .csv or the text does
// not start like JSON; JSON ({"rules": [...]} under batchKey, or a bare array) otherwise.
// lines[i] is the file line of a CSV item, or null for JSON.
export function readItems(name, text, batchKey) {
  const t = text.replace(/^\ufeff/, '')
  const csv = /\.csv$/i.test(name) || !/^\s*[[{]/.test(t)
  if (csv) return { ...csvToItems(t), format: 'csv' }
  const doc = JSON.parse(t)
  const items = Array.isArray(doc) ? doc : doc && doc[batchKey]
  if (!Array.isArray(items)) throw new Error(`expected a JSON array or {"${batchKey}": [...]}`)
  return { items, lines: items.map(() => null), format: 'json' }
}

// n ids for new items that sort (as text) in the order given and after every id made
// earlier: UUIDs whose first 48 bits are the time in ms and next bits a counter (the
// layout of a version 7 UUID). The controller lists items by creation time and then id,
// and gives one batch one creation time, so these keep a file's order in every list.
export function orderedIds(n, nowMs = Date.now(), rand = Math.random) {
  const hex = (v, w) => Math.floor(v).toString(16).padStart(w, '0').slice(-w)
  const out = []
  for (let i = 0; i < n; i++) {
    const tail = Array.from({ length: 12 }, () => hex(rand() * 16, 1)).join('')
    const t = `${hex(nowMs / 65536, 8)}-${hex(nowMs % 65536, 4)}`
    out.push(`${t}-7${hex(i / 4096, 3)}-8${hex(i % 4096, 3)}-${tail}`)
  }
  return out
}
