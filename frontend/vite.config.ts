import { svelte } from '@sveltejs/vite-plugin-svelte';
import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';

// Test doubles live in src/testing/ and only tests may import them
// (src/layout.test.ts checks every source file); the build refuses to
// bundle one, so a stray import cannot ship a fake to people.
const testingDir = decodeURIComponent(new URL('./src/testing/', import.meta.url).pathname);
function noTestDoubles(): Plugin {
  return {
    name: 'fieldsync:no-test-doubles',
    apply: 'build',
    load(id) {
      if (id.startsWith(testingDir)) {
        this.error(`${id} is a test double (src/testing/): production code must not import it`);
      }
    },
  };
}

// The build goes into dist/, which main.go embeds (all:frontend/dist).
export default defineConfig(({ mode }) => ({
  plugins: [svelte(), noTestDoubles()],
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
