/**
 * Workflows as operators meet them: the order example end to end (a signed
 * webhook awaited, a signal, a week's sleep skipped by runWorkflow), a
 * thousand waits signalled at once, a cancelled parent taking its 50
 * waiting children with it, and a redeploy that changes the steps.
 */
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Dispatch, generateSecret, runWorkflow } from '../src/index.js';
import type { WorkerHandle } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';
import { runCli } from './support/processes.js';
import { type Receiver, startReceiver } from './support/receiver.js';

let db: TestDatabase;
let dispatch: Dispatch;
let receiver: Receiver;
let orderCallId: string;
const secret = generateSecret();
const charged: number[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  receiver = await startReceiver();
  dispatch = db.dispatch({ webhook: { secret, allow: ['127.0.0.1/32'] } });
  await db.pool.query('create table stock (order_id int, reserved int)');
  const survey = dispatch.func('survey', (input: { orderId: number }) => ({ sent: input.orderId }));
  const loyalty = dispatch.func('loyalty', () => ({ points: 10 }));
  dispatch.workflow('order', async (input: { orderId: number }, ctx) => {
    const charge = await ctx.step('charge', () => {
      charged.push(input.orderId);
      return { chargeId: `ch_${input.orderId}` };
    });
    await ctx.tx('reserve', async (tx) => {
      await tx.query('insert into stock values ($1, 1)', [input.orderId]);
    });
    const delivery = await ctx.call(dispatch.webhook, {
      url: `${receiver.url}/orders`,
      eventType: 'order.paid',
      body: { orderId: input.orderId, charge },
    });
    const shipped = await ctx.waitFor<{ carrier: string }>('shipped', {
      key: `order:${input.orderId}`,
      timeoutMs: 7 * 86_400_000,
    });
    if (!shipped) return { status: 'not shipped in a week' };
    await ctx.sleep('follow-up delay', 3 * 86_400_000);
    const [a, b] = await ctx.gather([ctx.call(survey, input), ctx.call(loyalty, input)]);
    return { charge, status: delivery.httpStatus, carrier: shipped.carrier, a, b };
  });
  dispatch.workflow('child-waits', async (input: { n: number }, ctx) =>
    ctx.waitFor('go', { key: `child:${input.n}` }),
  );
  dispatch.workflow('parent', async (_input: unknown, ctx) => {
    const children = Array.from({ length: 50 }, (_, n) =>
      ctx.call<{ n: number }, unknown>('child-waits', { n }),
    );
    return ctx.gather(children);
  });
  dispatch.workflow('waiter', async (input: { key: string }, ctx) =>
    ctx.waitFor('signal', { key: input.key }),
  );
  await dispatch.migrate();
});

afterAll(async () => {
  await receiver?.close();
  await db?.drop();
});

const rows = async <T = Record<string, unknown>>(sql: string, values: unknown[] = []) =>
  (await db.pool.query(sql, values)).rows as T[];

it('runs the order: charge, reserve, signed webhook, signal, a skipped sleep, gather', async () => {
  await dispatch.signal('order:42', { carrier: 'ups' });
  const { callId, call, steps, skipped } = await runWorkflow(dispatch, {
    workflow: dispatch.functions.get('order') as never,
    input: { orderId: 42 },
  });
  orderCallId = callId;
  expect(call.status).toBe('succeeded');
  expect(call.output).toEqual({
    charge: { chargeId: 'ch_42' },
    status: 200,
    carrier: 'ups',
    a: { sent: 42 },
    b: { points: 10 },
  });
  expect(steps.map((s) => `${s.kind}:${s.name}`)).toEqual([
    'step:charge',
    'tx:reserve',
    'call:webhook',
    'wait:shipped',
    'sleep:follow-up delay',
    'call:survey',
    'call:loyalty',
  ]);
  expect(skipped).toBeGreaterThanOrEqual(1);
  expect(charged).toEqual([42]);
  expect(await rows('select * from stock')).toEqual([{ order_id: 42, reserved: 1 }]);
  // The webhook went out once, signed, with the body the step built.
  expect(receiver.requests).toHaveLength(1);
  const req = receiver.requests[0]!;
  const verified = new Webhook(secret).verify(req.body, req.headers as Record<string, string>);
  expect(verified).toMatchObject({
    type: 'order.paid',
    data: { orderId: 42, charge: { chargeId: 'ch_42' } },
  });
  const children = await rows<{ function: string; status: string }>(
    'select function, status from pgdispatch.calls where parent_call_id = $1 order by id',
    [callId],
  );
  expect(children).toEqual([
    { function: 'webhook', status: 'succeeded' },
    { function: 'survey', status: 'succeeded' },
    { function: 'loyalty', status: 'succeeded' },
  ]);
  const history = await rows<{ event: string; status: string }>(
    'select event, status from pgdispatch.call_history where call_id = $1 order by at',
    [callId],
  );
  expect(history.filter((h) => h.status === 'suspended').length).toBeGreaterThanOrEqual(2);
  expect(history.some((h) => h.event === 'woken')).toBe(true);
});

