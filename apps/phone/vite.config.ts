import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The Confab server serves dist/ at `/`; the page talks to its own origin by default.
export default defineConfig({
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
  },
});
