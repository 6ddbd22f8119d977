// SPDX-License-Identifier: MIT
// tests/ui/ui_test.mjs: the web UI in Debian's chromium, driven by playwright-core, against
// the real lab that test_ui.sh started (gateway, controller, an agent on a veth with UDP
// traffic to DROP_PORT flowing from SRC_IP). Prints TAP; screenshots go to ARTIFACTS and
// are listed. AGENT_PID is the lab's agent, which one step stops (SIGSTOP) and resumes
// (SIGCONT) to see the node go offline while its pinned program keeps filtering.
//
//   node ui_test.mjs BASE_URL ADMIN_KEY DROP_PORT ARTIFACTS SRC_IP AGENT_PID
import { createRequire } from 'node:module'
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const webui = join(here, '..', '..', 'webui')
const require = createRequire(join(webui, 'package.json'))
const { chromium } = require('playwright-core')

const [BASE, KEY, DROP_PORT, ARTIFACTS, SRC_IP, AGENT_PID] = process.argv.slice(2)
const SRC_PREFIX = SRC_IP.replace(/\.\d+$/, '.0/24')
const RUN = `${process.pid}`
const RULE = `ui-drop-${RUN}`
// Every way a rule name could smuggle markup or script into the page (G7).
const EVIL = `<img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2;alert(2)</script>"'&<b>${RUN}</b>`
const EVIL_COMMENT = `<svg onload="window.__xss=3"></svg><iframe src="javascript:alert(3)"></iframe>`
const WAIT = 20000

let n = 0
let failed = 0
const shots = []
function ok(cond, name, diag) {
  n++
  if (cond) console.log(`ok ${n} - ${name}`)
  else {
    failed++
    console.log(`not ok ${n} - ${name}`)
    if (diag) for (const l of String(diag).split('\n')) console.log(`# ${l}`)
  }
  return cond
}
async function step(name, fn) {
  try {
    // a step passes by returning true; false or a string (the reason) fails it
    const r = await fn()
    return ok(r === true, name, typeof r === 'string' ? r : '')
  } catch (e) {
    return ok(false, name, (e && e.message ? e.message : String(e)).split('\n').slice(0, 6).join('\n'))
  }
}

const consoleErrors = []
let expectHttp400 = false
const dialogs = []

