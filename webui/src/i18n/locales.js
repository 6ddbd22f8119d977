// SPDX-License-Identifier: MIT
// The UI's languages: the code vue-i18n and localStorage use, the name the switchers show
// (in its own language), and the BCP 47 tag for Intl (numbers, dates) and <html lang>.
// Plain data and functions, no Vue, so that node tests import it (tests/ui).
export const LOCALES = [
  { code: 'en', label: 'English', tag: 'en-US' },
  { code: 'zh', label: '中文', tag: 'zh-CN' },
  { code: 'ja', label: '日本語', tag: 'ja-JP' },
  { code: 'ko', label: '한국어', tag: 'ko-KR' },
  { code: 'es', label: 'Español', tag: 'es-ES' },
]

export const LOCALE_CODES = LOCALES.map((l) => l.code)

// The Intl tag of a locale code ('en-US' for an unknown one).
export function localeTag(code) {
  const l = LOCALES.find((x) => x.code === code)
  return l ? l.tag : 'en-US'
}

// The first of the browser's languages (navigator.languages, most preferred first: "ja",
// "ko-KR", "es-MX", "zh-TW") that the UI speaks, by its primary subtag; 'en' when none.
export function detectLocale(languages) {
  for (const lang of languages || []) {
    const primary = String(lang || '').toLowerCase().split(/[-_]/)[0]
    if (LOCALE_CODES.includes(primary)) return primary
  }
  return 'en'
}
