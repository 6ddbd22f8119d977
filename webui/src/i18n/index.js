// SPDX-License-Identifier: MIT
// vue-i18n in composition mode with the languages of locales.js; the choice is remembered
// in localStorage (lib/session.js) and applied before the first render.
import { createI18n } from 'vue-i18n'
import en from './en.js'
import zh from './zh.js'
import ja from './ja.js'
import ko from './ko.js'
import es from './es.js'
import { savedLocale } from '../lib/session.js'

export const i18n = createI18n({
  legacy: false,
  locale: savedLocale(),
  fallbackLocale: 'en',
  messages: { en, zh, ja, ko, es },
  missingWarn: false,
  fallbackWarn: false,
})
