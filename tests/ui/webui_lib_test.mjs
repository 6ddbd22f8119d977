// SPDX-License-Identifier: MIT
// tests/ui/webui_lib_test.mjs: the web UI's plain formatting and data functions (webui/src/
// lib/format.js, series.js, talkers.js, nodestate.js, csv.js, apierror.js, agentconfig.js, putbody.js;
// collections/fields.js's anomaly mask) in node, without a browser. Tables of
// input and expected output; prints TAP.
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const lib = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'webui', 'src', 'lib')
const load = (f) => import(pathToFileURL(join(lib, f)))
const fmt = await load('format.js')
const series = await load('series.js')
const talkers = await load('talkers.js')
const nodestate = await load('nodestate.js')
const csv = await load('csv.js')
const apierror = await load('apierror.js')
const agentconfig = await load('agentconfig.js')
const fields = await import(pathToFileURL(join(lib, '..', 'collections', 'fields.js')))
const putbody = await load('putbody.js')

let n = 0
let failed = 0
function eq(got, want, name) {
  n++
  const g = JSON.stringify(got)
  const w = JSON.stringify(want)
  if (g === w) console.log(`ok ${n} - ${name}`)
  else {
    failed++
    console.log(`not ok ${n} - ${name}\n# got  ${g}\n# want ${w}`)
  }
}

// ---- bits per second: decimal units as network gear counts them ----
for (const [v, want] of [
  [0, '0 bit/s'],
  [undefined, '0 bit/s'],
  [999, '999 bit/s'],
  [1000, '1.00 kbit/s'],
  [12500, '12.5 kbit/s'],
  [999999, '1000 kbit/s'],
  [1e6, '1.00 Mbit/s'],
  [1.2e6, '1.20 Mbit/s'],
  [250e6, '250 Mbit/s'],
  [1e9, '1.00 Gbit/s'],
  [10e9, '10.0 Gbit/s'],
  [4e12, '4.00 Tbit/s'],
]) eq(fmt.fmtBps(v), want, `fmtBps(${v}) = ${want}`)

for (const [unit, pps, bps, want] of [
  ['pps', 1500, 12e6, '1500 pps'],
  ['pps', 25000, 0, '25.0k pps'],
  ['bps', 1500, 12e6, '12.0 Mbit/s'],
  ['bps', 1500, undefined, '0 bit/s'],
]) eq(fmt.fmtUnitRate(unit, pps, bps), want, `fmtUnitRate(${unit}, ${pps}, ${bps}) = ${want}`)

// ---- times: RFC 3339 strings and numbers in ns, ms or s ----
const T = Date.parse('2030-01-02T15:04:05Z')
for (const [v, want] of [
  ['2030-01-02T15:04:05Z', T],
  [T, T],
  [T * 1e6, T],
  [T / 1000, T],
  [null, null],
  ['', null],
  [0, null],
  ['not a time', null],
]) eq(fmt.toMs(v), want, `toMs(${JSON.stringify(v)})`)

for (const [v, want] of [
  [0, '0 s'],
  [59, '59 s'],
  [61, '1 min 1 s'],
  [3600 + 120, '1 h 2 min'],
  [3 * 86400 + 4 * 3600, '3 d 4 h'],
  [null, '—'],
]) eq(fmt.fmtDuration(v), want, `fmtDuration(${v}) = ${want}`)

// ---- series: exclusive categories that stack to what was received ----
const rates = {
  rx_pps: 1000, passed_pps: 700, dropped_pps: 300, whitelisted_pps: 100, rate_limited_pps: 50, malformed_pps: 10,
  rx_bps: 8e6, passed_bps: 5.6e6, dropped_bps: 2.4e6, whitelisted_bps: 0.8e6, rate_limited_bps: 0.4e6, malformed_bps: 0.08e6,
}
const p = series.pointOf('2030-01-02T15:04:05Z', rates)
eq(
  series.CATEGORIES.map((c) => p.pps[c]),
  [600, 100, 240, 50, 10],
  'pps categories: passed (not whitelisted), whitelisted, dropped by rule, rate-limited, malformed',
)
eq(series.CATEGORIES.reduce((a, c) => a + p.pps[c], 0), 1000, 'the pps stack adds up to rx_pps')
eq(Math.round(series.CATEGORIES.reduce((a, c) => a + p.bps[c], 0)), 8e6, 'the bps stack adds up to rx_bps')
eq(p.t, T, 'the point\'s time from RFC 3339')

