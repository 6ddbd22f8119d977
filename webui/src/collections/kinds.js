// SPDX-License-Identifier: MIT
// One descriptor per kind of collection the UI edits (rules, whitelist entries): its REST
// path and JSON keys, its table columns, its form, its labels and what it can do. The page
// (CollectionPage.vue), its form (CollectionDialog.vue) and its logic (useCollection.js,
// transfer.js) read only this, so a new field or a new kind is one edit here (and, for a
// new field, one entry in fields.js).
import { collectionApi } from '../api/client.js'
import { fmtBytes, fmtNum, fmtUnitRate } from '../lib/format.js'
import { rateUnit } from '../lib/unit.js'
import { aliasesOf, formOf } from './fields.js'

// Adds what follows from the descriptor: the API calls, the form's fields with their
// layout, its items and the API field names that map onto them.
function defineKind(d) {
  const form = formOf(d.form)
  return { ...d, api: collectionApi(d.path, d.keys.batch), form, items: form.map((f) => f.key), aliases: aliasesOf(form) }
}

// Columns: cell says how a row is shown ('name' with the comment under it, 'match',
// 'action', 'toggle' of enabled, 'num' with text(row), 'time' of prop, 'expiry' as time
// left, 'text' of prop); card: shown on a phone's card too; prop and sortable
// make the column sort on the server; test names the cell for tests/ui (item-test).
const NAME = (minWidth) => ({ cell: 'name', prop: 'name', label: 'rule.name', minWidth, sortable: true })
const MATCH = (minWidth) => ({ cell: 'match', label: 'rule.match', minWidth })
const CREATED = { cell: 'time', prop: 'created_at', label: 'common.created', width: 170, sortable: true }
const EXPIRY = { cell: 'expiry', prop: 'expires_at', label: 'rule.expires', test: 'expiry', width: 120, sortable: true, card: true }
const SOURCE = { cell: 'text', prop: 'source', label: 'rule.source', test: 'source', width: 110, card: true }
const stat = (label, test, width, text, card = true) => ({ cell: 'num', label, test, text, width, align: 'right', card })

// Counters every kind has (RuleStats, docs/api.md): hits (packets matched, whatever the
// action), their bytes, and the match rate in the unit of the pps/bps switch (lib/unit.js).
const st = (r) => r.stats || {}
const HITS = stat('rule.hits', 'matches', 100, (r) => fmtNum(st(r).match_count))
const BYTES = stat('rule.bytes', 'bytes', 100, (r) => fmtBytes(st(r).match_bytes), false)
const RATE = stat('rule.rate', 'rate', 120, (r) => {
  const s = st(r)
  return fmtUnitRate(rateUnit.value, s.match_pps ?? s.pps, s.match_bps)
})

export const RULES = defineKind({
  path: '/api/v1/rules',
  keys: { list: 'rules', one: 'rule', batch: 'rules' },
  test: { list: 'rules', item: 'rule' },
  text: {
    title: 'nav.rules', create: 'rule.create', edit: 'rule.edit', search: 'rule.search', created: 'rule.created',
    updated: 'rule.updated', deleted: 'rule.deleted', deletedN: 'rule.deletedN', confirmDelete: 'rule.confirmDelete',
  },
  editable: true,
  filters: [
    { param: 'action', test: 'filter-action', placeholder: 'rule.action', all: 'rule.allActions',
      options: ['drop', 'pass', 'rate_limit'].map((a) => ({ value: a, label: `action.${a}` })) },
    { param: 'enabled', test: 'filter-enabled', all: 'rule.allStates',
      options: [{ value: 'true', label: 'rule.enabledOnly' }, { value: 'false', label: 'rule.disabledOnly' }] },
    // a feed's name (Rule.source: "api", "import", or what an import named); free text
    { param: 'source', test: 'filter-source', text: true, placeholder: 'rule.sourceFilter' },
  ],
  columns: [
    NAME(180),
    MATCH(200),
    { cell: 'action', prop: 'action', label: 'rule.action', width: 160, sortable: true },
    { cell: 'toggle', label: 'rule.enabled', test: 'toggle', width: 90, align: 'center' },
    HITS,
    BYTES,
    stat('rule.drops', 'drops', 100, (r) => fmtNum(st(r).drop_count)),
    RATE,
    EXPIRY,
    SOURCE,
    CREATED,
  ],
  actionsWidth: 150,
  dialogWidth: '640px',
  form: [
    ['name', { xs: 24, sm: 12, maxlength: 256 }],
    ['action', { xs: 24, sm: 12 }],
    ['rate_limit', { xs: 12, sm: 12 }],
    ['burst', { xs: 12, sm: 12 }],
    ['src', { xs: 24, sm: 12 }],
    ['dst', { xs: 24, sm: 12 }],
    ['protocol', { xs: 12, sm: 8 }],
    ['src_port', { xs: 12, sm: 8 }],
    ['dst_port', { xs: 12, sm: 8 }],
    ['pkt_len_min', { xs: 12, sm: 8 }],
    ['pkt_len_max', { xs: 12, sm: 8 }],
    ['tcp_flags', { xs: 24, sm: 8 }],
    ['match_anomaly', { xs: 24, sm: 16 }],
    ['expires_in', { xs: 24, sm: 12 }],
    ['enabled', { xs: 24, sm: 12 }],
    ['comment', { span: 24, maxlength: 1024 }],
  ],
  // Counters move all the time: reload quietly every 2 s and on the live "rules" event.
  live: { event: 'rules', everyMs: 2000 },
  // Import JSON ({"rules": [...]}) or CSV (xdropctl rules export -o csv) files, export JSON;
  // fields: what an import (here or xdropctl) takes back; ids, counters and times are the
  // cluster's, not the rule's.
  transfer: {
    file: 'xdrop-rules',
    chunk: 1000,
    bad: 'rule.importBad',
    empty: 'rule.importEmpty',
    fields: ['name', 'src_ip', 'dst_ip', 'src_cidr', 'dst_cidr', 'src_port', 'dst_port', 'protocol', 'action',
      'rate_limit', 'burst', 'pkt_len_min', 'pkt_len_max', 'tcp_flags', 'match_anomaly', 'enabled', 'expires_at',
      'comment', 'source'],
  },
})

// Traffic matching an entry is never dropped. Entries are added and removed (the API has no
// update).
export const WHITELIST = defineKind({
  path: '/api/v1/whitelist',
  keys: { list: 'entries', one: 'entry', batch: 'entries' },
  test: { list: 'wl', item: 'wl' },
  text: {
    title: 'nav.whitelist', create: 'wl.create', search: 'wl.search', created: 'wl.created', deleted: 'wl.deleted',
    confirmDelete: 'wl.confirmDelete',
  },
  editable: false,
  filters: [],
  columns: [NAME(160), MATCH(220), HITS, BYTES, RATE, CREATED],
  actionsWidth: 100,
  // hits move with the traffic, as a rule's counters do
  live: { event: 'rules', everyMs: 2000 },
  dialogWidth: '560px',
  form: [
    ['name', { xs: 24, sm: 12 }],
    ['protocol', { xs: 24, sm: 12 }],
    ['src', { xs: 24, sm: 12 }],
    ['dst', { xs: 24, sm: 12 }],
    ['src_port', { xs: 12 }],
    ['dst_port', { xs: 12 }],
    ['comment', { span: 24 }],
  ],
})
