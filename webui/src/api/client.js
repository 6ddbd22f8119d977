// SPDX-License-Identifier: MIT
// The one place the UI talks HTTP to xdrop-gateway. Credentials travel in the HttpOnly
// session cookie set by POST /api/auth/login, so no key is ever kept in JavaScript after
// login. Every failure becomes an ApiError carrying the HTTP status and, for validation
// errors, the offending field as the API names it ("dst_port", "rules[3].src_cidr").

export class ApiError extends Error {
  constructor(status, message, field) {
    super(message || `HTTP ${status}`)
    this.status = status
    this.field = field || ''
  }
}

// Called on any 401 from a protected endpoint (the session expired): set by main.js.
let onUnauthorized = null
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn
}

function query(params) {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  }
  const s = q.toString()
  return s ? `?${s}` : ''
}

export async function request(method, path, { params, body, quiet401 } = {}) {
  // X-Requested-With: the gateway refuses cookie-authenticated writes without it or a JSON
  // body (CSRF; docs/api.md), and a cross-site page cannot set it
  const init = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' },
  }
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json'
    init.body = JSON.stringify(body)
  }
  let res
  try {
    res = await fetch(path + query(params), init)
  } catch (e) {
    throw new ApiError(0, e.message || 'network error')
  }
  let data = null
  const text = await res.text()
  if (text) {
    try {
      data = JSON.parse(text)
    } catch {
      data = null
    }
  }
  if (!res.ok) {
    if (res.status === 401 && !quiet401 && onUnauthorized) onUnauthorized()
    throw new ApiError(res.status, data && data.error, data && data.field)
  }
  return data
}

const enc = encodeURIComponent

export const api = {
  info: () => request('GET', '/api/v1/info'),
  login: (key) => request('POST', '/api/auth/login', { body: { key }, quiet401: true }),
  logout: () => request('POST', '/api/auth/logout', { quiet401: true }),
  check: () => request('GET', '/api/auth/check', { quiet401: true }),

  rules: (params) => request('GET', '/api/v1/rules', { params }),
  rule: (id) => request('GET', `/api/v1/rules/${enc(id)}`),
  createRule: (rule) => request('POST', '/api/v1/rules', { body: rule }),
  updateRule: (id, fields) => request('PUT', `/api/v1/rules/${enc(id)}`, { body: fields }),
  deleteRule: (id) => request('DELETE', `/api/v1/rules/${enc(id)}`),
  batchCreateRules: (rules, atomic) =>
    request('POST', '/api/v1/rules/batch', { body: { rules, atomic } }),
  batchDeleteRules: (ids) => request('DELETE', '/api/v1/rules/batch', { body: { ids } }),
  topRules: (params) => request('GET', '/api/v1/rules/top', { params }),

  whitelist: (params) => request('GET', '/api/v1/whitelist', { params }),
  createWhitelist: (entry) => request('POST', '/api/v1/whitelist', { body: entry }),
  deleteWhitelist: (id) => request('DELETE', `/api/v1/whitelist/${enc(id)}`),
  batchDeleteWhitelist: (ids) => request('DELETE', '/api/v1/whitelist/batch', { body: { ids } }),

  stats: () => request('GET', '/api/v1/stats'),
  history: (params) => request('GET', '/api/v1/stats/history', { params }),

  nodes: (params) => request('GET', '/api/v1/nodes', { params }),
  node: (id) => request('GET', `/api/v1/nodes/${enc(id)}`),
  nodeStats: (id) => request('GET', `/api/v1/nodes/${enc(id)}/stats`),
  createNode: (node) => request('POST', '/api/v1/nodes', { body: node }),
  updateNode: (id, fields) => request('PUT', `/api/v1/nodes/${enc(id)}`, { body: fields }),
  deleteNode: (id) => request('DELETE', `/api/v1/nodes/${enc(id)}`),
  syncNode: (id) => request('POST', `/api/v1/nodes/${enc(id)}/sync`),

  keys: () => request('GET', '/api/v1/keys'),
  createKey: (name, scope) => request('POST', '/api/v1/keys', { body: { name, scope } }),
  deleteKey: (id) => request('DELETE', `/api/v1/keys/${enc(id)}`),
}
