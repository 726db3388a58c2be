// The folder layout is the architecture: imports go pages -> components ->
// lib, and test doubles (src/testing/) are reachable from tests only. This
// test reads every source file under src/ and fails on an import that
// breaks either rule, so a shortcut shows up in `npm test`, not in review.
// (vite.config.ts also refuses to bundle anything from src/testing/.)

import { describe, expect, it } from 'vitest';

/** Every .ts and .svelte file under src/, by path relative to src/ ("lib/api.ts"). */
const sources: Record<string, string> = Object.fromEntries(
  Object.entries(
    import.meta.glob<string>('./**/*.{ts,svelte}', { query: '?raw', import: 'default', eager: true }),
  ).map(([path, text]) => [path.replace(/^\.\//, ''), text]),
);

const isTest = (path: string): boolean => path.endsWith('.test.ts');

/** Resolves a relative import of file to a path relative to src/ (no extension added). */
function resolve(file: string, spec: string): string {
  const parts = file.split('/').slice(0, -1);
  for (const seg of spec.split('/')) {
    if (seg === '..') parts.pop();
    else if (seg !== '.') parts.push(seg);
  }
  return parts.join('/');
}

/** The files under src/ that file imports (static, side-effect and dynamic imports). */
function importsOf(file: string): string[] {
  const text = sources[file] ?? '';
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    if (m[1]) out.push(resolve(file, m[1]));
  }
  return out;
}

/** "importer -> imported" for every import from a file matching from into a folder in to. */
function violations(from: (path: string) => boolean, to: string[]): string[] {
  const found: string[] = [];
  for (const file of Object.keys(sources).filter(from)) {
    for (const target of importsOf(file)) {
      if (to.some((dir) => target === dir || target.startsWith(`${dir}/`))) found.push(`${file} -> ${target}`);
    }
  }
  return found;
}

describe('source layout', () => {
  it('finds the source files it checks', () => {
    expect(Object.keys(sources)).toContain('main.ts');
    expect(Object.keys(sources)).toContain('components/ConflictView.svelte');
    expect(importsOf('components/ConflictView.svelte')).toContain('lib/ui/merge');
  });

  it('keeps test doubles out of production code: only tests and src/testing/ import src/testing/', () => {
    expect(violations((f) => !isTest(f) && !f.startsWith('testing/'), ['testing'])).toEqual([]);
  });

  it('never has components import pages', () => {
    expect(violations((f) => f.startsWith('components/'), ['pages'])).toEqual([]);
  });

  it('never has lib import components or pages', () => {
    expect(violations((f) => f.startsWith('lib/'), ['components', 'pages'])).toEqual([]);
  });
});
