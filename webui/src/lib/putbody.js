// SPDX-License-Identifier: MIT
// The body of a PUT from a form that sends every field: on PUT the API reads "" and 0 as
// "unchanged" (v2.7's meaning, docs/api.md "Updating a rule") and null as "clear", so a
// field the form left empty goes as null, or emptying a box would change nothing.
// Booleans and set values go as they are.
export function forUpdate(body) {
  const out = {}
  for (const [k, v] of Object.entries(body)) out[k] = v === '' || v === 0 ? null : v
  return out
}