it('wakes each of 1,000 workflows waiting on distinct keys exactly once', async () => {
  let worker: WorkerHandle | undefined;
  try {
    worker = await dispatch.worker({ concurrency: 50, pollIntervalMs: 100 });
    const ids = await dispatch.dispatchMany(
      'waiter',
      Array.from({ length: 1_000 }, (_, i) => ({ key: `k:${i}` })),
    );
    await eventually(
      async () =>
        (
          await rows<{ n: number }>(
            `select count(*)::int as n from pgdispatch.calls where id = any($1) and status = 'waiting'`,
            [ids],
          )
        )[0]!.n === 1_000,
      { timeoutMs: 60_000 },
    );
    // One statement signals all thousand keys, as SQL callers would.
    await db.pool.query(
      `select pgdispatch.signal('k:' || i, jsonb_build_object('i', i)) from generate_series(0, 999) i`,
    );
    await eventually(
      async () =>
        (
          await rows<{ n: number }>(
            `select count(*)::int as n from pgdispatch.calls where id = any($1) and status = 'succeeded'`,
            [ids],
          )
        )[0]!.n === 1_000,
      { timeoutMs: 60_000 },
    );
    const outcome = await rows<{ runs: number; woken: number; right: boolean }>(
      `select (select count(*)::int from pgdispatch.attempts a where a.call_id = c.id) as runs,
              (select count(*)::int from pgdispatch.call_events e
                where e.call_id = c.id and e.event = 'woken') as woken,
              c.output = jsonb_build_object('i', substr(c.input ->> 'key', 3)::int) as right
         from pgdispatch.calls c where c.id = any($1)`,
      [ids],
    );
    expect(outcome.filter((o) => o.runs !== 2 || o.woken !== 1 || !o.right)).toEqual([]);
    const consumed = await rows<{ n: number }>(
      `select count(*)::int as n from pgdispatch.signals
        where key like 'k:%' and consumed_at is not null and call_id = any($1)`,
      [ids],
    );
    expect(consumed[0]!.n).toBe(1_000);
  } finally {
    await worker?.stop();
  }
});

it('cancels a parent with its 50 waiting children in one transaction', async () => {
  let worker: WorkerHandle | undefined;
  try {
    worker = await dispatch.worker({ concurrency: 20, pollIntervalMs: 100 });
    const parent = await dispatch.dispatch('parent', {});
    const waitingChildren = () =>
      rows<{ n: number }>(
        `select count(*)::int as n from pgdispatch.calls where parent_call_id = $1 and status = 'waiting'`,
        [parent],
      );
    await eventually(async () => (await waitingChildren())[0]!.n === 50);
    await eventually(async () => (await dispatch.getCall(parent))?.status === 'waiting');
    expect(await dispatch.cancel(parent, { reason: 'customer gave up' })).toBe(true);
    const children = await rows<{ status: string; job: boolean }>(
      `select status, job_id is not null as job from pgdispatch.calls where parent_call_id = $1`,
      [parent],
    );
    expect(children).toHaveLength(50);
    expect(children.every((c) => c.status === 'cancelled' && !c.job)).toBe(true);
    const open = await rows(
      `select s.call_id from pgdispatch.steps s join pgdispatch.calls c on c.id = s.call_id
        where (c.id = $1 or c.parent_call_id = $1) and s.status = 'waiting'`,
      [parent],
    );
    expect(open).toEqual([]);
    const jobs = await rows(
      `select j.id from graphile_worker._private_jobs j
        join pgdispatch.calls c on c.id = (j.payload ->> 'id')::bigint
       where c.id = $1 or c.parent_call_id = $1`,
      [parent],
    );
    expect(jobs).toEqual([]);
    expect((await dispatch.getCall(parent))!.status).toBe('cancelled');
  } finally {
    await worker?.stop();
  }
});

