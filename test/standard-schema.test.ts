/**
 * `validate` with a Standard Schema (Zod here): a bad input is refused at
 * dispatch with INVALID_INPUT and no call row; a good one is stored as the
 * schema's output (defaults applied); the handler's input type is inferred
 * from the schema (checked by `npm run typecheck`, which covers test/).
 */
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { type CallContext, type Dispatch, DispatchError } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';

let db: TestDatabase;
let dispatch: Dispatch;

const Order = z.object({
  orderId: z.number().int().positive(),
  email: z.email(),
  channel: z.enum(['email', 'sms']).default('email'),
});

const seen: unknown[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  dispatch = db.dispatch();
});

afterAll(async () => {
  await db?.drop();
});

const count = async () =>
  (await db.pool.query("select count(*)::int as n from pgdispatch.calls where function = 'notify'"))
    .rows[0].n as number;

describe('validate with a Standard Schema', () => {
  const notify = () =>
    dispatch.func(
      'notify',
      async (input, ctx) => {
        // Inferred from the schema's output: `channel` is no longer optional.
        expectTypeOf(input).toEqualTypeOf<{
          orderId: number;
          email: string;
          channel: 'email' | 'sms';
        }>();
        expectTypeOf(ctx).toEqualTypeOf<CallContext>();
        seen.push(input);
        return input.channel;
      },
      { validate: Order },
    );
  let fn: ReturnType<typeof notify>;

  it('infers the dispatch input from the schema', () => {
    fn = notify();
    expectTypeOf(fn.dispatch).parameter(0).toEqualTypeOf<{
      orderId: number;
      email: string;
      channel?: 'email' | 'sms' | undefined;
    }>();
    // @ts-expect-error orderId must be a number
    void (() => fn.dispatch({ orderId: '1', email: 'a@example.com' }));
  });

  it('refuses a bad input at dispatch: INVALID_INPUT naming each issue, no call row', async () => {
    const err = await fn
      .dispatch({ orderId: -1, email: 'not an email' })
      .catch((e: unknown) => e as DispatchError);
    expect(err).toBeInstanceOf(DispatchError);
    expect((err as DispatchError).code).toBe('INVALID_INPUT');
    expect((err as DispatchError).message).toMatch(/^notify: invalid input: orderId: .*; email: /);
    await expect(
      dispatch.dispatchMany('notify', [{ orderId: 1, email: 'a@example.com' }, { orderId: 2 }]),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(await count()).toBe(0);
  });

  it("stores the schema's output, defaults applied, and the handler gets it", async () => {
    const id = await fn.dispatch({ orderId: 7, email: 'a@example.com' });
    const [second] = await dispatch.dispatchMany('notify', [
      { orderId: 8, email: 'b@example.com', channel: 'sms' },
    ]);
    const { rows } = await db.pool.query(
      'select id, input from pgdispatch.calls where id = any($1::bigint[]) order by id',
      [[id, second]],
    );
    expect(rows.map((r) => r.input)).toEqual([
      { orderId: 7, email: 'a@example.com', channel: 'email' },
      { orderId: 8, email: 'b@example.com', channel: 'sms' },
    ]);
    const worker = await dispatch.worker({ concurrency: 2, pollIntervalMs: 100 });
    try {
      const call = await eventually(async () => {
        const c = await dispatch.getCall(id);
        return c?.status === 'succeeded' ? c : undefined;
      });
      expect(call.output).toBe('email');
    } finally {
      await worker.stop();
    }
    expect(seen).toContainEqual({ orderId: 7, email: 'a@example.com', channel: 'email' });
  });

  it('awaits a schema that validates asynchronously', async () => {
    const Later = z.object({ n: z.number() }).refine(async (v) => v.n > 0, 'n must be positive');
    const later = dispatch.func('later', (input) => input.n, { validate: Later });
    await expect(later.dispatch({ n: 0 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(await later.dispatch({ n: 1 })).toMatch(/^\d+$/);
  });

  it('keeps plain check functions working', async () => {
    const plain = dispatch.func('plain', (input: { ok: boolean }) => input.ok, {
      validate: (input) => {
        if (!(input as { ok?: unknown }).ok) throw new Error('not ok');
      },
    });
    await expect(plain.dispatch({ ok: false })).rejects.toThrow('plain: not ok');
  });
});
