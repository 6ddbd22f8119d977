// SPDX-License-Identifier: MIT
// Server errors in the UI's language. The REST error body is {"error", "field", "code"}
// (gateway/http.c http_error; `code` is the upstream's RPC code name, or the HTTP status's),
// batch items and SSE errors carry `code` too (docs/api.md); a body without one (an older
// gateway, a proxy) falls back to the status. The code picks a translated sentence; the
// server's own text (English, naming the exact problem) follows it as the detail.

// HTTP status -> the error code the UI translates (the RPC names of gateway/api.c's table,
// plus the gateway's own refusals).
const BY_STATUS = {
  0: 'NETWORK',
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  413: 'TOO_LARGE',
  415: 'INVALID_ARGUMENT',
  422: 'FAILED_PRECONDITION',
  429: 'TOO_MANY',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  502: 'UNKNOWN',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
  507: 'RESOURCE_EXHAUSTED',
}

// The codes that have a sentence in the i18n files (apiError.<code>).
export const ERROR_CODES = [
  'NETWORK', 'INVALID_ARGUMENT', 'OUT_OF_RANGE', 'UNAUTHENTICATED', 'PERMISSION_DENIED', 'NOT_FOUND',
  'ALREADY_EXISTS', 'ABORTED', 'FAILED_PRECONDITION', 'TOO_LARGE', 'TOO_MANY', 'INTERNAL', 'UNIMPLEMENTED',
  'UNKNOWN', 'UNAVAILABLE', 'DEADLINE_EXCEEDED', 'RESOURCE_EXHAUSTED', 'CANCELLED', 'DATA_LOSS',
]

// e: { status, code } (an ApiError, or a batch item's error) -> a code of ERROR_CODES.
export function errorCode(e) {
  if (e && e.code && ERROR_CODES.includes(e.code)) return e.code
  const s = e && Number(e.status)
  if (Number.isFinite(s) && BY_STATUS[s]) return BY_STATUS[s]
  if (Number.isFinite(s) && s >= 500) return 'INTERNAL'
  if (Number.isFinite(s) && s >= 400) return 'INVALID_ARGUMENT'
  return 'UNKNOWN'
}

// t: the i18n function; e: an ApiError or { code, status, message|error }. Returns the
// translated sentence of its code, then the server's detail when it says more than the
// code's bare name ("Invalid value: out of range (0..65535)").
export function errorText(t, e) {
  const code = errorCode(e)
  const sentence = t(`apiError.${code}`)
  const detail = String((e && (e.message || e.error)) || '').trim()
  const bare = !detail || detail === code || /^HTTP \d+$/.test(detail) || /^(unauthorized|forbidden)$/i.test(detail)
  return bare ? sentence : `${sentence}: ${detail}`
}
