// SPDX-License-Identifier: MIT
// useNarrow(): true while the window is narrower than a tablet (< 768 px): the menu becomes
// a drawer. usePhone(): true at phone width (<= 480 px): tables become cards.
import { onBeforeUnmount, onMounted, ref } from 'vue'

function useWidthBelow(test) {
  const v = ref(test(window.innerWidth))
  const on = () => (v.value = test(window.innerWidth))
  onMounted(() => window.addEventListener('resize', on))
  onBeforeUnmount(() => window.removeEventListener('resize', on))
  return v
}

export const PHONE_MAX = 480

export function useNarrow() {
  return useWidthBelow((w) => w < 768)
}

export function usePhone() {
  return useWidthBelow((w) => w <= PHONE_MAX)
}
