// SPDX-License-Identifier: MIT
// Maps the API's `field` of a 400 answer onto a form item, so the message shows beside
// the field it is about; any other error becomes the form's general error. Messages are in
// the UI's language (lib/apierror.js) when the caller passes its i18n function.
import { reactive, ref } from 'vue'
import { errorText } from './apierror.js'

// errors: { formItem: message }; e: an ApiError; known: the form items; aliases:
// { apiField: formItem }; t: the i18n function (the server's text as is without it). Clears
// every message, then sets the one e names. Returns true when it was placed; false means
// the caller shows the message as a general error.
export function placeFieldError(errors, e, known, aliases = {}, t = null) {
  for (const k of Object.keys(errors)) errors[k] = ''
  if (!e || !e.field) return false
  const f = aliases[e.field] || e.field
  if (!known.includes(f)) return false
  errors[f] = t ? errorText(t, e) : e.message
  return true
}

// The error state of one form: errors (reactive, one message per item, '' for none),
// general (a ref: the message no item took, "field: message" when the API named a field
// the form does not have), clear() to empty both, show(e) to place an ApiError.
export function useFormErrors(items, aliases = {}, t = null) {
  const errors = reactive(Object.fromEntries(items.map((k) => [k, ''])))
  const general = ref('')
  function clear() {
    for (const k of items) errors[k] = ''
    general.value = ''
  }
  function show(e) {
    if (placeFieldError(errors, e, items, aliases, t)) return
    const msg = t ? errorText(t, e) : e.message
    general.value = e.field ? `${e.field}: ${msg}` : msg
  }
  return { errors, general, clear, show }
}
