// SPDX-License-Identifier: MIT
// Entry: Element Plus, vue-i18n, the router with its login guard, the theme.
import { createApp } from 'vue'
import ElementPlus from 'element-plus'
import 'element-plus/dist/index.css'
import 'element-plus/theme-chalk/dark/css-vars.css'
import './style.css'

import App from './App.vue'
import { i18n } from './i18n/index.js'
import { router } from './router.js'
import { setUnauthorizedHandler } from './api/client.js'
import { session, applyTheme, savedTheme } from './lib/session.js'
import { stopLive } from './api/events.js'

applyTheme(savedTheme())

setUnauthorizedHandler(() => {
  if (!session.loggedIn) return
  session.loggedIn = false
  stopLive()
  router.push({ name: 'login', query: { next: router.currentRoute.value.fullPath } })
})

createApp(App).use(i18n).use(ElementPlus).use(router).mount('#app')
