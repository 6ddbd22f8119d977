// SPDX-License-Identifier: MIT
// The pps/bps switch: one choice for every rate the UI shows (dashboard cards and charts,
// node figures, rule and whitelist rates), remembered in the browser like the theme.
import { reactive } from 'vue'

const UNIT_KEY = 'xdrop.unit'

function saved() {
  try {
    return localStorage.getItem(UNIT_KEY) === 'bps' ? 'bps' : 'pps'
  } catch {
    return 'pps'
  }
}

export const rateUnit = reactive({ value: saved() })

export function setRateUnit(u) {
  rateUnit.value = u === 'bps' ? 'bps' : 'pps'
  try {
    localStorage.setItem(UNIT_KEY, rateUnit.value)
  } catch {
    /* private mode: the choice lasts for this page only */
  }
}