it('fails calls whose recorded steps the new code no longer takes, naming both', async () => {
  const v1 = db.dispatch();
  v1.workflow('shipping', async (_input: unknown, ctx) => {
    await ctx.step('label', () => 'L1');
    await ctx.waitFor('picked-up', { key: 'pickup' });
    return 'v1';
  });
  let worker = await v1.worker({ concurrency: 5, pollIntervalMs: 100 });
  const changed = await v1.dispatch('shipping', {});
  const patchedCall = await v1.dispatch('shipping', {});
  await eventually(async () => (await v1.getCall(changed))?.status === 'waiting');
  await eventually(async () => (await v1.getCall(patchedCall))?.status === 'waiting');
  await worker.stop();

  // The redeploy: a new first step, in a second build of the same workflow.
  const v2 = db.dispatch();
  v2.workflow('shipping', async (_input: unknown, ctx) => {
    if (ctx.patched('insure-first')) await ctx.step('insure', () => 'I');
    await ctx.step('label', () => 'L2');
    await ctx.waitFor('picked-up', { key: 'pickup' });
    return 'v2 on the old path';
  });
  const v3 = db.dispatch();
  v3.workflow('shipping', async (_input: unknown, ctx) => {
    await ctx.step('insure', () => 'I');
    await ctx.step('label', () => 'L3');
    return 'v3';
  });
  // The patched code keeps the old call on its old path.
  worker = await v2.worker({ concurrency: 5, pollIntervalMs: 100 });
  await db.pool.query(`select pgdispatch.signal('pickup', '{}')`);
  await eventually(
    async () =>
      (await v2.getCall(patchedCall))?.status === 'succeeded' ||
      (await v2.getCall(changed))?.status === 'succeeded',
  );
  await worker.stop();
  const first = (await v2.getCall(patchedCall))!.status === 'succeeded' ? patchedCall : changed;
  const other = first === patchedCall ? changed : patchedCall;
  expect((await v2.getCall(first))!.output).toBe('v2 on the old path');

  // The unpatched change fails the other call, and says which step changed.
  worker = await v3.worker({ concurrency: 5, pollIntervalMs: 100 });
  await db.pool.query(
    `update graphile_worker._private_jobs set run_at = now() where payload::jsonb ->> 'id' = $1`,
    [other],
  );
  await db.pool.query(`select pgdispatch.signal('pickup', '{}')`);
  const failed = await eventually(async () => {
    const c = await v3.getCall(other);
    return c?.status === 'failed' && c;
  });
  await worker.stop();
  expect(failed.last_error).toMatch(
    /non-deterministic workflow shipping: step 0 is step "label" in the call's history, but the code \(version \w+\) now asks for step "insure"/,
  );
});

it('shows the steps as a tree, signals and lists waiting calls from the CLI', async () => {
  const env = { DATABASE_URL: db.url };
  const show = await runCli(['show', orderCallId], env);
  expect(show.code).toBe(0);
  expect(show.stdout).toContain(`steps of call ${orderCallId}`);
  expect(show.stdout).toMatch(/├─ +0 step +charge +succeeded/);
  expect(show.stdout).toMatch(/├─ +2 call +webhook +succeeded +call \d+ webhook succeeded/);
  expect(show.stdout).toMatch(/└─ +6 call +loyalty +succeeded/);

  const waiting = await dispatch.dispatch('waiter', { key: 'from-cli' });
  let worker: WorkerHandle | undefined;
  try {
    worker = await dispatch.worker({ concurrency: 5, pollIntervalMs: 100 });
    await eventually(async () => (await dispatch.getCall(waiting))?.status === 'waiting');
    const list = await runCli(['calls', '--status', 'waiting'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(waiting);
    const sent = await runCli(['signal', 'from-cli', '--payload', '{"ok":true}'], env);
    expect(sent.code).toBe(0);
    const done = await eventually(async () => {
      const c = await dispatch.getCall(waiting);
      return c?.status === 'succeeded' && c;
    });
    expect(done.output).toEqual({ ok: true });
    const bad = await runCli(['signal', 'x', '--payload', '{nope'], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--payload is not JSON');
  } finally {
    await worker?.stop();
  }
});

it('runWorkflow fires a week-long waitFor timeout at once when no signal comes', async () => {
  const started = Date.now();
  const { call, steps, skipped } = await runWorkflow(dispatch, {
    workflow: dispatch.functions.get('order') as never,
    input: { orderId: 7 },
  });
  expect(call.status).toBe('succeeded');
  expect(call.output).toEqual({ status: 'not shipped in a week' });
  expect(steps.find((s) => s.name === 'shipped')).toMatchObject({
    status: 'succeeded',
    output: null,
  });
  expect(skipped).toBeGreaterThanOrEqual(1);
  expect(Date.now() - started).toBeLessThan(30_000);
});
