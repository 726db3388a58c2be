import { describe, expect, it } from 'vitest';
import { splitReason } from './reason';

describe('splitReason', () => {
  const cases: { name: string; reason: string; lead: string; drill: string }[] = [
    {
      name: 'a row the agent refused: its words only',
      reason: 'row 1 of batch 001_evil_000000000001 (inspections): change_id is NULL',
      lead: 'row 1 of batch 001_evil_000000000001 (inspections): change_id is NULL',
      drill: '',
    },
    {
      name: 'a batch Drill failed on: its error goes behind the disclosure',
      reason: 'batch 002_dead_000000000001 of inspections: Drill could not read the batch: SYSTEM ERROR: IOException: not a Parquet file\n\nPlease, refer to logs for more information.\n\n[Error Id: 1234]',
      lead: 'batch 002_dead_000000000001 of inspections: Drill could not read the batch',
      drill: 'SYSTEM ERROR: IOException: not a Parquet file\n\nPlease, refer to logs for more information.\n\n[Error Id: 1234]',
    },
    {
      name: 'a validation error',
      reason: 'batch b of c: the batch is gone: VALIDATION ERROR: Table not found',
      lead: 'batch b of c: the batch is gone',
      drill: 'VALIDATION ERROR: Table not found',
    },
    {
      name: 'several lines of the agent\'s own: the first leads',
      reason: 'batch b of c: unreadable\nmore detail',
      lead: 'batch b of c: unreadable',
      drill: 'more detail',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(splitReason(c.reason)).toEqual({ lead: c.lead, drill: c.drill });
    });
  }

  it('cuts an over-long lead and keeps the whole text for IT', () => {
    const long = 'x'.repeat(500);
    const { lead, drill } = splitReason(long);
    expect(lead.length).toBeLessThanOrEqual(200);
    expect(lead.endsWith('…')).toBe(true);
    expect(drill).toBe(long);
  });
});
