import { defineConfig } from 'vite';

// One static bundle for `phr portal` to serve: no inline scripts (the CSP allows only 'self'),
// modern browsers only (BigInt, top-level await, WebAssembly for the sr25519 signer).
export default defineConfig({
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true, assetsInlineLimit: 0, sourcemap: false, chunkSizeWarningLimit: 4096 },
  test: { include: ['tests/**/*.test.ts'], testTimeout: 60000 },
});
