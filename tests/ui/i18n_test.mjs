// SPDX-License-Identifier: MIT
// tests/ui/i18n_test.mjs: the web UI's languages (webui/src/i18n) in node, no browser.
// Every locale of locales.js has a message file with exactly the keys of en.js, the same
// {placeholders} per key, no empty string, no vue-i18n syntax character the English text
// lacks, and no English text copied untranslated except the tokens listed in SAME_AS_EN;
// the browser's language picks the UI's; numbers and times follow the locale. Prints TAP.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const src = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'webui', 'src')
const load = async (f) => import(pathToFileURL(join(src, f)))
const { LOCALES, detectLocale, localeTag } = await load('i18n/locales.js')
const fmt = await load('lib/format.js')
const { ERROR_CODES } = await load('lib/apierror.js')

let n = 0
let failed = 0
function ok(cond, name, diag = '') {
  n++
  if (cond) console.log(`ok ${n} - ${name}`)
  else {
    failed++
    console.log(`not ok ${n} - ${name}${diag ? '\n# ' + String(diag).split('\n').join('\n# ') : ''}`)
  }
}
const eq = (got, want, name) => ok(JSON.stringify(got) === JSON.stringify(want), name, `got  ${JSON.stringify(got)}\nwant ${JSON.stringify(want)}`)

// Values a translation may keep exactly as in English: units, abbreviations, IDs and
// words that are the same in the language. By key, for every locale ('*') or one locale.
const SAME_AS_EN = {
  '*': {
    'chart.pps': 'pps', 'chart.bps': 'bit/s', 'rule.pps': 'PPS', 'node.pps': 'PPS', 'node.cpu': 'CPU',
    'keys.id': 'ID', 'cluster.id': 'ID', 'common.ok': 'OK', 'talkers.w_10s': '10 s', 'talkers.w_1m': '1 min', 'talkers.w_5m': '5 min',
  },
  es: { 'common.error': 'Error', 'rule.bytes': 'Bytes', 'settings.gateway': 'Gateway', 'cluster.no': 'no' },
}

const flat = (o, p = '') =>
  Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' ? flat(v, `${p}${k}.`) : [[`${p}${k}`, v]]))
const holes = (s) => (String(s).match(/\{[^{}]*\}/g) || []).sort()
const en = new Map(flat((await load('i18n/en.js')).default))
const index = readFileSync(join(src, 'i18n', 'index.js'), 'utf8')

eq(LOCALES.map((l) => l.code), ['en', 'zh', 'ja', 'ko', 'es'], 'the UI speaks English, Chinese, Japanese, Korean and Spanish')
for (const { code, tag } of LOCALES) {
  const msgs = new Map(flat((await load(`i18n/${code}.js`)).default))
  ok(new RegExp(`import ${code} from './${code}.js'`).test(index) && new RegExp(`messages: \\{[^}]*\\b${code}\\b`).test(index),
    `${code}: its messages are registered with vue-i18n (i18n/index.js)`)
  ok(Intl.getCanonicalLocales(tag)[0] === tag && Intl.NumberFormat.supportedLocalesOf([tag]).length === 1, `${code}: Intl tag ${tag}`)
  if (code === 'en') continue
  const missing = [...en.keys()].filter((k) => !msgs.has(k))
  const extra = [...msgs.keys()].filter((k) => !en.has(k))
  ok(!missing.length && !extra.length, `${code}: exactly the keys of en.js (${en.size})`,
    missing.map((k) => `missing ${k}`).concat(extra.map((k) => `extra ${k}`)).join('\n'))
  const bad = { holes: [], empty: [], syntax: [], english: [] }
  const allowed = { ...SAME_AS_EN['*'], ...(SAME_AS_EN[code] || {}) }
  for (const [k, v] of msgs) {
    if (!en.has(k)) continue
    const e = en.get(k)
    if (typeof v !== 'string' || !v.trim()) bad.empty.push(k)
    if (JSON.stringify(holes(v)) !== JSON.stringify(holes(e))) bad.holes.push(`${k}: ${holes(v)} vs ${holes(e)}`)
    for (const c of ['|', '@', '$']) if (String(v).includes(c) && !e.includes(c)) bad.syntax.push(`${k} has "${c}"`)
    if (v === e && allowed[k] !== v) bad.english.push(`${k}: "${v}"`)
  }
  ok(!bad.empty.length, `${code}: no empty string`, bad.empty.join('\n'))
  ok(!bad.holes.length, `${code}: the same {placeholders} as English in every string`, bad.holes.join('\n'))
  ok(!bad.syntax.length, `${code}: no vue-i18n syntax character (| @ $) that English lacks`, bad.syntax.join('\n'))
  ok(!bad.english.length, `${code}: no English text left untranslated (beyond the listed tokens)`, bad.english.join('\n'))
  const noSentence = ERROR_CODES.filter((c) => !msgs.get(`apiError.${c}`))
  ok(!noSentence.length, `${code}: a sentence for every server error code (${ERROR_CODES.length})`, noSentence.join(' '))
}
// the exceptions are real: every listed key exists and is what English says
for (const [scope, list] of Object.entries(SAME_AS_EN)) {
  const wrong = Object.entries(list).filter(([k, v]) => en.get(k) !== v)
  ok(!wrong.length, `allowed English copies (${scope}) match en.js`, wrong.map(([k]) => k).join(' '))
}

