// SPDX-License-Identifier: MIT
// copyText(s): true when the text reached the clipboard. The Clipboard API needs a secure
// context (https or localhost); elsewhere the user selects the shown secret by hand.
export async function copyText(s) {
  try {
    if (!navigator.clipboard) return false
    await navigator.clipboard.writeText(s)
    return true
  } catch {
    return false
  }
}
