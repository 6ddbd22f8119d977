// SPDX-License-Identifier: MIT
// useNarrow(): true while the window is phone-width (< 768 px).
import { onBeforeUnmount, onMounted, ref } from 'vue'

export function useNarrow() {
  const narrow = ref(window.innerWidth < 768)
  const on = () => (narrow.value = window.innerWidth < 768)
  onMounted(() => window.addEventListener('resize', on))
  onBeforeUnmount(() => window.removeEventListener('resize', on))
  return narrow
}
