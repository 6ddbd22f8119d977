// SPDX-License-Identifier: MIT
// The one place the UI talks HTTP to xdrop-gateway. Credentials travel in the HttpOnly
// session cookie set by POST /api/auth/login, so no key is ever kept in JavaScript after
// login. Every failure becomes an ApiError carrying the HTTP status and, for validation
// errors, the offending field as the API names it ("dst_port", "rules[3].src_cidr").

export class ApiError extends Error {
  constructor(status, message, field, code) {
    super(message || `HTTP ${status}`)
    this.status = status
    this.field = field || ''
    // the RPC code's name where the body has one (lib/apierror.js maps the status otherwise)
    this.code = code || ''
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
    throw new ApiError(res.status, data && data.error, data && data.field, data && data.code)
  }
  return data
}

const enc = encodeURIComponent

// One collection of the API (rules, whitelist entries) at its REST path, the same calls for
// every kind (docs/api.md): path is e.g. '/api/v1/rules', batchKey the body's array
// ('rules', 'entries'). Each call returns the API's JSON answer or throws an ApiError.
export function collectionApi(path, batchKey) {
  const one = (id) => `${path}/${enc(id)}`
  return {
    list: (params) => request('GET', path, { params }),
    get: (id) => request('GET', one(id)),
    create: (item) => request('POST', path, { body: item }),
    update: (id, fields) => request('PUT', one(id), { body: fields }),
    remove: (id) => request('DELETE', one(id)),
    // atomic: all or nothing; false: the valid items are stored, the others reported (the
    // API's default). The UI always says which it means.
    batchCreate: (items, atomic) => request('POST', `${path}/batch`, { body: { [batchKey]: items, atomic } }),
    batchDelete: (ids, atomic = true) => request('DELETE', `${path}/batch`, { body: { ids, atomic } }),
  }
}

const nodes = collectionApi('/api/v1/nodes', 'nodes')

export const api = {
  info: () => request('GET', '/api/v1/info'),
  login: (key) => request('POST', '/api/auth/login', { body: { key }, quiet401: true }),
  logout: () => request('POST', '/api/auth/logout', { quiet401: true }),
  check: () => request('GET', '/api/auth/check', { quiet401: true }),

  topRules: (params) => request('GET', '/api/v1/rules/top', { params }),

  stats: () => request('GET', '/api/v1/stats'),
  history: (params) => request('GET', '/api/v1/stats/history', { params }),
  // Top talkers: { by, verdict, window ('10s' | '1m' | '5m'), limit, node } -> TopTalkersReply
  topTalkers: (params) => request('GET', '/api/v1/top', { params }),
  createRule: (rule) => request('POST', '/api/v1/rules', { body: rule }),

  nodes: nodes.list,
  node: nodes.get,
  nodeStats: (id) => request('GET', `/api/v1/nodes/${enc(id)}/stats`),
  createNode: nodes.create,
  updateNode: nodes.update,
  deleteNode: nodes.remove,
  syncNode: (id) => request('POST', `/api/v1/nodes/${enc(id)}/sync`),

  keys: () => request('GET', '/api/v1/keys'),
  createKey: (name, scope) => request('POST', '/api/v1/keys', { body: { name, scope } }),
  deleteKey: (id) => request('DELETE', `/api/v1/keys/${enc(id)}`),
  cluster: () => request('GET', '/api/v1/cluster'),
  clusterTransfer: (id) => request('POST', '/api/v1/cluster/transfer', { body: { id } }),
}
