// SPDX-License-Identifier: MIT
// Maps the API's `field` of a 400 answer onto a form item, so the message shows beside
// the field it is about. aliases: { apiField: formItem }. Returns true when it was placed;
// false means the caller shows the message as a general error.
export function placeFieldError(errors, e, known, aliases = {}) {
  for (const k of Object.keys(errors)) errors[k] = ''
  if (!e || !e.field) return false
  const f = aliases[e.field] || e.field
  if (!known.includes(f)) return false
  errors[f] = e.message
  return true
}