// ---- gaps: a missing point or a point without rates is null, never 0 ----
const hist = {
  points: [
    { at: '2030-01-02T15:04:00Z', rates },
    { at: '2030-01-02T15:04:01Z', rates },
    { at: '2030-01-02T15:04:02Z', rates: null },
    { at: '2030-01-02T15:04:03Z', rates },
    { at: '2030-01-02T15:04:04Z', rates },
    // 15:04:05 .. 15:04:09 missing
    { at: '2030-01-02T15:04:10Z', rates },
    { at: '2030-01-02T15:04:11Z', rates },
  ],
}
const pts = series.fromHistory(hist)
eq(pts[2].pps.passed, null, 'a history point without rates has null values')
const data = series.seriesData(pts, 'pps', 'ruleDropped')
eq(
  data.map(([t, v]) => [(t - Date.parse('2030-01-02T15:04:00Z')) / 1000, v]),
  [[0, 240], [1, 240], [2, null], [3, 240], [4, 240], [5, null], [10, 240], [11, 240]],
  'missing seconds become one null point after the last figure; no zeros',
)
eq(series.withGaps(pts).filter((x) => x.gap).length, 2, 'two gaps in that history')
eq(series.seriesData(pts.slice(0, 2), 'bps', 'passed').map(([, v]) => v), [4.8e6, 4.8e6], 'bps series without gaps')
eq(series.stepOf([]), 1000, 'the step of too few points is 1 s')
const live = [0, 5000, 10000, 15000, 20000, 40000].map((t) => ({ ...series.pointOf(t + T, rates) }))
eq(series.withGaps(live).filter((x) => x.gap).length, 1, 'a 5 s feed gets a gap only where 20 s are missing')

for (const [stats, off, want, name] of [
  [{ nodes: [{ node_id: 'a', stale: false }] }, [], true, 'one fresh node: current figures'],
  [{ nodes: [{ node_id: 'a', stale: true }] }, [], false, 'every node stale: no current figures'],
  [{ nodes: [{ node_id: 'a', stale: false }] }, ['a'], false, 'every node offline: no current figures'],
  [{ nodes: [{ node_id: 'a', stale: true }, { node_id: 'b' }] }, [], true, 'one of two fresh: current'],
  [{ nodes: [] }, [], false, 'no nodes: no current figures'],
  [null, [], false, 'no stats: no current figures'],
]) eq(series.hasCurrentFigures(stats, off), want, name)

// ---- top talkers ----
eq(
  talkers.blockRuleOf({ src: ' 192.0.2.7 ', name: 'block 192.0.2.7', expires_in: '1h' }),
  { name: 'block 192.0.2.7', action: 'drop', enabled: true, comment: 'blocked from top talkers', src_ip: '192.0.2.7', expires_in: '1h' },
  'an address becomes src_ip with the expiry',
)
eq(
  talkers.blockRuleOf({ src: '2001:db8:1::/64', name: 'block 2001:db8:1::/64', expires_in: '' }),
  { name: 'block 2001:db8:1::/64', action: 'drop', enabled: true, comment: 'blocked from top talkers', src_cidr: '2001:db8:1::/64' },
  'a prefix becomes src_cidr; an empty expiry is none',
)
eq(['src', 'src_prefix', 'dst', 'dst_port'].map(talkers.canBlock), [true, true, false, false], 'only sources can be blocked')
eq(talkers.talkerState({ sample_rate: 0, talkers: [] }), 'off', 'sample_rate 0 is "sampling off", not an empty table')
eq(talkers.talkerState({ sample_rate: 64, talkers: [] }), 'empty', 'sampling on, nothing seen')
eq(talkers.talkerState({ sample_rate: 64, talkers: [{ key: '1' }] }), 'rows', 'rows')
eq(talkers.talkerRows({ talkers: [{ key: 'a', share: 0.4567, packets: '12' }] }).map((r) => [r.percent, r.packets]), [[45.7, 12]], 'share as a percentage')

// ---- node state ----
const at = '2030-01-02T15:04:05Z'
for (const [node, stats, want, name] of [
  [{ status: 'online', stats: { at, stale: false } }, null, { stale: false, at: T }, 'online and fresh: current'],
  [{ status: 'online', stats: { at, stale: true } }, null, { stale: true, at: T }, 'marked stale by the controller'],
  [{ status: 'offline', stats: { at, stale: false } }, null, { stale: true, at: T }, 'an offline node is never current'],
  [{ status: 'offline', last_seen: at }, null, { stale: true, at: T }, 'no figures: as of last seen'],
  [{ status: 'online', stats: { at: null } }, { at, stale: false }, { stale: false, at: T }, 'stats fetched apart win'],
]) eq(nodestate.figuresOf(node, stats), want, name)
eq(['active', 'inactive', 'presumed', 'unknown', '', undefined, 'x'].map((f) => nodestate.filteringOf({ filtering: f })),
  ['active', 'inactive', 'presumed', 'unknown', 'unknown', 'unknown', 'unknown'], 'filtering states')
