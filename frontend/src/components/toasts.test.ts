import { describe, expect, it } from 'vitest';
import { Toasts } from './toasts.svelte';

describe('Toasts', () => {
  it('keeps only the newest messages on screen', () => {
    const t = new Toasts(0, 3);
    for (const n of [1, 2, 3, 4, 5]) t.show(`message ${n}`);
    expect(t.items.map((x) => x.text)).toEqual(['message 3', 'message 4', 'message 5']);
  });

  it('runs an action once and removes its message', async () => {
    const t = new Toasts(0);
    let runs = 0;
    const id = t.show('Record deleted.', { action: { label: 'Undo', run: () => void runs++ } });
    await t.act(id);
    await t.act(id);
    expect(runs).toBe(1);
    expect(t.items).toEqual([]);
  });
});
