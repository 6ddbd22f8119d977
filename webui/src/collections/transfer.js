// SPDX-License-Identifier: MIT
// Import and export of a collection as a JSON file, for the kinds whose descriptor has a
// `transfer` entry (kinds.js): export pages through the whole collection and keeps only the
// fields an import takes back; import sends the file's items in batches of transfer.chunk,
// non-atomic, and reports per item what the API refused.
import { reactive } from 'vue'
import { ElMessage } from 'element-plus'
import { downloadJson } from '../lib/format.js'

// Fields of an item that belong to the cluster, not to the file.
const CLUSTER_FIELDS = ['id', 'stats', 'created_at', 'updated_at']

// kind: a descriptor with transfer; t: the i18n function; reload(): called after an import.
// Returns a reactive object: exporting, result ({ show, added, failed, errors: [{ index,
// field, error }] }), exportAll(), importFile(change event).
export function useTransfer(kind, t, reload) {
  const x = kind.transfer
  const s = reactive({ exporting: false, result: { show: false, added: 0, failed: 0, errors: [] } })

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
      ElMessage.error(e.message)
    } finally {
      s.exporting = false
    }
  }

  async function importFile(ev) {
    const f = ev.target.files && ev.target.files[0]
    if (!f) return
    let items
    try {
      const doc = JSON.parse(await f.text())
      items = Array.isArray(doc) ? doc : doc && doc[kind.keys.batch]
      if (!Array.isArray(items) || !items.length) throw new Error(t(x.empty))
    } catch (e) {
      ElMessage.error(`${t(x.bad)}: ${e.message}`)
      return
    }
    let added = 0
    const errors = []
    for (let i = 0; i < items.length; i += x.chunk) {
      const chunk = items.slice(i, i + x.chunk).map((it) => {
        const c = { ...it }
        for (const k of CLUSTER_FIELDS) delete c[k]
        if (!c.source) c.source = 'import'
        return c
      })
      try {
        const r = await kind.api.batchCreate(chunk, false)
        added += r.added || 0
        for (const e of r.errors || []) errors.push({ index: i + e.index, field: e.field, error: e.error })
      } catch (e) {
        errors.push({ index: i, field: e.field, error: e.message })
      }
    }
    Object.assign(s.result, { show: true, added, failed: items.length - added, errors })
    reload()
  }

  return Object.assign(s, { exportAll, importFile })
}
