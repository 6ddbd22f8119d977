// SPDX-License-Identifier: MIT
// tests/ui/cluster_ui_test.mjs: the settings page's cluster card in Debian's chromium,
// driven by playwright-core, against the controller and the dqlite cluster (three nodes and
// the controller's own) that
// test_cluster_ui.sh started. Prints TAP; screenshots go to ARTIFACTS.
//
//   node cluster_ui_test.mjs BASE_URL ADMIN_KEY ARTIFACTS
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(join(here, '..', '..', 'webui', 'package.json'))
const { chromium } = require('playwright-core')

const [BASE, KEY, ARTIFACTS] = process.argv.slice(2)
const WAIT = 20000
let n = 0
let failed = 0
function ok(cond, name, diag) {
  n++
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`)
  if (!cond) {
    failed++
    if (diag) for (const l of String(diag).split('\n')) console.log(`# ${l}`)
  }
}
async function step(name, fn) {
  try {
    const r = await fn()
    ok(r === true, name, typeof r === 'string' ? r : '')
  } catch (e) {
    ok(false, name, (e && e.message ? e.message : String(e)).split('\n').slice(0, 6).join('\n'))
  }
}
// Polls fn until it returns true (or the deadline); returns its last answer.
async function until(fn, ms = WAIT) {
  const end = Date.now() + ms
  let r
  while (Date.now() < end) {
    r = await fn()
    if (r === true) return r
    await new Promise((res) => setTimeout(res, 100))
  }
  return r
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
})
const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' })).newPage()
page.setDefaultTimeout(WAIT)
const errors = []
page.on('pageerror', (e) => errors.push(e.message))

const card = page.locator('[data-test=cluster-card]')
const rows = card.locator('[data-test=cluster-table] .el-table__body-wrapper tr.el-table__row')
// The card's rows as "id role leader reachable", sorted by id.
async function table() {
  const out = []
  for (const r of await rows.all()) {
    const cells = await r.locator('td').allInnerTexts()
    out.push(cells.slice(0, 4).map((c) => c.replace(/\s+/g, ' ').trim()).join(' | '))
  }
  return out
}

await step('sign in and open the settings page', async () => {
  await page.goto(BASE + '/login')
  await page.locator('input[data-test=login-key]').fill(KEY)
  await page.locator('[data-test=login-submit]').click()
  await page.waitForURL((u) => u.pathname !== '/login')
  await page.locator('[data-test=nav-settings]').first().click()
  await card.waitFor()
  return true
})

let leaderId = ''
await step('the card lists four voters, one leader, all reachable', async () => {
  const r = await until(async () => (await rows.count()) === 4 || `rows: ${await rows.count()}`)
  if (r !== true) return r
  const t = await table()
  const leaders = t.filter((l) => / leader /.test(` ${l} `.replace(/\|/g, ' ')))
  if (leaders.length !== 1) return `leaders: ${JSON.stringify(t)}`
  leaderId = leaders[0].split(' | ')[0]
  if (!t.every((l) => /voter/.test(l) && /\| yes$/.test(l))) return JSON.stringify(t)
  const head = await card.locator('[data-test=cluster-leader]').innerText()
  await page.screenshot({ path: join(ARTIFACTS, 'cluster-card.png') })
  return head.startsWith(`Leader: ${leaderId} (127.0.0.1:`) || `header: ${head}`
})

await step('"Make leader" on another voter moves the leadership there', async () => {
  const target = rows.filter({ has: page.locator('[data-test=cluster-transfer]') }).first()
  const id = (await target.locator('td').first().innerText()).trim()
  if (id === leaderId) return `the leader ${id} offers a transfer`
  await target.locator('[data-test=cluster-transfer]').click()
  const box = page.locator('.el-message-box')
  const text = await box.locator('.el-message-box__message').innerText()
  if (!text.includes(`node ${id}`)) return `confirmation: ${text}`
  await box.locator('.el-message-box__btns .el-button--primary').click()
  return await until(async () => {
    const head = await card.locator('[data-test=cluster-leader]').innerText().catch(() => '')
    return head.startsWith(`Leader: ${id} `) || `header: ${head}`
  })
})

await step('the card speaks the chosen language (中文)', async () => {
  await page.locator('[data-test=pref-lang] label', { hasText: '中文' }).click()
  return await until(async () => {
    const head = await card.locator('.card-head').innerText()
    return (head.includes('控制器集群') && head.includes('领导者')) || `header: ${head}`
  })
})

ok(!errors.length, 'no page errors', errors.join('\n'))
await browser.close()
console.log(`1..${n}`)
process.exit(failed ? 1 : 0)