// ---- the browser's languages pick the UI's ----
for (const [langs, want] of [
  [['ja'], 'ja'], [['ko-KR', 'en-US'], 'ko'], [['es-MX'], 'es'], [['es_ES'], 'es'], [['fr-FR', 'zh-TW', 'en'], 'zh'],
  [['fr', 'de'], 'en'], [[], 'en'], [undefined, 'en'], [['EN-gb'], 'en'],
]) eq(detectLocale(langs), want, `browser languages ${JSON.stringify(langs)} -> ${want}`)
eq(LOCALES.map((l) => localeTag(l.code)).concat(localeTag('xx')), ['en-US', 'zh-CN', 'ja-JP', 'ko-KR', 'es-ES', 'en-US'], 'Intl tags by code')

// ---- numbers and times in the UI's locale ----
const at = new Date(2026, 11, 7, 9, 5, 3).getTime()
for (const [tag, num, time, clock] of [
  ['en-US', '1,234,567', '2026-12-07, 09:05:03', '09:05:03'],
  ['es-ES', '1.234.567', '07/12/2026, 9:05:03', '9:05:03'],
  ['ja-JP', '1,234,567', '2026/12/07 09:05:03', '9:05:03'],
]) {
  fmt.setFormatLocale(tag)
  eq([fmt.formatLocale(), fmt.fmtNum(1234567.4), fmt.fmtTime(at).length > 0, fmt.fmtNum('')], [tag, num, true, '0'], `${tag}: numbers`)
  ok(/\d{2}:05:03|\d:05:03/.test(fmt.fmtClock(at)) && fmt.fmtTime(at).includes('2026'), `${tag}: date and time`, `${fmt.fmtTime(at)} / ${fmt.fmtClock(at)} (e.g. ${time}, ${clock})`)
}
fmt.setFormatLocale('en-US')
ok(fmt.fmtTime(at).startsWith('2026-12-07'), 'English dates year first', fmt.fmtTime(at))
fmt.setFormatLocale('ko-KR')
ok(fmt.fmtTime(at).includes('2026') && fmt.fmtTime(at) !== (fmt.setFormatLocale('en-US'), fmt.fmtTime(at)), 'ko-KR: a date in Korean order, not the English one')
fmt.setFormatLocale('not a tag!')
eq(fmt.formatLocale(), 'en-US', 'a bad tag falls back to en-US')

console.log(`1..${n}`)
process.exit(failed ? 1 : 0)
