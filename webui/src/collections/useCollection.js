// SPDX-License-Identifier: MIT
// The list logic of one collection page, the same for every kind (kinds.js): load a page
// with search, filters and server-side sort; delete one or the selected; toggle enabled;
// reload on the kind's live event and timer.
import { onBeforeUnmount, onMounted, reactive, ref, watch } from 'vue'
import { ElMessage } from 'element-plus'
import { errorText } from '../lib/apierror.js'
import { onLive } from '../api/events.js'
import { confirmDanger } from '../lib/confirm.js'

const SEARCH_DELAY_MS = 300

// kind: a descriptor from kinds.js; t: the i18n function. Returns a reactive object with the
// page's state (rows, total, page, limit, search, filters, loading, selected, toggling) and
// its actions (load(quiet), onSort, onSelect, toggle, remove, removeSelected). Starts
// loading when the page mounts and stops its timers when it unmounts.
export function useCollection(kind, t) {
  const s = reactive({
    rows: [],
    total: 0,
    page: 1,
    limit: 50,
    search: '',
    filters: Object.fromEntries(kind.filters.map((f) => [f.param, f.text ? '' : 'all'])),
    sort: '',
    order: '',
    loading: false,
    selected: [],
    toggling: {},
    now: Date.now(), // the clock of the rows' time-left cells, moved on every load
  })
  let seq = 0
  let searchTimer = null
  let timer = null
  let off = null

  // quiet: a background reload, without the spinner or an error message. Only the newest
  // answer is shown; an emptied last page steps back to the last one there is.
  async function load(quiet) {
    const mine = ++seq
    if (!quiet) s.loading = true
    try {
      const params = { page: s.page, limit: s.limit, search: s.search.trim(), sort: s.sort, order: s.order }
      for (const [k, v] of Object.entries(s.filters)) params[k] = v === 'all' ? '' : v.trim()
      const r = await kind.api.list(params)
      if (mine !== seq) return
      s.rows = r[kind.keys.list] || []
      s.now = Date.now()
      s.total = (r.pagination && Number(r.pagination.total)) || 0
      if (!s.rows.length && s.page > 1 && r.pagination && s.page > r.pagination.pages) {
        s.page = Math.max(1, r.pagination.pages)
      }
    } catch (e) {
      if (!quiet) ElMessage.error(errorText(t, e))
    } finally {
      if (mine === seq) s.loading = false
    }
  }

  watch([() => s.page, () => s.limit, () => s.sort, () => s.order, () => ({ ...s.filters })], () => load())
  watch(
    () => s.search,
    () => {
      clearTimeout(searchTimer)
      searchTimer = setTimeout(() => {
        if (s.page !== 1) s.page = 1
        else load()
      }, SEARCH_DELAY_MS)
    },
  )

  function onSort({ prop, order }) {
    s.sort = order ? prop : ''
    s.order = order === 'ascending' ? 'asc' : order === 'descending' ? 'desc' : ''
  }

  function onSelect(rows) {
    s.selected = rows
  }

  async function toggle(row, value) {
    s.toggling[row.id] = true
    try {
      const r = await kind.api.update(row.id, { enabled: value })
      const item = r[kind.keys.one]
      row.enabled = item ? item.enabled : value
    } catch (e) {
      ElMessage.error(errorText(t, e))
    } finally {
      s.toggling[row.id] = false
    }
  }

  async function remove(row) {
    if (!(await confirmDanger(t, t(kind.text.confirmDelete, { name: row.name || row.id })))) return
    try {
      await kind.api.remove(row.id)
      ElMessage.success(t(kind.text.deleted))
      load(true)
    } catch (e) {
      ElMessage.error(errorText(t, e))
    }
  }

  async function removeSelected() {
    const ids = s.selected.map((r) => r.id)
    if (!(await confirmDanger(t, t('rule.confirmDeleteN', { n: ids.length })))) return
    try {
      const r = await kind.api.batchDelete(ids)
      if (kind.text.deletedN) ElMessage.success(t(kind.text.deletedN, { n: r.deleted }))
      s.selected = []
      load(true)
    } catch (e) {
      ElMessage.error(errorText(t, e))
    }
  }

  onMounted(() => {
    load()
    if (kind.live) {
      timer = setInterval(() => load(true), kind.live.everyMs)
      off = onLive(kind.live.event, () => load(true))
    }
  })
  onBeforeUnmount(() => {
    clearInterval(timer)
    clearTimeout(searchTimer)
    if (off) off()
  })

  return Object.assign(s, { load, onSort, onSelect, toggle, remove, removeSelected })
}
