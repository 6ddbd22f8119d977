// SPDX-License-Identifier: MIT
// What the UI may say about a node's figures and its filtering (docs/api.md, Node and
// NodeStats). Plain functions without Vue, so tests/ui/unit can run them in node.
//
// Figures are current only while the node is online and the controller does not mark them
// stale; otherwise they are the last known ones and are shown greyed "as of" the time they
// were measured. CPU, memory and load of such a node are never shown as current.
import { toMs } from './format.js'

export const FILTERING = ['active', 'inactive', 'presumed', 'unknown']

// node: a Node (status, last_seen, stats); stats: its NodeStats when fetched apart (else
// node.stats). Returns { stale, at } with at in ms since the epoch (null when unknown):
// the time the figures were measured, falling back to when the node was last heard from.
export function figuresOf(node, stats) {
  const s = stats || (node && node.stats) || null
  const status = (node && node.status) || 'unknown'
  const at = toMs(s && s.at) ?? toMs(node && node.last_seen)
  const stale = !s || !!s.stale || status === 'offline' || status === 'unknown'
  return { stale, at }
}

// The filtering state of a node as one of FILTERING ('unknown' for anything else).
export function filteringOf(node) {
  const f = node && node.filtering
  return FILTERING.includes(f) ? f : 'unknown'
}

// The share (0..100) of a capacity used, and the text "used / max"; null without a max.
export function capacityOf(used, max) {
  const u = Number(used) || 0
  const m = Number(max) || 0
  if (!m) return null
  return { used: u, max: m, percent: Math.min(100, Math.round((u / m) * 1000) / 10) }
}
