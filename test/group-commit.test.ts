/**
 * The group commit both recorders share: items handed over while a write
 * is in flight go in the next one; an item added as an earlier one settles
 * is written too; a failing group is written again item by item.
 */
import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../src/record/group-commit.js';
import { within } from './support/db.js';

/** A writer that records the groups it was given and answers each item with itself doubled. */
function doubling(fail?: (n: number) => boolean) {
  const groups: number[][] = [];
  const gc = new GroupCommit<number, number>({
    maxBatch: 3,
    write: async (items) => {
      groups.push(items);
      await new Promise((r) => setTimeout(r, 5));
      if (items.length > 1 && fail && items.some(fail)) throw new Error('bad group');
      return items.map((n) => (fail?.(n) ? new Error(`bad ${n}`) : n * 2));
    },
  });
  return { gc, groups };
}

describe('GroupCommit', () => {
  it('groups what arrives while a write is in flight, at most maxBatch at a time', async () => {
    const { gc, groups } = doubling();
    const first = gc.add(1);
    await new Promise((r) => setImmediate(r));
    const rest = [2, 3, 4, 5].map((n) => gc.add(n));
    expect(await Promise.all([first, ...rest])).toEqual([2, 4, 6, 8, 10]);
    expect(groups).toEqual([[1], [2, 3, 4], [5]]);
  });

  it('writes an item added as an earlier one settles, before the drain has ended', async () => {
    const { gc } = doubling();
    // The callback runs right after the first item settles, while the
    // drain that wrote it is finishing.
    const second = gc.add(1).then(() => gc.add(2));
    expect(await within(second, 2_000, 'never settled')).toBe(4);
  });

  it('a failing group is written again item by item, and only the bad item fails', async () => {
    const { gc, groups } = doubling((n) => n === 2);
    const results = await Promise.allSettled([1, 2, 3].map((n) => gc.add(n)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe('bad 2');
    expect(groups).toEqual([[1, 2, 3], [1], [2], [3]]);
  });
});