mkdirSync(ARTIFACTS, { recursive: true })
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
})
const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', acceptDownloads: true })
const page = await ctx.newPage()
page.setDefaultTimeout(WAIT)
page.on('console', (m) => {
  if (m.type() !== 'error') return
  if (expectHttp400 && /status of 400/.test(m.text())) return
  consoleErrors.push(m.text())
})
page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`))
page.on('dialog', (d) => {
  dialogs.push(d.message())
  d.dismiss().catch(() => {})
})

async function shot(name) {
  const p = join(ARTIFACTS, `${name}.png`)
  await page.screenshot({ path: p, fullPage: false, animations: 'disabled' })
  shots.push(p)
}
const api = async (path) => {
  const r = await page.request.get(BASE + path)
  return { status: r.status(), body: r.ok() ? await r.json() : null }
}
const input = (name) => page.locator(`input[data-test=${name}], textarea[data-test=${name}]`)
const ruleRow = (text) => page.locator('[data-test=rules-table] tr.el-table__row', { hasText: text })
async function pickOption(selectTest, label) {
  await page.locator(`[data-test=${selectTest}]`).first().click()
  await page.locator('.el-select-dropdown__item:visible', { hasText: label }).first().click()
}
async function readNum(loc) {
  return Number((await loc.first().innerText()).replace(/[^0-9]/g, '')) || 0
}
async function streamText(stream) {
  const parts = []
  for await (const c of stream) parts.push(c)
  return Buffer.concat(parts).toString('utf8')
}
async function goto(nav) {
  await page.locator(`[data-test=nav-${nav}]`).first().click()
}
// Polls fn until it returns true (or the deadline); returns its last answer.
async function until(fn, ms = WAIT) {
  const end = Date.now() + ms
  let r
  while (Date.now() < end) {
    r = await fn()
    if (r === true) return true
    await page.waitForTimeout(300)
  }
  return r
}
async function cardText(key) {
  return (await page.locator(`[data-test=total-${key}] [data-test=total-value]`).innerText()).trim()
}
async function confirmBox() {
  await page.locator('.el-message-box__btns .el-button--primary').click()
}
const XRW = { 'X-Requested-With': 'x' }
// A rule made through REST (for the views that need one), deleted with dropRule(id).
async function makeRule(body) {
  const r = await page.request.post(`${BASE}/api/v1/rules`, { data: body, headers: XRW })
  if (!r.ok()) throw new Error(`rule not made: ${r.status()} ${await r.text()}`)
  return (await r.json()).rule
}
const dropRule = (id) => page.request.delete(`${BASE}/api/v1/rules/${encodeURIComponent(id)}`, { headers: XRW })
// A browser session signed in with a new key of scope (its own context); fn(page, key) runs
// in it; the context is closed and the key revoked afterwards (a revoke that fails because
// fn revoked it already is fine).
async function withKey(scope, fn, viewport = { width: 1280, height: 800 }) {
  const made = await page.request.post(`${BASE}/api/v1/keys`, { data: { name: `ui-${scope}-${RUN}`, scope }, headers: XRW })
  const key = made.ok() ? (await made.json()).key : null
  if (!key || !key.key) return `${scope} key not made: ${made.status()}`
  const other = await browser.newContext({ viewport, locale: 'en-US' })
  try {
    const p2 = await other.newPage()
    p2.setDefaultTimeout(WAIT)
    p2.on('pageerror', (e) => consoleErrors.push(`pageerror (${scope}): ${e.message}`))
    await p2.goto(BASE + '/login')
    await p2.locator('input[data-test=login-key]').fill(key.key)
    await p2.locator('[data-test=login-submit]').click()
    await p2.waitForURL((u) => u.pathname !== '/login')
    return await fn(p2, key)
  } finally {
    await other.close()
    await page.request.delete(`${BASE}/api/v1/keys/${encodeURIComponent(key.id)}`, { headers: XRW })
  }
}
// Rectangles of the elements matching sel that overlap el's (in the page), as text.
async function overlapsOf(loc, sel) {
  return loc.evaluate((el, s) => {
    const a = el.getBoundingClientRect()
    const hit = []
    for (const o of document.querySelectorAll(s)) {
      if (o.contains(el) || el.contains(o)) continue
      const b = o.getBoundingClientRect()
      if (b.width && b.height && a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) {
        hit.push(`${o.className} at ${Math.round(b.left)},${Math.round(b.top)}`)
      }
    }
    return hit.join('; ')
  }, sel)
}

// (every language's keys and placeholders: tests/ui/test_i18n.sh, in node)

// ---- login ----
await step('an unauthenticated visit lands on the login page', async () => {
  await page.goto(BASE + '/rules')
  await input('login-key').waitFor()
  await shot('01-login')
  return page.url().includes('/login')
})
await step('log in with the admin key: dashboard with live data', async () => {
  await input('login-key').fill(KEY)
  await page.locator('[data-test=login-submit]').click()
  await page.waitForURL((u) => u.pathname === '/rules')
  await goto('dashboard')
  await page.locator('[data-test=traffic-chart] canvas').waitFor()
  await page.locator('[data-test=live]').filter({ hasText: 'Live' }).waitFor()
  return true
})

// ---- create a rule, field errors, find it ----
await step('a field error from the API shows beside its field', async () => {
  await goto('rules')
  await page.locator('[data-test=rules-create]').click()
  await input('rule-name').fill(`${RULE}-bad`)
  await input('rule-dst-port').fill('70000')
  expectHttp400 = true
  await page.locator('[data-test=rule-save]').click()
  const item = page.locator('.el-form-item', { has: input('rule-dst-port') })
  await item.locator('.el-form-item__error').waitFor()
  const text = await item.locator('.el-form-item__error').innerText()
  await shot('02-field-error')
  expectHttp400 = false
  return /port/i.test(text) || `error text: ${text}`
})
await step('create a rule dropping UDP to the traffic port', async () => {
  await input('rule-name').fill(RULE)
  await input('rule-dst-port').fill(DROP_PORT)
  await pickOption('rule-protocol', 'udp')
  await input('rule-comment').fill('made by tests/ui')
  await page.locator('[data-test=rule-save]').click()
  await page.locator('[data-test=rule-dialog]').waitFor({ state: 'hidden' })
  return true
})
await step('the new rule is found in the table by search', async () => {
  await input('rules-search').fill(RULE)
  await ruleRow(RULE).waitFor()
  const rows = await page.locator('[data-test=rules-table] tr.el-table__row').count()
  return rows === 1 || `${rows} rows for the search`
})

// ---- counters and the chart under traffic ----
let drops1 = 0
await step('the rule\'s drop counter rises under traffic', async () => {
  const cell = ruleRow(RULE).locator('[data-test=rule-drops]')
  const end = Date.now() + WAIT
  while (Date.now() < end && (drops1 = await readNum(cell)) === 0) await page.waitForTimeout(500)
  if (!drops1) {
    const nodes = await api('/api/v1/nodes')
    return `no drops after ${WAIT / 1000} s; nodes: ${JSON.stringify((nodes.body && nodes.body.nodes || []).map((x) => [x.id, x.status, x.applied_revision]))}`
  }
  let drops2 = drops1
  const end2 = Date.now() + 10000
  while (Date.now() < end2 && (drops2 = await readNum(cell)) <= drops1) await page.waitForTimeout(500)
  await shot('03-rules-counters')
  return drops2 > drops1 || `drops stayed at ${drops1}`
})
await step('the rule shows hits, bytes and a rate beside its drops', async () => {
  const row = ruleRow(RULE)
  // needs the merged backend: RuleStats.match_bytes and match_pps
  return until(async () => {
    const hits = await readNum(row.locator('[data-test=rule-matches]'))
    const drops = await readNum(row.locator('[data-test=rule-drops]'))
    const bytes = (await row.locator('[data-test=rule-bytes]').innerText()).trim()
    const rate = (await row.locator('[data-test=rule-rate]').innerText()).trim()
    const good = hits > 0 && hits >= drops && /^[0-9.]+ (KiB|MiB|GiB)$/.test(bytes) && /^[0-9.]+k? pps$/.test(rate) && rate !== '0 pps'
    return good || `hits ${hits}, drops ${drops}, bytes ${bytes}, rate ${rate}`
  }, 10000)
})
await step('the dashboard chart shows the drops (SSE)', async () => {
  await goto('dashboard')
  const chart = page.locator('[data-test=traffic-chart]')
  await chart.locator('canvas').waitFor()
  const p0 = Number(await chart.getAttribute('data-points'))
  const end = Date.now() + WAIT
  let dropped = 0
  let pts = p0
  while (Date.now() < end) {
    dropped = Number(await chart.getAttribute('data-last-dropped'))
    pts = Number(await chart.getAttribute('data-points'))
    if (dropped > 0 && pts > p0) break
    await page.waitForTimeout(500)
  }
  await page.locator(`[data-test=top-rules] tr`, { hasText: RULE }).waitFor({ timeout: 10000 }).catch(() => {})
  await shot('04-dashboard-traffic')
  return (dropped > 0 && pts > p0) || `last dropped ${dropped} pps, points ${p0} -> ${pts}`
})
await step('the rule is listed among the top rules by drop rate', async () => {
  await page.locator('[data-test=top-rules] tr', { hasText: RULE }).waitFor({ timeout: 10000 })
  return true
})

// ---- issue 13: bps, stacked chart, top talkers, one-click block ----
await step('the chart stacks five exclusive categories with units; its legend clears the axes', async () => {
  const chart = page.locator('[data-test=traffic-chart]')
  const legend = await chart.getAttribute('data-legend')
  const overlap = await until(async () => (await chart.getAttribute('data-overlap')) === 'no' || (await chart.getAttribute('data-overlap')))
  const gaps = Number(await chart.getAttribute('data-gaps'))
  const problems = []
  if (legend !== 'top') problems.push(`legend at ${legend} on a desktop`)
  if (overlap !== true) problems.push(`legend overlaps the plot: ${overlap}`)
  if (!Number.isFinite(gaps)) problems.push('no gap count')
  return problems.length ? problems.join('\n') : true
})
await step('the pps/bps switch turns cards, chart axis and tables to bit/s and back', async () => {
  await page.locator('[data-test=rate-unit-bps]').click()
  const chart = page.locator('[data-test=traffic-chart]')
  const r = await until(async () => {
    const cards = await Promise.all(['received', 'passed', 'dropped', 'whitelisted'].map(cardText))
    const unit = await chart.getAttribute('data-unit')
    const head = await page.locator('[data-test=top-rules] th').allInnerTexts()
    const good = cards.every((c) => /^[0-9.]+ (k|M|G|T)?bit\/s$/.test(c)) && unit === 'bps' && head.includes('bit/s')
    return good || `cards ${cards.join(', ')}, chart unit ${unit}, top rules head ${head.join('|')}`
  })
  const kept = await page.evaluate(() => localStorage.getItem('xdrop.unit'))
  await page.locator('[data-test=rate-unit-pps]').click()
  const back = await until(async () => /pps$/.test(await cardText('received')) && (await chart.getAttribute('data-unit')) === 'pps')
  if (r !== true) return r
  if (kept !== 'bps') return `remembered unit ${kept}`
  return back === true || 'the cards did not return to pps'
})
await step('in bit/s the cards and the chart show the traffic\'s bits', async () => {
  await page.locator('[data-test=rate-unit-bps]').click()
  const chart = page.locator('[data-test=traffic-chart]')
  // needs the merged backend: rates.rx_bps and dropped_bps of the live traffic
  const r = await until(async () => {
    const rx = await cardText('received')
    const dropped = await cardText('dropped')
    const total = Number(await chart.getAttribute('data-last-total'))
    const unit = await chart.getAttribute('data-unit')
    const good = /^[0-9.]+ (k|M|G)?bit\/s$/.test(rx) && /bit\/s$/.test(dropped) && !/^0 bit/.test(rx) && unit === 'bps' && total > 0
    return good || `received ${rx}, dropped ${dropped}, chart unit ${unit} last total ${total}`
  })
  await shot('04b-dashboard-bps')
  await page.locator('[data-test=rate-unit-pps]').click()
  const back = await until(async () => /pps$/.test(await cardText('received')) && (await chart.getAttribute('data-unit')) === 'pps')
  if (r !== true) return r
  return back === true || 'the cards did not return to pps'
})
await step('top talkers: the traffic source leads the dropped traffic (10 s)', async () => {
  const panel = page.locator('[data-test=top-talkers]')
  await panel.scrollIntoViewIfNeeded()
  await page.locator('[data-test=talkers-verdict-dropped]').click()
  await page.locator('[data-test=talkers-window-10s]').click()
  // needs the merged backend: GET /api/v1/top with the agent's sampled traffic
  const row = panel.locator('[data-test=talkers-table] tr.el-table__row', { hasText: SRC_IP })
  await row.waitFor()
  const share = (await row.locator('[data-test=talker-share]').innerText()).trim()
  const rate = (await row.locator('[data-test=talker-rate]').innerText()).trim()
  await shot('04c-top-talkers')
  if (!(parseFloat(share) >= 90)) return `share ${share}`
  return /pps$/.test(rate) || `rate ${rate}`
})
await step('top talkers: Block on a /24 row opens a prefilled drop rule; a bad expiry shows by its field', async () => {
  await pickOption('talkers-by', 'Source /24')
  const row = page.locator('[data-test=talkers-table] tr.el-table__row', { hasText: SRC_PREFIX })
  await row.waitFor()
  await row.locator('[data-test=talker-block]').click()
  const dialog = page.locator('[data-test=block-dialog]')
  await input('block-src').waitFor()
  const got = {
    src: await input('block-src').inputValue(),
    name: await input('block-name').inputValue(),
    expires: await input('block-expires').inputValue(),
  }
  const want = { src: SRC_PREFIX, name: `block ${SRC_PREFIX}`, expires: '1h' }
  if (JSON.stringify(got) !== JSON.stringify(want)) return `prefilled ${JSON.stringify(got)}`
  await page.waitForTimeout(400) // the dialog's fade-in, for the screenshot
  await shot('04d-block-dialog')
  await input('block-expires').fill('soon')
  expectHttp400 = true
  await page.locator('[data-test=block-confirm]').click()
  const item = dialog.locator('.el-form-item', { has: input('block-expires') })
  const err = await until(async () => (await item.locator('.el-form-item__error').count()) > 0 || (await dialog.locator('[data-test=block-error]').count()) > 0)
  expectHttp400 = false
  await shot('04e-block-error')
  const left = await api(`/api/v1/rules?search=${encodeURIComponent('block ' + SRC_PREFIX)}`)
  if (err !== true) return 'no error shown for expiry "soon"'
  return (left.body && left.body.count === 0) || `a rule was created: ${JSON.stringify(left.body)}`
})
await step('top talkers: confirming creates the drop rule with a 1 h expiry (checked by REST)', async () => {
  await input('block-expires').fill('1h')
  const t0 = Date.now()
  await page.locator('[data-test=block-confirm]').click()
  await page.locator('[data-test=block-dialog]').waitFor({ state: 'hidden' })
  await page.locator('.el-message--success').first().waitFor()
  const r = await api(`/api/v1/rules?search=${encodeURIComponent('block ' + SRC_PREFIX)}`)
  const rule = r.body && r.body.rules && r.body.rules[0]
  if (!rule) return `no rule: ${JSON.stringify(r.body)}`
  await page.request.delete(`${BASE}/api/v1/rules/${encodeURIComponent(rule.id)}`, { headers: { 'X-Requested-With': 'x' } })
  const exp = Date.parse(rule.expires_at)
  const problems = []
  if (rule.name !== `block ${SRC_PREFIX}`) problems.push(`name ${rule.name}`)
  if (rule.src_cidr !== SRC_PREFIX || rule.src_ip) problems.push(`src ${rule.src_ip} ${rule.src_cidr}`)
  if (rule.action !== 'drop' || rule.enabled !== true) problems.push(`action ${rule.action} enabled ${rule.enabled}`)
  if (!(exp >= t0 + 3600e3 - 5e3 && exp <= Date.now() + 3600e3 + 5e3)) problems.push(`expires_at ${rule.expires_at}`)
  return problems.length ? problems.join('\n') : true
})
// a failed step above must not leave the modal over the page for the steps below
if (await page.locator('[data-test=block-dialog]').isVisible()) await page.keyboard.press('Escape')
await step('top talkers: a read-only session sees the talkers but no Block', async () => {
  const made = await page.request.post(`${BASE}/api/v1/keys`, {
    data: { name: `ui-ro-${RUN}`, scope: 'read_only' },
    headers: { 'X-Requested-With': 'x' },
  })
  const key = made.ok() ? (await made.json()).key : null
  if (!key || !key.key) return `read-only key not made: ${made.status()}`
  const ro = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' })
  try {
    const p2 = await ro.newPage()
    p2.setDefaultTimeout(WAIT)
    await p2.goto(BASE + '/login')
    await p2.locator('input[data-test=login-key]').fill(key.key)
    await p2.locator('[data-test=login-submit]').click()
    await p2.locator('[data-test=nav-dashboard]').first().click()
    const row = p2.locator('[data-test=talkers-table] tr.el-table__row').first()
    await row.waitFor()
    const blocks = await p2.locator('[data-test=talker-block]').count()
    return blocks === 0 || `${blocks} Block buttons shown to a read-only key`
  } finally {
    await ro.close()
    await page.request.delete(`${BASE}/api/v1/keys/${encodeURIComponent(key.id)}`, { headers: { 'X-Requested-With': 'x' } })
  }
})

// ---- disable, then G7 ----
await step('disable the rule from the table', async () => {
  await goto('rules')
  await input('rules-search').fill(RULE)
  await ruleRow(RULE).waitFor()
  await ruleRow(RULE).locator('[data-test=rule-toggle]').click()
  const end = Date.now() + 5000
  let r
  while (Date.now() < end) {
    r = await api(`/api/v1/rules?search=${encodeURIComponent(RULE)}`)
    if (r.body && r.body.rules.length && r.body.rules[0].enabled === false) return true
    await page.waitForTimeout(300)
  }
  return `enabled is still ${JSON.stringify(r && r.body && r.body.rules.map((x) => x.enabled))}`
})
await step('a rule named with HTML and script renders as text (G7)', async () => {
  await input('rules-search').fill('')
  await page.locator('[data-test=rules-create]').click()
  await input('rule-name').fill(EVIL)
  await input('rule-comment').fill(EVIL_COMMENT)
  await input('rule-src').fill('192.0.2.77')
  await page.locator('[data-test=rule-save]').click()
  await page.locator('[data-test=rule-dialog]').waitFor({ state: 'hidden' })
  await input('rules-search').fill('192.0.2.77')
  const row = ruleRow(RUN).filter({ hasText: '192.0.2.77' })
  await row.waitFor()
  const name = await row.locator('[data-test=rule-name]').innerText()
  const comment = await row.locator('[data-test=rule-comment]').innerText()
  // the dashboard's top list and the edit dialog print it too
  await row.locator('[data-test=rule-edit]').click()
  const inDialog = await input('rule-name').inputValue()
  await shot('05-xss-as-text')
  await page.keyboard.press('Escape')
  const injected = await page.evaluate(() => ({
    xss: window.__xss,
    img: document.querySelectorAll('img[src="x"]').length,
    svg: document.querySelectorAll('svg[onload]').length,
    iframe: document.querySelectorAll('iframe').length,
    b: document.querySelectorAll('b').length,
  }))
  const problems = []
  if (name !== EVIL) problems.push(`name shown as ${JSON.stringify(name)}`)
  if (comment !== EVIL_COMMENT) problems.push(`comment shown as ${JSON.stringify(comment)}`)
  if (inDialog !== EVIL) problems.push(`dialog shows ${JSON.stringify(inDialog)}`)
  if (injected.xss !== undefined) problems.push(`script ran: window.__xss=${injected.xss}`)
  if (injected.img || injected.svg || injected.iframe || injected.b) problems.push(`elements injected: ${JSON.stringify(injected)}`)
  if (dialogs.length) problems.push(`dialogs opened: ${dialogs.join(', ')}`)
  return problems.length ? problems.join('\n') : true
})
await step('delete both rules from the table', async () => {
  for (const [search, text] of [['192.0.2.77', '192.0.2.77'], [RULE, RULE]]) {
    await input('rules-search').fill(search)
    const row = ruleRow(text)
    await row.waitFor()
    await row.locator('[data-test=rule-delete]').click()
    await confirmBox()
    await row.waitFor({ state: 'detached' })
  }
  const r = await api(`/api/v1/rules?search=${RUN}`)
  return (r.body && r.body.count === 0) || `left: ${JSON.stringify(r.body)}`
})

await step('import a rule file (one bad rule reported by index and field), export, batch delete', async () => {
  const file = {
    rules: [
      { name: `ui-imp-${RUN}-a`, protocol: 'udp', dst_port: 1001, action: 'drop' },
      { name: `ui-imp-${RUN}-b`, dst_port: 70000, action: 'drop' },
      { name: `ui-imp-${RUN}-c`, src_cidr: '10.1.0.0/16', action: 'rate_limit', rate_limit: 100 },
    ],
  }
  await input('rules-search').fill(`ui-imp-${RUN}`)
  await page.locator('input[data-test=rules-file]').setInputFiles({
    name: 'rules.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(file)),
  })
  const result = page.locator('[data-test=import-result]')
  await result.getByText('rules[1].dst_port').waitFor()
  const summary = await result.locator('p').first().innerText()
  await page.waitForTimeout(400) // the dialog's fade-in, for the screenshot
  await shot('06-import-result')
  await result.locator('.el-dialog__footer .el-button--primary').click()
  await ruleRow(`ui-imp-${RUN}-c`).waitFor()
  const [dl] = await Promise.all([page.waitForEvent('download'), page.locator('[data-test=rules-export]').click()])
  const exported = JSON.parse(await streamText(await dl.createReadStream()))
  const names = exported.rules.map((r) => r.name)
  const rows = page.locator('[data-test=rules-table] tr.el-table__row')
  if ((await rows.count()) !== 2) return `${await rows.count()} imported rows shown`
  for (let i = 0; i < 2; i++) await rows.nth(i).locator('.el-checkbox').click()
  await page.locator('[data-test=rules-batch-delete]').click()
  await confirmBox()
  await rows.first().waitFor({ state: 'detached' })
  const left = await api(`/api/v1/rules?search=ui-imp-${RUN}`)
  const problems = []
  if (!/2\D+1/.test(summary)) problems.push(`summary: ${summary}`)
  if (!names.includes(`ui-imp-${RUN}-a`) || !names.includes(`ui-imp-${RUN}-c`)) problems.push('export lacks the imported rules')
  if (exported.rules.some((r) => 'id' in r || 'stats' in r)) problems.push('export carries ids or counters')
  if (!left.body || left.body.count !== 0) problems.push(`left after batch delete: ${left.body && left.body.count}`)
  return problems.length ? problems.join('\n') : true
})

// ---- issue 17: CSV import in file order, source and expiry columns, filters ----
await step('import a CSV rule file (xdropctl export format): file order kept, a bad line named (checked by REST)', async () => {
  const exp = new Date(Date.now() + (54 * 60 + 30) * 1000).toISOString().replace(/\.\d+Z$/, 'Z')
  // names deliberately not in alphabetical order; line 4 has a bad port
  const csvText = 'id,name,src_ip,dst_ip,src_cidr,dst_cidr,src_port,dst_port,protocol,action,rate_limit,burst,pkt_len_min,pkt_len_max,tcp_flags,enabled,expires_at,comment,source\n' +
    `x1,ui-csv-${RUN}-zulu,,,,,,2001,udp,drop,,,,,,true,${exp},"from CSV, quoted",feed-${RUN}\n` +
    `x2,ui-csv-${RUN}-alpha,,,,,,2002,udp,drop,,,,,,false,,,feed-${RUN}\n` +
    `x3,ui-csv-${RUN}-bad,,,,,,70000,udp,drop,,,,,,true,,,feed-${RUN}\n` +
    `x4,ui-csv-${RUN}-mike,,,10.9.0.0/16,,,,,rate_limit,500,,,,,true,,,feed-${RUN}\n` +
    `x5,ui-csv-${RUN}-echo,,,,,,2005,tcp,pass,,,,,"SYN,!ACK",true,,,feed-${RUN}\n`
  await input('rules-search').fill(`ui-csv-${RUN}`)
  await page.locator('input[data-test=rules-file]').setInputFiles({ name: 'rules.csv', mimeType: 'text/csv', buffer: Buffer.from(csvText) })
  const result = page.locator('[data-test=import-result]')
  await result.locator('.el-table__row').first().waitFor()
  const summary = await result.locator('p').first().innerText()
  const errRow = (await result.locator('.el-table__row').first().innerText()).replace(/\s+/g, ' ')
  await page.waitForTimeout(400)
  await shot('06b-import-csv-result')
  await result.locator('.el-dialog__footer .el-button--primary').click()
  const want = ['zulu', 'alpha', 'mike', 'echo'].map((x) => `ui-csv-${RUN}-${x}`)
  const rest = await api(`/api/v1/rules?search=ui-csv-${RUN}&limit=100`)
  const got = (rest.body && rest.body.rules || []).map((x) => x.name)
  const rows = page.locator('[data-test=rules-table] tr.el-table__row')
  await until(async () => (await rows.count()) === 4)
  const shown = await rows.locator('[data-test=rule-name]').allInnerTexts()
  const problems = []
  if (!/4\D+1/.test(summary)) problems.push(`summary: ${summary}`)
  if (!/^4 dst_port .*(Invalid value|range|port)/i.test(errRow)) problems.push(`error row (line, field, error): ${errRow}`)
  if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`REST order ${got.join(', ')}`)
  if (JSON.stringify(shown) !== JSON.stringify(want)) problems.push(`table order ${shown.join(', ')}`)
  const byName = Object.fromEntries((rest.body && rest.body.rules || []).map((x) => [x.name, x]))
  const z = byName[want[0]] || {}
  const a = byName[want[1]] || {}
  const m = byName[want[2]] || {}
  const e = byName[want[3]] || {}
  if (z.source !== `feed-${RUN}` || z.comment !== 'from CSV, quoted' || z.dst_port !== 2001 || z.protocol !== 'udp' || !z.expires_at) problems.push(`zulu ${JSON.stringify(z)}`)
  if (a.enabled !== false) problems.push(`alpha enabled ${a.enabled}`)
  if (m.action !== 'rate_limit' || m.rate_limit !== 500 || m.src_cidr !== '10.9.0.0/16') problems.push(`mike ${JSON.stringify(m)}`)
  if (e.tcp_flags !== '!ACK,SYN' && e.tcp_flags !== 'SYN,!ACK') problems.push(`echo flags ${e.tcp_flags}`)
  return problems.length ? problems.join('\n') : true
})
await step('rules table: time left to expiry, the source, a source filter sent to the API', async () => {
  const row = ruleRow(`ui-csv-${RUN}-zulu`)
  const left = (await row.locator('[data-test=rule-expiry]').innerText()).trim()
  const never = (await ruleRow(`ui-csv-${RUN}-alpha`).locator('[data-test=rule-expiry]').innerText()).trim()
  const source = (await row.locator('[data-test=rule-source]').innerText()).trim()
  const [req] = await Promise.all([
    page.waitForRequest((q) => q.url().includes('/api/v1/rules?') && q.url().includes(`source=feed-${RUN}`)),
    input('rules-filter-source').fill(`feed-${RUN}`),
  ])
  await input('rules-filter-source').fill('')
  const problems = []
  if (!/^in 5[34] min$/.test(left)) problems.push(`time left ${JSON.stringify(left)}`)
  if (never !== 'never') problems.push(`no expiry shown as ${JSON.stringify(never)}`)
  if (source !== `feed-${RUN}`) problems.push(`source ${JSON.stringify(source)}`)
  if (!req) problems.push('no request with source=')
  return problems.length ? problems.join('\n') : true
})
await step('rules table: Created is not under the fixed Actions column; filter labels are not cut', async () => {
  const table = page.locator('[data-test=rules-table]')
  await table.locator('.el-table__body-wrapper .el-scrollbar__wrap').evaluate((w) => { w.scrollLeft = w.scrollWidth })
  await page.waitForTimeout(300)
  const pos = await table.evaluate((tb) => {
    const head = [...tb.querySelectorAll('.el-table__header th')]
    const created = head.find((th) => th.innerText.trim() === 'Created' && !th.classList.contains('el-table-fixed-column--right'))
    const actions = head.find((th) => th.classList.contains('el-table-fixed-column--right'))
    if (!created || !actions) return null
    return { createdRight: created.getBoundingClientRect().right, actionsLeft: actions.getBoundingClientRect().left }
  })
  await shot('06c-rules-scrolled-right')
  const cut = await page.evaluate(() => [...document.querySelectorAll('[data-test^=rules-filter-] .el-select__selected-item span, [data-test^=rules-filter-] .el-select__placeholder span')]
    .filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.innerText))
  // the imported rules are not needed further
  const mine = await api(`/api/v1/rules?search=ui-csv-${RUN}&limit=100`)
  const ids = (mine.body && mine.body.rules || []).map((x) => x.id)
  if (ids.length) await page.request.delete(`${BASE}/api/v1/rules/batch`, { data: { ids }, headers: XRW })
  const problems = []
  if (!pos) problems.push('no Created or Actions header')
  else if (pos.createdRight > pos.actionsLeft + 1) problems.push(`Created ends at ${pos.createdRight}, Actions starts at ${pos.actionsLeft}`)
  if (cut.length) problems.push(`cut labels: ${cut.join(', ')}`)
  return problems.length ? problems.join('\n') : true
})

// v2.7's match_anomaly (an address no traffic goes to: the rule is only looked at)
await step('an anomaly rule: ticked in the form, tagged in the table, the mask by REST; edits untick one, then all', async () => {
  const name = `ui-anomaly-${RUN}`
  await goto('rules')
  await page.locator('[data-test=rules-create]').click()
  await input('rule-name').fill(name)
  await input('rule-dst').fill('203.0.113.77')
  await page.locator('[data-test=rule-anomaly-bad_fragment]').click()
  await page.locator('[data-test=rule-anomaly-invalid]').click()
  await page.locator('[data-test=rule-save]').click()
  await page.locator('[data-test=rule-dialog]').waitFor({ state: 'hidden' })
  await input('rules-search').fill(name)
  const row = ruleRow(name)
  await row.locator('[data-test=rule-anomaly]').nth(1).waitFor()
  const tags = (await row.locator('[data-test=rule-anomaly]').allInnerTexts()).map((x) => x.trim())
  // the step before scrolled the table to its right end: back to the Match column
  await page.locator('[data-test=rules-table] .el-table__body-wrapper .el-scrollbar__wrap').evaluate((w) => { w.scrollLeft = 0 })
  await shot('06d-anomaly-rule')
  const made = (await api(`/api/v1/rules?search=${name}`)).body.rules[0]
  await row.locator('[data-test=rule-edit]').click()
  const box = page.locator('[data-test=rule-dialog] [data-test=rule-anomaly-bad_fragment]')
  await box.waitFor()
  const ticked = await box.evaluate((e) => e.classList.contains('is-checked'))
  await shot('06e-anomaly-form')
  await box.click()
  await page.locator('[data-test=rule-save]').click()
  await page.locator('[data-test=rule-dialog]').waitFor({ state: 'hidden' })
  await until(async () => (await row.locator('[data-test=rule-anomaly]').count()) === 1)
  const edited = (await api(`/api/v1/rules/${encodeURIComponent(made.id)}`)).body
  // unticking the last one clears the mask (the form sends null: on PUT 0 means unchanged)
  await row.locator('[data-test=rule-edit]').click()
  await page.locator('[data-test=rule-dialog] [data-test=rule-anomaly-invalid]').click()
  await page.locator('[data-test=rule-save]').click()
  await page.locator('[data-test=rule-dialog]').waitFor({ state: 'hidden' })
  await until(async () => (await row.locator('[data-test=rule-anomaly]').count()) === 0)
  const cleared = (await api(`/api/v1/rules/${encodeURIComponent(made.id)}`)).body
  await dropRule(made.id)
  await input('rules-search').fill('')
  const problems = []
  if (JSON.stringify(tags) !== JSON.stringify(['Bad fragment', 'Invalid header'])) problems.push(`tags ${JSON.stringify(tags)}`)
  if (made.match_anomaly !== 3) problems.push(`stored match_anomaly ${made.match_anomaly}`)
  if (!ticked) problems.push('the edit form did not show bad_fragment ticked')
  if (edited.match_anomaly !== 2) problems.push(`after the edit match_anomaly ${edited.match_anomaly}`)
  if (cleared.match_anomaly !== 0) problems.push(`after unticking all match_anomaly ${cleared.match_anomaly}`)
  return problems.length ? problems.join('\n') : true
})

// ---- other pages ----
await step('nodes: the lab node is online with a detail view', async () => {
  await goto('nodes')
  const row = page.locator('[data-test=nodes-table] tr.el-table__row').first()
  await row.locator('[data-status=online]').waitFor()
  await shot('07-nodes')
  await row.locator('a').first().click()
  await page.locator('[data-test=node-detail]').waitFor()
  await page.locator('[data-test=traffic-chart] canvas').waitFor()
  await shot('08-node-detail')
  return true
})
let backendState = ['not run']
await step('an agent stopped: node offline, its figures greyed "as of", the nodes card in warning colour', async () => {
  process.kill(Number(AGENT_PID), 'SIGSTOP')
  try {
    await goto('nodes')
    const row = page.locator('[data-test=nodes-table] tr.el-table__row').first()
    await row.locator('[data-status=offline]').waitFor()
    const figs = row.locator('[data-test=node-figures]')
    const stale = await until(async () => (await figs.getAttribute('data-stale')) === 'yes' || `data-stale ${await figs.getAttribute('data-stale')}`)
    const asof = (await row.locator('[data-test=node-asof]').innerText()).trim()
    const color = await figs.evaluate((e) => getComputedStyle(e).color)
    const filt = row.locator('[data-test=node-filtering]')
    // needs the merged backend: Node.filtering "presumed" and NodeStats.stale
    const filtering = await until(async () => /Agent unreachable — filtering continues \(last report \d\d:\d\d:\d\d\)/.test(await filt.innerText()) || (await filt.innerText()), 8000)
    await shot('07b-nodes-agent-stopped')
    const rest = await api('/api/v1/nodes')
    const n0 = rest.body && rest.body.nodes && rest.body.nodes[0]
    backendState = []
    if (filtering !== true) backendState.push(`filtering shown as ${JSON.stringify(filtering)}`)
    if (!n0 || n0.filtering !== 'presumed' || !n0.stats || n0.stats.stale !== true) {
      backendState.push(`REST: filtering ${n0 && n0.filtering}, stats.stale ${n0 && n0.stats && n0.stats.stale}`)
    }
    await goto('dashboard')
    const card = page.locator('[data-test=total-nodes]')
    const warn = await until(async () => (await card.getAttribute('data-warn')) === 'yes')
    const value = await cardText('nodes')
    const cardColor = await card.locator('[data-test=total-value]').evaluate((e) => getComputedStyle(e).color)
    const nodeCard = page.locator('[data-test^=node-card-] [data-test=node-figures]').first()
    const cardStale = await nodeCard.getAttribute('data-stale')
    await page.waitForTimeout(300)
    await shot('07c-dashboard-node-warning')
    const problems = []
    if (stale !== true) problems.push(stale)
    if (!/^as of \d\d:\d\d:\d\d$/.test(asof)) problems.push(`as-of text ${JSON.stringify(asof)}`)
    if (color === 'rgb(48, 49, 51)' || color === 'rgb(0, 0, 0)') problems.push(`figures not greyed: ${color}`)
    if (warn !== true || value !== '0 / 1') problems.push(`nodes card ${value} warn ${await card.getAttribute('data-warn')}`)
    if (cardColor !== 'rgb(230, 162, 60)') problems.push(`nodes card colour ${cardColor}`)
    if (cardStale !== 'yes') problems.push(`dashboard node card stale=${cardStale}`)
    return problems.length ? problems.join('\n') : true
  } finally {
    process.kill(Number(AGENT_PID), 'SIGCONT')
  }
})
await step('an agent stopped: "Agent unreachable — filtering continues", stale in the API', async () => {
  return backendState.length ? backendState.join('\n') : true
})
await step('the agent resumed: the node is online, its figures current, no warning', async () => {
  const card = page.locator('[data-test=total-nodes]')
  const back = await until(async () => (await card.getAttribute('data-warn')) === 'no' || `warn ${await card.getAttribute('data-warn')}`, 30000)
  const nodeCard = page.locator('[data-test^=node-card-] [data-test=node-figures]').first()
  const fresh = await until(async () => (await nodeCard.getAttribute('data-stale')) === 'no' || `stale ${await nodeCard.getAttribute('data-stale')}`)
  if (back !== true) return back
  return fresh
})
// The entry covers the traffic's source, so its hits and bytes move while it exists.
let wlHits = 'not run'
await step('whitelist: add and delete an entry', async () => {
  await goto('whitelist')
  await page.locator('[data-test=wl-create]').click()
  await input('wl-name').fill(`ui-wl-${RUN}`)
  await input('wl-src').fill(SRC_PREFIX)
  await page.locator('[data-test=wl-save]').click()
  const row = page.locator('[data-test=wl-table] tr.el-table__row', { hasText: `ui-wl-${RUN}` })
  await row.waitFor()
  // needs the merged backend: whitelist entries' stats
  wlHits = await until(async () => {
    const hits = await readNum(row.locator('[data-test=wl-matches]'))
    const bytes = (await row.locator('[data-test=wl-bytes]').innerText()).trim()
    return (hits > 0 && bytes !== '0 B') || `hits ${hits}, bytes ${bytes}`
  }, 10000)
  await shot('09-whitelist')
  await row.locator('[data-test=wl-delete]').click()
  await confirmBox()
  await row.waitFor({ state: 'detached' })
  return true
})
await step('whitelist: an entry covering the traffic counts hits and bytes', async () => wlHits)
await step('settings: an API key is shown once, then revoked', async () => {
  await goto('settings')
  await page.locator('[data-test=keys-create]').click()
  await input('key-name').fill(`ui-key-${RUN}`)
  await page.locator('[data-test=key-save]').click()
  const secret = (await page.locator('[data-test=key-secret]').innerText()).trim()
  await shot('10-key-shown-once')
  await page.locator('[data-test=key-done]').click()
  const row = page.locator('[data-test=keys-table] tr.el-table__row', { hasText: `ui-key-${RUN}` })
  await row.waitFor()
  const listed = await api('/api/v1/keys')
  const leaked = JSON.stringify(listed.body).includes(secret)
  const works = (await page.request.get(BASE + '/api/v1/info', { headers: { 'X-API-Key': secret } }).then((r) => r.json())).upstream !== null
  await row.locator('[data-test=key-revoke]').click()
  await confirmBox()
  await row.waitFor({ state: 'detached' })
  if (secret.length < 16) return `secret ${JSON.stringify(secret)}`
  if (leaked) return 'the secret appears in the key list'
  return works || 'the new key was not accepted'
})

// ---- issue 17: role-aware UI ----
// Everything a write needs: create, import, edit, delete, toggles, sync, key management, Block.
const WRITE_CONTROLS = ['[data-test$=-create]', '[data-test$=-import]', '[data-test$=-edit]', '[data-test$=-delete]',
  '[data-test$=-toggle]', '[data-test$=-sync]', '[data-test=key-revoke]', '[data-test=talker-block]',
  '[data-test$=-batch-delete]', '.el-table .el-switch', '.el-table .el-checkbox'].join(', ')
await step('a read-only key sees every page without a write button or live switch', async () => {
  const rule = await makeRule({ name: `ui-ro-view-${RUN}`, dst_port: 3333, protocol: 'udp', action: 'drop' })
  try {
    return await withKey('read_only', async (p2) => {
      const problems = []
      for (const [nav, ready] of [
        ['rules', '[data-test=rules-table] tr.el-table__row'],
        ['whitelist', '[data-test=wl-table]'],
        ['nodes', '[data-test=nodes-table] tr.el-table__row'],
        ['settings', '[data-test=pref-theme]'],
        ['dashboard', '[data-test=top-talkers]'],
      ]) {
        await p2.locator(`[data-test=nav-${nav}]`).first().click()
        await p2.locator(ready).first().waitFor()
        await p2.waitForTimeout(300)
        const found = await p2.locator(WRITE_CONTROLS).evaluateAll((es) => es.filter((e) => e.offsetParent !== null).map((e) => e.getAttribute('data-test') || e.className))
        if (found.length) problems.push(`${nav}: ${found.join(', ')}`)
        if (nav === 'rules') {
          await p2.screenshot({ path: join(ARTIFACTS, '14-read-only-rules.png') })
          shots.push(join(ARTIFACTS, '14-read-only-rules.png'))
          if (!(await p2.locator('[data-test=read-only]').isVisible())) problems.push('rules: no read-only notice')
          if (!(await p2.locator('[data-test=rule-state]').first().isVisible())) problems.push('rules: enabled state not shown as text')
        }
        if (nav === 'nodes') {
          await p2.locator('[data-test=nodes-table] tr.el-table__row a').first().click()
          await p2.locator('[data-test=node-detail]').waitFor()
          const d = await p2.locator(WRITE_CONTROLS).evaluateAll((es) => es.filter((e) => e.offsetParent !== null).map((e) => e.getAttribute('data-test')))
          if (d.length) problems.push(`node detail: ${d.join(', ')}`)
        }
      }
      return problems.length ? problems.join('\n') : true
    })
  } finally {
    await dropRule(rule.id)
  }
})
await step('revoking the key you are signed in with warns that you will be signed out, then does', async () => {
  return withKey('admin', async (p2, key) => {
    await p2.locator('[data-test=nav-settings]').first().click()
    const row = p2.locator('[data-test=keys-table] tr.el-table__row', { hasText: `ui-admin-${RUN}` })
    await row.locator('[data-test=key-own]').waitFor()
    const others = await p2.locator('[data-test=key-own]').count()
    await row.locator('[data-test=key-revoke]').click()
    const box = p2.locator('.el-message-box')
    await box.waitFor()
    const text = await box.locator('.el-message-box__message').innerText()
    await p2.waitForTimeout(300)
    await p2.screenshot({ path: join(ARTIFACTS, '15-revoke-own-key.png') })
    shots.push(join(ARTIFACTS, '15-revoke-own-key.png'))
    await box.locator('.el-message-box__btns .el-button--primary').click()
    await p2.locator('input[data-test=login-key]').waitFor()
    const left = await api('/api/v1/keys')
    const problems = []
    if (!/signed in with/.test(text) || !/signs you out/.test(text)) problems.push(`warning: ${text}`)
    if (others !== 1) problems.push(`${others} keys marked as yours`)
    if (left.body && left.body.keys.some((k) => k.id === key.id)) problems.push('the key is still listed')
    return problems.length ? problems.join('\n') : true
  })
})
await step('nodes: the address does not wrap; adding a node shows its key in a ready-to-paste agent config', async () => {
  await goto('nodes')
  const addr = page.locator('[data-test=nodes-table] [data-test=node-address]').first()
  await addr.waitFor()
  const ws = await addr.evaluate((e) => getComputedStyle(e).whiteSpace)
  // the distinct tops of the text's line boxes: 1 when it does not wrap
  const lines = await addr.evaluate((e) => {
    const r = document.createRange()
    r.selectNodeContents(e)
    return new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size
  })
  await page.locator('[data-test=nodes-create]').click()
  const id = `ui-n-${RUN}`
  await input('node-id').fill(id)
  await input('node-name').fill(`ui node ${RUN}`)
  await input('node-address').fill('tcp://192.0.2.10:7611')
  await page.locator('[data-test=node-save]').click()
  const dialog = page.locator('[data-test=node-key-dialog]')
  const snippet = (await dialog.locator('[data-test=node-agent-config]').innerText()).trim()
  const key = (await dialog.locator('[data-test=node-key]').innerText()).trim()
  await page.waitForTimeout(400)
  await shot('16-node-agent-config')
  await dialog.locator('.el-dialog__footer .el-button--primary').click()
  await page.request.delete(`${BASE}/api/v1/nodes/${encodeURIComponent(id)}`, { headers: XRW })
  const problems = []
  if (ws !== 'nowrap' || lines !== 1) problems.push(`address white-space ${ws}, ${lines} line boxes`)
  if (key.length < 16) problems.push(`key ${JSON.stringify(key)}`)
  for (const want of [`  id: ${id}`, `  key: ${key}`, '  listen: tcp://0.0.0.0:7611', '  rpc: tcp://CONTROLLER_HOST:7700',
    '  push: tcp://CONTROLLER_HOST:7701', '  health: tcp://CONTROLLER_HOST:7702']) {
    if (!snippet.split('\n').includes(want)) problems.push(`config lacks ${JSON.stringify(want)}`)
  }
  return problems.length ? problems.join('\n') + `\n${snippet}` : true
})

// ---- theme, language, phone width ----
await step('dark theme and Chinese are applied and remembered after a reload', async () => {
  await page.locator('[data-test=theme]').click()
  await pickOption('lang', '中文')
  await page.reload()
  await page.locator('[data-test=nav-rules]').first().waitFor()
  const dark = await page.evaluate(() => document.documentElement.classList.contains('dark'))
  const label = await page.locator('[data-test=nav-rules]').first().innerText()
  await goto('dashboard')
  await page.locator('[data-test=traffic-chart] canvas').waitFor()
  await page.waitForTimeout(1500)
  await shot('11-dashboard-dark-zh')
  return (dark && label.includes('规则')) || `dark=${dark} label=${label}`
})
await step('in Chinese a 400 is shown by its code in Chinese, under its field, over no other field', async () => {
  await goto('rules')
  await page.locator('[data-test=rules-create]').click()
  await input('rule-name').fill(`ui-zh-${RUN}`)
  await input('rule-src-port').fill('123456')
  expectHttp400 = true
  await page.locator('[data-test=rule-save]').click()
  const item = page.locator('.el-form-item', { has: input('rule-src-port') })
  const err = item.locator('.el-form-item__error')
  await err.waitFor()
  expectHttp400 = false
  const text = await err.innerText()
  const over = await overlapsOf(err, '[data-test=rule-dialog] .el-form-item, [data-test=rule-dialog] input')
  const inside = await err.evaluate((e) => {
    const a = e.getBoundingClientRect()
    const b = e.closest('.el-form-item').getBoundingClientRect()
    return a.bottom <= b.bottom + 1
  })
  await page.waitForTimeout(300)
  await shot('17-zh-field-error')
  await page.keyboard.press('Escape')
  await page.locator('[data-test=rule-dialog]').waitFor({ state: 'hidden' })
  const problems = []
  if (!text.startsWith('取值无效')) problems.push(`message ${JSON.stringify(text)}`)
  if (over) problems.push(`the message overlaps: ${over}`)
  if (!inside) problems.push('the message hangs out of its form item')
  return problems.length ? problems.join('\n') : true
})
await step('phone width (390x844): menu drawer, no sideways scrolling', async () => {
  await goto('dashboard')
  await page.setViewportSize({ width: 390, height: 844 })
  await page.waitForTimeout(500)
  await page.locator('[data-test=menu]').waitFor()
  const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  const chart = page.locator('[data-test=traffic-chart]')
  const legend = await until(async () => (await chart.getAttribute('data-legend')) === 'bottom' || `legend ${await chart.getAttribute('data-legend')}`)
  const overlap = await until(async () => (await chart.getAttribute('data-overlap')) === 'no' || `overlap ${await chart.getAttribute('data-overlap')}`)
  await shot('12-phone-dashboard')
  await page.locator('[data-test=top-talkers]').scrollIntoViewIfNeeded()
  await shot('12b-phone-top-talkers')
  if (legend !== true || overlap !== true) {
    await page.setViewportSize({ width: 1280, height: 800 })
    return `phone chart: ${legend} ${overlap}`
  }
  const chartTop = await chart.evaluate((e) => e.getBoundingClientRect().top)
  await page.locator('[data-test=menu]').click()
  await page.locator('.el-drawer [data-test=nav-rules]').click()
  await page.locator('.el-drawer').waitFor({ state: 'hidden' })
  await page.locator('[data-test=rules-cards]').waitFor()
  const over2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  await page.setViewportSize({ width: 1280, height: 800 })
  const problems = []
  if (over > 1 || over2 > 1) problems.push(`page wider than the screen by ${over} / ${over2} px`)
  if (!(chartTop < 844 - 200)) problems.push(`the chart starts at ${chartTop} px: under the KPI cards, off the first screen`)
  return problems.length ? problems.join('\n') : true
})
await step('phone width (390x844): rules and nodes as cards with status, match, action and counters on screen', async () => {
  const rule = await makeRule({ name: `ui-phone-${RUN}`, dst_port: 4444, protocol: 'udp', action: 'drop', expires_in: 3600 })
  await page.setViewportSize({ width: 390, height: 844 })
  try {
    await input('rules-search').fill(`ui-phone-${RUN}`)
    const card = page.locator('[data-test=rule-card]', { hasText: `ui-phone-${RUN}` })
    await card.waitFor()
    const problems = []
    const inView = async (loc, what) => {
      const b = await loc.first().boundingBox()
      if (!b) problems.push(`${what}: not shown`)
      else if (b.x < 0 || b.x + b.width > 391) problems.push(`${what}: at ${Math.round(b.x)}..${Math.round(b.x + b.width)} px`)
    }
    for (const [sel, what] of [['[data-test=rule-toggle]', 'enabled switch'], ['[data-action=drop]', 'action'], ['[data-test=rule-match]', 'match'],
      ['[data-test=rule-matches]', 'hits'], ['[data-test=rule-drops]', 'drops'], ['[data-test=rule-rate]', 'rate'], ['[data-test=rule-expiry]', 'expiry'],
      ['[data-test=rule-delete]', 'delete']]) await inView(card.locator(sel), `rule card ${what}`)
    const match = (await card.locator('[data-test=rule-match]').innerText()).trim()
    if (!match.includes('4444')) problems.push(`match ${match}`)
    const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    await shot('13-phone-rules')
    await page.locator('[data-test=menu]').click()
    await page.locator('.el-drawer [data-test=nav-nodes]').click()
    await page.locator('.el-drawer').waitFor({ state: 'hidden' })
    const node = page.locator('[data-test=node-card]').first()
    await node.waitFor()
    for (const [sel, what] of [['[data-status]', 'status'], ['[data-test=node-figures]', 'traffic'], ['[data-test=node-filtering]', 'filtering'],
      ['[data-test=node-address]', 'address'], ['[data-test=node-sync]', 'sync']]) await inView(node.locator(sel), `node card ${what}`)
    const over2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    await shot('13b-phone-nodes')
    if (over > 1 || over2 > 1) problems.push(`page wider than the screen by ${over} / ${over2} px`)
    return problems.length ? problems.join('\n') : true
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 })
    await dropRule(rule.id)
  }
})
await step('all five languages on the dashboard and the rules page: translated labels, no raw i18n key', async () => {
  const { LOCALES } = await import(pathToFileURL(join(webui, 'src/i18n/locales.js')))
  const problems = []
  for (const { code, label, tag } of LOCALES) {
    const m = (await import(pathToFileURL(join(webui, `src/i18n/${code}.js`)))).default
    const rawKey = new RegExp(`\\b(${Object.keys(m).join('|')})\\.[A-Za-z_]+\\b`)
    await pickOption('lang', label)
    await page.locator('[data-test=nav-rules]').first().filter({ hasText: m.nav.rules }).waitFor()
    await goto('dashboard')
    await page.locator('[data-test=top-talkers]').waitFor()
    const dash = await until(async () => {
      const body = await page.locator('body').innerText()
      const lost = [m.nav.dashboard, m.dash.revision, m.talkers.title].filter((w) => !body.includes(w))
      if (lost.length) return `${code} dashboard lacks ${lost.join(', ')}`
      const raw = body.match(rawKey)
      return raw ? `${code} dashboard shows the raw key ${raw[0]}` : true
    })
    if (dash !== true) problems.push(dash)
    const lang = await page.evaluate(() => document.documentElement.lang)
    if (lang !== tag) problems.push(`${code}: <html lang="${lang}">, want ${tag}`)
    if (['ja', 'ko', 'es'].includes(code)) {
      await page.waitForTimeout(800) // the chart redraws its legend in the language
      await shot(`18-dashboard-${code}`)
    }
    await goto('rules')
    const create = page.locator('[data-test=rules-create]')
    await create.waitFor()
    const rules = await until(async () => {
      const text = (await create.innerText()).trim()
      const body = await page.locator('body').innerText()
      if (text !== m.rule.create) return `${code} rules: button "${text}", want "${m.rule.create}"`
      if (!body.includes(m.rule.name) || !body.includes(m.rule.action)) return `${code} rules: no "${m.rule.name}" / "${m.rule.action}" column`
      const raw = body.match(rawKey)
      return raw ? `${code} rules page shows the raw key ${raw[0]}` : true
    })
    if (rules !== true) problems.push(rules)
    if (['ja', 'ko', 'es'].includes(code)) await shot(`18b-rules-${code}`)
  }
  return problems.length ? problems.join('\n') : true
})
await step('light theme and English again', async () => {
  await page.locator('[data-test=theme]').click()
  await pickOption('lang', 'English')
  await page.locator('[data-test=nav-rules]').first().filter({ hasText: 'Rules' }).waitFor()
  return page.evaluate(() => !document.documentElement.classList.contains('dark'))
})

// ---- logout ----
await step('log out: back to the login page, the session is gone', async () => {
  await page.locator('[data-test=user]').click()
  await page.locator('[data-test=logout]').click()
  await input('login-key').waitFor()
  const r = await api('/api/v1/rules')
  return r.status === 401 || `GET /api/v1/rules after logout: ${r.status}`
})

ok(consoleErrors.length === 0, 'no console errors or uncaught exceptions', consoleErrors.join('\n'))
ok(dialogs.length === 0, 'no alert, confirm or prompt dialog ever opened', dialogs.join('\n'))

await browser.close()
for (const s of shots) console.log(`# screenshot: ${s}`)
console.log(`1..${n}`)
process.exit(failed ? 1 : 0)
