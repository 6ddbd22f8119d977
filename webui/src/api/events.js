// SPDX-License-Identifier: MIT
// The live feed: one EventSource on /api/v1/events shared by every view. The gateway
// sends `stats` every tick, `rules` when the revision changes, `nodes` when a node's
// status or revision changes, and `error` when the upstream fails. EventSource reconnects
// by itself (the gateway asks for 2 s); `connected` tells the header badge.
import { reactive } from 'vue'

export const live = reactive({
  connected: false,
  stats: null, // the last `stats` event (the shape of GET /api/v1/stats)
  revision: 0,
  nodes: null, // the last `nodes` event's list
  error: '',
})

const listeners = { stats: new Set(), rules: new Set(), nodes: new Set() }
let source = null

export function onLive(kind, fn) {
  listeners[kind].add(fn)
  return () => listeners[kind].delete(fn)
}

function dispatch(kind, ev) {
  let data
  try {
    data = JSON.parse(ev.data)
  } catch {
    return
  }
  if (kind === 'stats') live.stats = data
  if (kind === 'rules') live.revision = data.revision
  if (kind === 'nodes') live.nodes = data.nodes
  for (const fn of listeners[kind]) fn(data)
}

export function startLive() {
  if (source) return
  source = new EventSource('/api/v1/events')
  source.onopen = () => {
    live.connected = true
    live.error = ''
  }
  source.onerror = () => {
    live.connected = false
  }
  for (const kind of Object.keys(listeners)) {
    source.addEventListener(kind, (ev) => dispatch(kind, ev))
  }
  source.addEventListener('error', (ev) => {
    if (ev.data) {
      try {
        live.error = JSON.parse(ev.data).error || ''
      } catch {
        live.error = ''
      }
    }
  })
}

export function stopLive() {
  if (source) source.close()
  source = null
  live.connected = false
  live.stats = null
  live.nodes = null
}
