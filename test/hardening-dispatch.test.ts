/**
 * Bad input and bad options get their stable code before a call exists,
 * and the idempotency key has one rule for TypeScript and SQL callers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatch, type Dispatch, DispatchError, type ErrorCode } from '../src/index.js';
import { createTestDatabase, quietLogger, type TestDatabase } from './support/db.js';

let db: TestDatabase;
let dispatch: Dispatch;

beforeAll(async () => {
  db = await createTestDatabase();
  dispatch = db.dispatch({ maxInputBytes: 2_000 });
  dispatch.func('hard', async () => undefined);
  await dispatch.migrate();
});
afterAll(() => db.drop());

async function refused(p: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<string> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DispatchError);
  expect((err as DispatchError).code).toBe(code);
  return (err as Error).message;
}

const callCount = async () =>
  (await db.pool.query<{ n: number }>('select count(*)::int as n from pgdispatch.calls')).rows[0]!
    .n;

describe('inputs', () => {
  it('NaN and ±Infinity are refused with INVALID_INPUT, not stored as null', async () => {
    const before = await callCount();
    expect(await refused(dispatch.dispatch('hard', Number.NaN), 'INVALID_INPUT')).toMatch(/NaN/);
    expect(
      await refused(dispatch.dispatch('hard', { x: Number.NEGATIVE_INFINITY }), 'INVALID_INPUT'),
    ).toMatch(/-Infinity is not a JSON value at key "x"/);
    await refused(dispatch.dispatchMany('hard', [1, [Number.POSITIVE_INFINITY]]), 'INVALID_INPUT');
    expect(await callCount()).toBe(before);
  });

  it('a backslash followed by u0000 is text, not a NUL, and is stored as given', async () => {
    const id = await dispatch.dispatch('hard', { path: 'C:\\u0000dir', '\\u0000': 1 });
    const { rows } = await db.pool.query('select input from pgdispatch.calls where id = $1', [id]);
    expect(rows[0].input).toEqual({ path: 'C:\\u0000dir', '\\u0000': 1 });
  });

  it('a real NUL, even after a backslash, is refused', async () => {
    expect(await refused(dispatch.dispatch('hard', 'C:\\\u0000'), 'INVALID_INPUT')).toMatch(/NUL/);
    await refused(dispatch.dispatch('hard', { ['k\u0000']: 1 }), 'INVALID_INPUT');
  });

  it('a lone surrogate is INVALID_INPUT', async () => {
    expect(await refused(dispatch.dispatch('hard', { s: 'a\ud800' }), 'INVALID_INPUT')).toMatch(
      /lone UTF-16 surrogate/,
    );
    // A whole pair is a character like any other.
    await expect(dispatch.dispatch('hard', { s: '😀' })).resolves.toMatch(/^\d+$/);
  });

  it('an input over maxInputBytes is refused with its size and the limit', async () => {
    const message = await refused(dispatch.dispatch('hard', 'é'.repeat(1_500)), 'INVALID_INPUT');
    expect(message).toMatch(
      /input is 3002 bytes as JSON, over the limit of 2000 \(the maxInputBytes option/,
    );
    await expect(dispatch.dispatch('hard', 'a'.repeat(1_500))).resolves.toMatch(/^\d+$/);
  });

  it('the default limit is 1 MiB', async () => {
    const d = db.dispatch();
    d.func('big', async () => undefined);
    await refused(d.dispatch('big', 'x'.repeat(1_048_577)), 'INVALID_INPUT');
  });
});

describe('options', () => {
  it('a NUL in idempotencyKey or retryPolicy is INVALID_OPTION', async () => {
    await refused(dispatch.dispatch('hard', 1, { idempotencyKey: 'a\u0000b' }), 'INVALID_OPTION');
    await refused(dispatch.dispatch('hard', 1, { retryPolicy: 'de\u0000fault' }), 'INVALID_OPTION');
  });

  it('{ tx: null } is INVALID_OPTION', async () => {
    // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller can pass
    await refused(dispatch.dispatch('hard', 1, { tx: null as any }), 'INVALID_OPTION');
  });

  it('an unknown option key is refused, naming the closest known one', async () => {
    const message = await refused(
      // biome-ignore lint/suspicious/noExplicitAny: a misspelt option
      dispatch.dispatch('hard', 1, { retryPolcy: 'webhook' } as any),
      'INVALID_OPTION',
    );
    expect(message).toMatch(/unknown dispatch option "retryPolcy": did you mean "retryPolicy"\?/);
    await refused(
      // biome-ignore lint/suspicious/noExplicitAny: a misspelt option
      () => dispatch.func('misspelt', async () => 1, { timeout: 5 } as any),
      'INVALID_OPTION',
    );
    // biome-ignore lint/suspicious/noExplicitAny: a misspelt option
    await refused(() => db.dispatch({ maxPoolsize: 3 } as any), 'INVALID_CONFIG');
  });

  it('an invalid schema name is INVALID_CONFIG', async () => {
    await refused(
      () => createDispatch({ connectionString: db.url, schema: 'Bad-Name', logger: quietLogger() }),
      'INVALID_CONFIG',
    );
  });

  it('dispatching on a closed instance is INVALID_STATE', async () => {
    const d = db.dispatch();
    d.func('after_close', async () => undefined);
    await d.close();
    await refused(d.dispatch('after_close', 1), 'INVALID_STATE');
  });
});

describe('one idempotency key rule, in SQL', () => {
  const sqlDispatch = (options: unknown) =>
    db.pool.query(`select pgdispatch.dispatch('hard', '1', $1::jsonb) as id`, [
      JSON.stringify(options),
    ]);

  it('an empty key is refused from SQL (PD003) and from TypeScript (INVALID_OPTION)', async () => {
    await expect(sqlDispatch({ idempotency_key: '' })).rejects.toMatchObject({ code: 'PD003' });
    const message = await refused(
      dispatch.dispatch('hard', 1, { idempotencyKey: '' }),
      'INVALID_OPTION',
    );
    expect(message).toMatch(/idempotency_key must be 1 to 255 characters, got 0/);
  });

  it('a numeric key is refused, not read as text', async () => {
    await expect(sqlDispatch({ idempotency_key: 42 })).rejects.toMatchObject({
      code: 'PD003',
      message: expect.stringMatching(/idempotency_key must be a string, got a number/),
    });
    // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller can pass
    await refused(dispatch.dispatch('hard', 1, { idempotencyKey: 42 as any }), 'INVALID_OPTION');
  });

  it('keys up to 255 characters are accepted, longer ones refused', async () => {
    await expect(sqlDispatch({ idempotency_key: 'k'.repeat(255) })).resolves.toBeDefined();
    await expect(
      dispatch.dispatch('hard', 1, { idempotencyKey: '😀'.repeat(255) }),
    ).resolves.toMatch(/^\d+$/);
    await expect(sqlDispatch({ idempotency_key: 'k'.repeat(256) })).rejects.toMatchObject({
      code: 'PD003',
    });
    await refused(
      dispatch.dispatch('hard', 1, { idempotencyKey: 'k'.repeat(100_000) }),
      'INVALID_OPTION',
    );
  });
});

describe('worker options', () => {
  it('an unknown worker option is refused', async () => {
    const d = db.dispatch();
    d.func('w', async () => undefined);
    // biome-ignore lint/suspicious/noExplicitAny: a misspelt option
    const message = await refused(d.worker({ concurency: 5 } as any), 'INVALID_OPTION');
    expect(message).toMatch(/did you mean "concurrency"/);
  });
});

describe('other text from callers', () => {
  it('a cancel reason with a NUL is recorded, the NUL replaced', async () => {
    const id = await dispatch.dispatch('hard', 1);
    expect(await dispatch.cancel(id, { reason: 'bad\u0000reason', actor: 'op\ud800' })).toBe(true);
    const { rows } = await db.pool.query(
      `select reason, actor from pgdispatch.call_events where call_id = $1 and event = 'cancelled'`,
      [id],
    );
    expect(rows[0]).toEqual({ reason: 'bad\ufffdreason', actor: 'op\ufffd' });
  });

  it('endpoint headers with a NUL are INVALID_OPTION', async () => {
    await refused(
      dispatch.endpoints.add({
        name: 'nul',
        url: 'https://example.com',
        headers: { x: 'a\u0000' },
      }),
      'INVALID_OPTION',
    );
  });
});

describe('more that JSON would silently turn into null or ignore', () => {
  it('an invalid Date and a NaN Number object are INVALID_INPUT', async () => {
    expect(
      await refused(dispatch.dispatch('hard', { at: new Date('nope') }), 'INVALID_INPUT'),
    ).toMatch(/an invalid Date is not a JSON value at key "at"/);
    await refused(dispatch.dispatch('hard', [new Number(Number.NaN)]), 'INVALID_INPUT');
    // A real null is data like any other.
    await expect(dispatch.dispatch('hard', { at: null })).resolves.toMatch(/^\d+$/);
  });

  it('a misspelt webhook option is INVALID_CONFIG', async () => {
    await refused(
      // biome-ignore lint/suspicious/noExplicitAny: a misspelt option
      () => db.dispatch({ webhook: { allowPrivateNetwork: true } as any }),
      'INVALID_CONFIG',
    );
  });

  it('starting a worker on a closed instance is INVALID_STATE', async () => {
    const d = db.dispatch();
    d.func('closed_worker', async () => undefined);
    await d.close();
    await refused(d.worker(), 'INVALID_STATE');
  });
});

describe('names and reasons elsewhere', () => {
  it('a function option retryPolicy with a NUL is INVALID_OPTION', async () => {
    await refused(
      () => dispatch.func('nul_policy', async () => 1, { retryPolicy: 'a\u0000' }),
      'INVALID_OPTION',
    );
  });

  it('an endpoint disabled with a NUL in its reason keeps the reason, the NUL replaced', async () => {
    await dispatch.endpoints.add({ name: 'nul-reason', url: 'https://example.com' });
    await dispatch.endpoints.disable('nul-reason', 'gone\u0000away');
    const { rows } = await db.pool.query(
      `select disabled_reason from pgdispatch.endpoints where name = 'nul-reason'`,
    );
    expect(rows[0].disabled_reason).toBe('gone\ufffdaway');
  });
});

describe('nested options', () => {
  it('a misspelt webhook timeout or retention option is refused', async () => {
    const message = await refused(
      // biome-ignore lint/suspicious/noExplicitAny: a misspelt option
      () => db.dispatch({ webhook: { timeouts: { connectMS: 100 } as any } }),
      'INVALID_CONFIG',
    );
    expect(message).toMatch(/did you mean "connectMs"/);
    const d = db.dispatch();
    d.func('retention_typo', async () => undefined);
    // biome-ignore lint/suspicious/noExplicitAny: a misspelt option
    await refused(d.worker({ retention: { olderThan: 1 } as any }), 'INVALID_OPTION');
  });
});
