// SPDX-License-Identifier: MIT
// Who is logged in, and the two remembered preferences (theme, language). The session
// itself lives in the gateway's HttpOnly cookie; here is only what the UI shows.
import { reactive } from 'vue'
import { api } from '../api/client.js'
import { LOCALE_CODES, detectLocale, localeTag } from '../i18n/locales.js'
import { setFormatLocale } from './format.js'

const THEME_KEY = 'xdrop.theme'
const LOCALE_KEY = 'xdrop.locale'

export const session = reactive({
  known: false, // the first check has answered
  loggedIn: false,
  authEnabled: true,
  username: '',
  scope: '',
})

// Asks the gateway whether the cookie (if any) is a live session. /api/v1/info is public
// and fills `upstream` only for a caller whose credentials the upstream accepted, so no
// 401 is provoked (and none lands in the browser console) when nobody is logged in.
export async function refreshSession() {
  try {
    const info = await api.info()
    session.authEnabled = info.auth_enabled !== false
    session.loggedIn = !session.authEnabled || info.upstream !== null
    if (session.loggedIn) {
      const who = await api.check()
      session.username = who.username || ''
      session.scope = who.scope || (session.authEnabled ? '' : 'admin')
    }
  } catch {
    session.loggedIn = false
  }
  session.known = true
  return session.loggedIn
}

export function isAdmin() {
  return !session.authEnabled || session.scope === 'admin'
}

export function savedTheme() {
  const t = localStorage.getItem(THEME_KEY)
  if (t === 'dark' || t === 'light') return t
  return window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches
    ? 'dark'
    : 'light'
}

export function applyTheme(theme) {
  document.documentElement.classList.toggle('dark', theme === 'dark')
  localStorage.setItem(THEME_KEY, theme)
}

export function savedLocale() {
  const l = localStorage.getItem(LOCALE_KEY)
  if (LOCALE_CODES.includes(l)) return l
  return detectLocale(navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language])
}

export function saveLocale(l) {
  localStorage.setItem(LOCALE_KEY, l)
  document.documentElement.lang = localeTag(l)
  setFormatLocale(localeTag(l))
}
