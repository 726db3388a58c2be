import { describe, expect, it } from 'vitest';
import { aboutRecord, names, Toasts } from './toasts.svelte';

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

  const cases: { name: string; show: [string, string][]; want: string[] }[] = [
    {
      name: 'records created one after the other collapse into one message naming them',
      show: [['“Weir 2” created.', '“Weir 2”'], ['“Pump 3” created.', '“Pump 3”'], ['“Tank 9” created.', '“Tank 9”']],
      want: ['3 records created: “Weir 2”, “Pump 3”, “Tank 9”.'],
    },
    {
      name: 'past three names the rest are counted',
      show: ['A', 'B', 'C', 'D', 'E'].map((n) => [`“${n}” created.`, `“${n}”`] as [string, string]),
      want: ['5 records created: “A”, “B”, “C” and 2 more.'],
    },
    {
      name: 'one record saved twice is named once',
      show: [['“Weir 2” created.', '“Weir 2”'], ['“Weir 2” created.', '“Weir 2”']],
      want: ['2 records created: “Weir 2”.'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const t = new Toasts(0, 3);
      for (const [text, name] of c.show) t.show(text, aboutRecord('created', name, 'records created'));
      expect(t.items.map((x) => x.text)).toEqual(c.want);
      expect(t.items[0]?.count).toBe(c.show.length);
    });
  }

  it('collapses the same text, and keeps different messages apart', () => {
    const t = new Toasts(0, 3);
    t.show('Settings saved and applied.');
    t.show('“Weir 2” deleted.', aboutRecord('deleted', '“Weir 2”', 'records deleted'));
    t.show('Settings saved and applied.');
    t.show('Could not delete: disk full', { kind: 'error' });
    expect(t.items.map((x) => x.text)).toEqual([
      '“Weir 2” deleted.',
      'Settings saved and applied. (2 times)',
      'Could not delete: disk full',
    ]);
  });

  it('undoes every collapsed message, newest first', async () => {
    const t = new Toasts(0, 3);
    const undone: string[] = [];
    for (const n of ['A', 'B', 'C']) {
      t.show(`“${n}” deleted.`, aboutRecord('deleted', `“${n}”`, 'records deleted', { action: { label: 'Undo', run: () => void undone.push(n) } }));
    }
    const only = t.items[0];
    expect(t.items).toHaveLength(1);
    expect(only?.action?.label).toBe('Undo');
    await t.act(only?.id ?? 0);
    expect(undone).toEqual(['C', 'B', 'A']);
    expect(t.items).toEqual([]);
  });

  it('a message that left the screen starts a new one', () => {
    const t = new Toasts(0, 3);
    const id = t.show('“A” created.', aboutRecord('created', '“A”', 'records created'));
    t.dismiss(id);
    t.show('“B” created.', aboutRecord('created', '“B”', 'records created'));
    expect(t.items.map((x) => x.text)).toEqual(['“B” created.']);
  });
});

describe('names', () => {
  it('lists distinct names, at most three', () => {
    expect(names(['“A”'])).toBe('“A”');
    expect(names(['“A”', '“B”', '“A”'])).toBe('“A”, “B”');
    expect(names(['1', '2', '3', '4'])).toBe('1, 2, 3 and 1 more');
  });
});