eq(nodestate.capacityOf(50, 200), { used: 50, max: 200, percent: 25 }, 'capacity 50 / 200')
eq(nodestate.capacityOf(5, 0), null, 'no capacity without a max')

// ---- time left of an expiry ----
const NOW = Date.parse('2030-01-02T15:00:00Z')
for (const [exp, want, name] of [
  [undefined, { state: 'never' }, 'no expiry: never'],
  ['', { state: 'never' }, 'empty expiry: never'],
  ['2030-01-02T14:59:59Z', { state: 'expired' }, 'a second ago: expired'],
  ['2030-01-02T15:00:00Z', { state: 'expired' }, 'now: expired'],
  ['2030-01-02T15:00:42Z', { state: 'in', n: 42, unit: 's' }, '42 s'],
  ['2030-01-02T15:54:59Z', { state: 'in', n: 54, unit: 'min' }, '54 min 59 s: in 54 min'],
  ['2030-01-02T17:30:00Z', { state: 'in', n: 2, unit: 'h' }, '2 h 30 min: in 2 h'],
  ['2030-01-05T15:00:00Z', { state: 'in', n: 3, unit: 'd' }, '3 days'],
]) eq(fmt.timeLeft(exp, NOW), want, `time left: ${name}`)

// ---- CSV, as xdropctl rules export -o csv writes it (cli/csv.c) ----
const EXPORT = 'id,name,src_ip,dst_ip,src_cidr,dst_cidr,src_port,dst_port,protocol,action,rate_limit,burst,pkt_len_min,pkt_len_max,tcp_flags,enabled,expires_at,comment,source\n' +
  'a1,first,,,10.0.0.0/8,,,53,udp,drop,,,,,,true,,"quoted, with comma",feed-a\r\n' +
  'a2,"say ""hi""",192.0.2.1,,,,,,,rate_limit,100,200,,,,false,2030-01-02T16:00:00Z,"two\nlines",\n' +
  '\n' +
  'a3,third,,,,,,x80,tcp,pass,,,,,"SYN,!ACK",true,,,\n'
eq(csv.csvToItems(EXPORT), {
  items: [
    { id: 'a1', name: 'first', src_cidr: '10.0.0.0/8', dst_port: 53, protocol: 'udp', action: 'drop', enabled: true, comment: 'quoted, with comma', source: 'feed-a' },
    { id: 'a2', name: 'say "hi"', src_ip: '192.0.2.1', action: 'rate_limit', rate_limit: 100, burst: 200, enabled: false, expires_at: '2030-01-02T16:00:00Z', comment: 'two\nlines' },
    { id: 'a3', name: 'third', dst_port: 'x80', protocol: 'tcp', action: 'pass', tcp_flags: 'SYN,!ACK', enabled: true },
  ],
  lines: [2, 3, 6],
}, 'csv: export rows typed by field, in file order, with their file lines (quotes, CRLF, blank and multi-line)')
eq(csv.csvToItems('dst_ip,match_anomaly\n192.0.2.1,3\n192.0.2.2,invalid\n').items,
  [{ dst_ip: '192.0.2.1', match_anomaly: 3 }, { dst_ip: '192.0.2.2', match_anomaly: 'invalid' }],
  'csv: match_anomaly as a number when written in digits, else as the names (the API reads both)')

