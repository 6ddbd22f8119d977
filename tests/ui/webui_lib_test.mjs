// SPDX-License-Identifier: MIT
// tests/ui/webui_lib_test.mjs: the web UI's plain formatting and data functions (webui/src/
// lib/format.js, series.js, talkers.js, nodestate.js) in node, without a browser. Tables of
// input and expected output; prints TAP.
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const lib = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'webui', 'src', 'lib')
const load = (f) => import(pathToFileURL(join(lib, f)))
const fmt = await load('format.js')
const series = await load('series.js')
const talkers = await load('talkers.js')
const nodestate = await load('nodestate.js')

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

console.log(`1..${n}`)
process.exit(failed ? 1 : 0)
