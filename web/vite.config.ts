import { defineConfig } from "vite";

// The Python package serves the build at `/` (silkcharge/api/console.py).
export default defineConfig({
  build: {
    outDir: "../src/silkcharge/web/static",
    emptyOutDir: true,
    assetsInlineLimit: 0,
  },
  server: { proxy: { "/api": "http://127.0.0.1:8080" } },
});
