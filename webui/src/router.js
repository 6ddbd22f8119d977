// SPDX-License-Identifier: MIT
// Routes; every page but login needs a session (checked once per load, then kept).
import { createRouter, createWebHistory } from 'vue-router'
import { session, refreshSession } from './lib/session.js'

const routes = [
  { path: '/login', name: 'login', component: () => import('./views/Login.vue'), meta: { public: true } },
  { path: '/', name: 'dashboard', component: () => import('./views/Dashboard.vue') },
  { path: '/nodes', name: 'nodes', component: () => import('./views/Nodes.vue') },
  { path: '/nodes/:id', name: 'node', component: () => import('./views/NodeDetail.vue'), props: true },
  { path: '/rules', name: 'rules', component: () => import('./views/Rules.vue') },
  { path: '/whitelist', name: 'whitelist', component: () => import('./views/Whitelist.vue') },
  { path: '/settings', name: 'settings', component: () => import('./views/Settings.vue') },
  { path: '/:rest(.*)*', redirect: '/' },
]

export const router = createRouter({ history: createWebHistory(), routes })

router.beforeEach(async (to) => {
  if (!session.known) await refreshSession()
  if (to.meta.public) {
    if (to.name === 'login' && session.loggedIn) return { name: 'dashboard' }
    return true
  }
  if (!session.loggedIn) return { name: 'login', query: to.fullPath !== '/' ? { next: to.fullPath } : {} }
  return true
})
