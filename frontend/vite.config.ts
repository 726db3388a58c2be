import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vitest/config';

// The build goes into dist/, which main.go embeds (all:frontend/dist).
export default defineConfig(({ mode }) => ({
  plugins: [svelte()],
  // Component tests mount Svelte in jsdom, which needs Svelte's browser build.
  ...(mode === 'test' ? { resolve: { conditions: ['browser'] } } : {}),
  build: {
    outDir: 'dist',
    // Emptied on every build so stale bundles are never embedded;
    // public/.gitkeep is copied back, so the committed dist/.gitkeep (which
    // lets `go build` work on a fresh clone) survives.
    emptyOutDir: true,
    // WebKitGTK 4.1 on Debian 12 (Safari 16 class engine).
    target: ['es2022', 'safari16'],
    sourcemap: false,
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
}));
