// SPDX-License-Identifier: MIT
// Vite build of the XDrop web UI into webui/dist, which xdrop-gateway serves (ui.dir).
// `npm run dev` proxies /api and /health to a gateway at XDROP_GATEWAY (default
// http://127.0.0.1:8000) so the UI can be worked on with hot reload.
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

const gateway = process.env.XDROP_GATEWAY || 'http://127.0.0.1:8000'

export default defineConfig({
  plugins: [vue()],
  define: {
    __VUE_I18N_FULL_INSTALL__: true,
    __VUE_I18N_LEGACY_API__: false,
    __INTLIFY_PROD_DEVTOOLS__: false,
    __VUE_PROD_DEVTOOLS__: false,
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: false,
    __VUE_OPTIONS_API__: true,
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 2048,
    sourcemap: false,
  },
  server: {
    proxy: {
      '/api': { target: gateway, changeOrigin: false },
      '/health': { target: gateway },
    },
  },
})
