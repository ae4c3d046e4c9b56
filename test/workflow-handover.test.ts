/**
 * The recording that wakes a parent hands it to its worker only if that
 * worker runs the parent's workflow: a worker that runs the children and
 * some other workflow leaves the parent to the worker that runs it, which
 * finishes it with every child's output.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

/**
 * Two workers on one database: the children's runs `child` (and a workflow of
 * its own, so its recordings hand over the parents they wake), the parents'
 * runs `sum_of_<child>`, a workflow summing `child` of 1..n, and not `child`:
 * only the children's worker records the children.
 */
async function splitWorkers(child: string, f: (n: number) => number, pollIntervalMs: number) {
  const children = db.dispatch();
  children.func(child, f);
  children.workflow('other', async () => 'other');
  const parents = db.dispatch();
  const parent = parents.workflow(`sum_of_${child}`, async (input: { n: number }, ctx) => {
    const values = await ctx.gather(
      Array.from({ length: input.n }, (_, i) => ctx.call<number, number>(child, i + 1)),
    );
    return values.reduce((a, b) => a + b, 0);
  });
  const parentWorker = await parents.worker({ pollIntervalMs, retention: false });
  const childWorker = await children.worker({ pollIntervalMs, retention: false });
  return {
    parents,
    parent,
    parentWorker,
    stop: async () => {
      await childWorker.stop();
      await parentWorker.stop();
    },
  };
}

it("a worker that does not run the parent's workflow leaves the woken parent to one that does", async () => {
  const { parents, parent, parentWorker, stop } = await splitWorkers('square', (n) => n * n, 100);
  try {
    const ids = [await parent.dispatch({ n: 10 }), await parent.dispatch({ n: 20 })];
    await eventually(
      async () => {
        const calls = await Promise.all(ids.map((id) => parents.getCall(id)));
        return calls.every((c) => c?.status === 'succeeded');
      },
      { timeoutMs: 15_000, message: 'the parents did not finish' },
    );
    const outputs = await Promise.all(ids.map(async (id) => (await parents.getCall(id))?.output));
    expect(outputs).toEqual([385, 2870]);
    // No run of a parent failed for want of its function in the children's worker.
    const { rows } = await db.pool.query(
      `select a.status, a.worker from pgdispatch.attempts a where a.call_id = any($1::bigint[])
        order by a.call_id, a.attempt`,
      [ids],
    );
    expect(rows.map((r) => r.status)).toEqual(['suspended', 'ok', 'suspended', 'ok']);
    expect(new Set(rows.map((r) => r.worker))).toEqual(new Set([parentWorker.id]));
  } finally {
    await stop();
  }
});

it('a parent left to another worker is announced: that worker wakes without polling', async () => {
  // Neither worker polls within the test's time: only notifications move the calls.
  const { parents, parent, stop } = await splitWorkers('cube', (n) => n * n * n, 60_000);
  try {
    const id = await parent.dispatch({ n: 5 });
    await eventually(async () => (await parents.getCall(id))?.status === 'succeeded', {
      timeoutMs: 10_000,
      message: 'the parent was not woken',
    });
    expect((await parents.getCall(id))?.output).toBe(225);
  } finally {
    await stop();
  }
});
