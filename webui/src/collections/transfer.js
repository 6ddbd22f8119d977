// SPDX-License-Identifier: MIT
// Import and export of a collection, for the kinds whose descriptor has a `transfer` entry
// (kinds.js): export pages through the whole collection into a JSON file and keeps only the
// fields an import takes back; import reads a JSON or CSV file (lib/csv.js), sends its items
// in batches of transfer.chunk, non-atomic, and reports per item what the API refused.
import { reactive } from 'vue'
import { ElMessage } from 'element-plus'
import { errorText } from '../lib/apierror.js'
import { downloadJson } from '../lib/format.js'
import { orderedIds, readItems } from '../lib/csv.js'

// Fields of an item that belong to the cluster, not to the file.
const CLUSTER_FIELDS = ['id', 'stats', 'created_at', 'updated_at']

// kind: a descriptor with transfer; t: the i18n function; reload(): called after an import.
// Returns a reactive object: exporting, result ({ show, added, failed, errors: [{ index,
// field, error, line }], csv }), exportAll(), importFile(change event).
export function useTransfer(kind, t, reload) {
  const x = kind.transfer
  const s = reactive({ exporting: false, result: { show: false, added: 0, failed: 0, errors: [], csv: false } })

  async function exportAll() {
    s.exporting = true
    try {
      const out = []
      for (let p = 1; ; p++) {
        const r = await kind.api.list({ page: p, limit: 1000, sort: 'created_at', order: 'asc' })
        for (const item of r[kind.keys.list] || []) {
          const e = {}
          for (const k of x.fields) if (item[k] !== null && item[k] !== undefined) e[k] = item[k]
          out.push(e)
        }
        if (!r.pagination || p >= r.pagination.pages) break
      }
      const d = new Date().toISOString().slice(0, 10)
      downloadJson(`${x.file}-${d}.json`, { [kind.keys.batch]: out })
    } catch (e) {
      ElMessage.error(errorText(t, e))
    } finally {
      s.exporting = false
    }
  }

  // Items go in file order, each with a new id that sorts after the one before it (lib/
  // csv.js orderedIds), so every list shows an import in the file's order. Errors name the
  // item's index and, for CSV, its file line.
  async function importFile(ev) {
    const f = ev.target.files && ev.target.files[0]
    if (!f) return
    let file
    try {
      file = readItems(f.name, await f.text(), kind.keys.batch)
      if (!file.items.length) throw new Error(t(x.empty))
    } catch (e) {
      ElMessage.error(`${t(x.bad)}: ${e.message}`)
      return
    }
    const { items, lines } = file
    const ids = orderedIds(items.length)
    let added = 0
    const errors = []
    // a CSV error names the file line, so its field without the batch's "rules[3]." prefix
    const csv = file.format === 'csv'
    const err = (index, field, error) =>
      errors.push({ index, line: lines[index] ?? '', field: csv ? String(field || '').replace(/^\w+\[\d+\]\./, '') : field, error })
    for (let i = 0; i < items.length; i += x.chunk) {
      const chunk = items.slice(i, i + x.chunk).map((it, k) => {
        const c = { ...it }
        for (const key of CLUSTER_FIELDS) delete c[key]
        c.id = ids[i + k]
        if (!c.source) c.source = 'import'
        return c
      })
      try {
        const r = await kind.api.batchCreate(chunk, false)
        added += r.added || 0
        for (const e of r.errors || []) err(i + e.index, e.field, errorText(t, e))
      } catch (e) {
        err(i, e.field, errorText(t, e))
      }
    }
    Object.assign(s.result, { show: true, added, failed: items.length - added, errors, csv })
    reload()
  }

  return Object.assign(s, { exportAll, importFile })
}