// ---- match_anomaly (v2.7's mask) and the form's checkboxes ----
for (const [mask, names] of [[0, []], [1, ['bad_fragment']], [2, ['invalid']], [3, ['bad_fragment', 'invalid']], [undefined, []]]) {
  eq(fields.anomalyNames(mask), names, `anomalyNames(${mask})`)
  if (mask !== undefined) eq(fields.anomalyMask(names), mask, `anomalyMask(${JSON.stringify(names)})`)
}
{
  const f = fields.FIELDS.match_anomaly
  const b = {}
  f.to({ match_anomaly: ['invalid', 'bad_fragment'] }, b)
  eq([f.from({ match_anomaly: 2 }), f.from({}), b], [['invalid'], [], { match_anomaly: 3 }],
    'the anomaly checkboxes: a rule fills them, the API gets the mask')
}
const csvErr = (text) => {
  try {
    csv.csvToItems(text)
    return 'no error'
  } catch (e) {
    return e.message
  }
}
eq(csvErr('name,action\nx,drop,extra\n'), 'line 2: 3 cells, the header has 2', 'csv: a row with more cells than the header names its line')
eq(csvErr('name,action\nx,drop\n"open,drop\n'), 'line 3: unterminated quote', 'csv: an unterminated quote names its line')
eq(csvErr(''), 'line 1: a header row naming the columns is required', 'csv: an empty file has no header')
eq(csv.readItems('r.json', '{"rules":[{"name":"j"}]}', 'rules'), { items: [{ name: 'j' }], lines: [null], format: 'json' }, 'a .json file is JSON')
eq(csv.readItems('r.txt', '\ufeffname\nc\n', 'rules').format, 'csv', 'a file that does not start like JSON is CSV (BOM skipped)')
{
  let seq = 0
  const ids = csv.orderedIds(5000, Date.parse('2030-01-02T15:00:00Z'), () => ((seq = (seq * 7 + 3) % 16) / 16))
  const later = csv.orderedIds(1, Date.parse('2030-01-02T15:00:00.001Z'))
  const sorted = [...ids].sort()
  eq([ids.every((x, i) => x === sorted[i]), ids[4999] < later[0], new Set(ids).size, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/.test(ids[4097])],
    [true, true, 5000, true], 'ordered ids: sort in the order made, after earlier ones, distinct, UUID-shaped')
}

// ---- server errors by code, in the UI's language ----
const tr = (k) => `<${k}>`
for (const [e, want, name] of [
  [{ status: 400, message: 'out of range (0..65535)', field: 'dst_port' }, '<apiError.INVALID_ARGUMENT>: out of range (0..65535)', '400: invalid argument with the detail'],
  [{ status: 409, message: 'duplicate of rule 1234' }, '<apiError.ALREADY_EXISTS>: duplicate of rule 1234', '409'],
  [{ status: 403, message: 'forbidden' }, '<apiError.PERMISSION_DENIED>', '403 without a detail'],
  [{ status: 507, message: 'HTTP 507' }, '<apiError.RESOURCE_EXHAUSTED>', '507 bare'],
  [{ status: 0, message: 'Failed to fetch' }, '<apiError.NETWORK>: Failed to fetch', 'network'],
  [{ code: 'OUT_OF_RANGE', error: 'too big', index: 3 }, '<apiError.OUT_OF_RANGE>: too big', 'a batch item: its code wins'],
  [{ status: 418, message: 'teapot' }, '<apiError.INVALID_ARGUMENT>: teapot', 'another 4xx'],
]) eq(apierror.errorText(tr, e), want, `error text: ${name}`)
{
  const en = (await import(pathToFileURL(join(lib, '..', 'i18n', 'en.js')))).default
  const zh = (await import(pathToFileURL(join(lib, '..', 'i18n', 'zh.js')))).default
  const miss = apierror.ERROR_CODES.filter((c) => !en.apiError[c] || !zh.apiError[c])
  eq(miss, [], 'every error code has an English and a Chinese sentence')
}

// ---- the agent config shown after adding a node ----
eq(agentconfig.agentSnippet({ id: 'edge-1', key: 'k'.repeat(32), address: 'tls+tcp://10.0.0.2:7610' }),
  'node:\n  id: edge-1\n  key: ' + 'k'.repeat(32) + '\nrpc:\n  listen: tls+tcp://0.0.0.0:7610\n' +
  "# CONTROLLER_HOST: replace with the controller's address\n" +
  'controller:\n  rpc: tls+tcp://CONTROLLER_HOST:7700\n  push: tls+tcp://CONTROLLER_HOST:7701\n  health: tls+tcp://CONTROLLER_HOST:7702\n',
  'agent config: id, key, the listener on the node address\'s port, controller placeholders (TLS kept)')
eq(agentconfig.agentSnippet({ id: 'n', key: 'x', address: 'ipc:///tmp/a' }).split('\n')[4], '  listen: tcp://0.0.0.0:7600', 'agent config: the default listener for a non-TCP address')

// ---- a PUT from the edit form: emptied fields go as null (clear), not as "" or 0 (unchanged) ----
eq(putbody.forUpdate({ name: '', dst_port: 0, src_port: 53, protocol: 'any', enabled: false, tcp_flags: '', rate_limit: 0, comment: 'c' }),
  { name: null, dst_port: null, src_port: 53, protocol: 'any', enabled: false, tcp_flags: null, rate_limit: null, comment: 'c' },
  'update body: "" and 0 become null, booleans and values stay')

console.log(`1..${n}`)
process.exit(failed ? 1 : 0)
