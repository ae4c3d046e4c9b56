/**
 * OpenTelemetry, with the SDK's in-memory exporter: a producer span per
 * dispatch whose context is stored with the call, and a consumer span per
 * attempt, child of and linked to it (retries too), with the function, call
 * id, attempt and outcome, and the HTTP attributes of a webhook attempt.
 * Before a tracer provider is registered, nothing is traced or stored.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dispatch, TemporaryError, type WorkerHandle } from '../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/db.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

let db: TestDatabase;
let dispatch: Dispatch;
let worker: WorkerHandle | undefined;
let receiver: ReturnType<typeof createServer>;
let receiverUrl = '';
const failedOnce = new Set<string>();

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query(
    "insert into pgdispatch.retry_policies (name, delays, max_attempts) values ('fast', '{50ms}', 5)",
  );
  receiver = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook?token=x`;
  dispatch = db.dispatch({ webhook: { allow: ['127.0.0.1/32'] } });
  dispatch.func(
    'flaky',
    (n: number, ctx) => {
      // A span the handler makes nests under its attempt's span.
      trace.getTracer('app').startSpan('inner work').end();
      if (!failedOnce.has(ctx.callId)) {
        failedOnce.add(ctx.callId);
        throw new TemporaryError('not yet');
      }
      return n * 2;
    },
    { retryPolicy: 'fast' },
  );
  const flakyStep = new Set<string>();
  dispatch.workflow('traced', async (_input: unknown, ctx) => {
    await ctx.step('one', () => {
      trace.getTracer('app').startSpan('inside one').end();
      return 1;
    });
    await ctx.step(
      'flaky',
      () => {
        if (!flakyStep.has(ctx.callId)) {
          flakyStep.add(ctx.callId);
          throw new TemporaryError('step not yet');
        }
        return 2;
      },
      { retryPolicy: 'fast' },
    );
    await ctx.tx('write', async (tx) => (await tx.query('select 3 as n')).rows[0].n);
    return 'done';
  });
  await dispatch.migrate();
});

afterAll(async () => {
  await worker?.stop();
  await new Promise((r) => receiver?.close(r));
  await db?.drop();
  await provider.shutdown();
});

const traceContext = async (id: string) =>
  (await db.pool.query('select trace_context from pgdispatch.calls where id = $1', [id])).rows[0]
    ?.trace_context as { traceparent: string } | null;

const spans = (name: string): ReadableSpan[] =>
  exporter.getFinishedSpans().filter((s) => s.name === name);

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

describe('without a tracer provider', () => {
  it('stores no trace context and exports nothing', async () => {
    const id = await dispatch.dispatch('flaky', 1);
    expect(await traceContext(id)).toBeNull();
    const { rows } = await db.pool.query(
      "select payload from graphile_worker._private_jobs where payload->>'id' = $1",
      [id],
    );
    expect(Object.keys(rows[0].payload).sort()).toEqual(['attempt', 'id', 'input']);
    await db.pool.query('select pgdispatch.cancel_call($1)', [id]);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});

describe('with a tracer provider', () => {
  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
    worker = await dispatch.worker({ concurrency: 4, pollIntervalMs: 50 });
  });

  it('links each attempt, retries included, to the dispatch that created the call', async () => {
    const request = trace.getTracer('app').startSpan('POST /orders');
    const id = await context.with(trace.setSpan(context.active(), request), () =>
      dispatch.dispatch('flaky', 21),
    );
    request.end();
    await eventually(async () => (await dispatch.getCall(id))?.status === 'succeeded');
    await eventually(async () => spans('process flaky').length >= 2);

    const [producer] = spans('send flaky');
    expect(producer).toBeDefined();
    expect(producer!.kind).toBe(SpanKind.PRODUCER);
    expect(parentOf(producer!)).toBe(request.spanContext().spanId);
    expect(producer!.attributes).toMatchObject({
      'messaging.system': 'pgdispatch',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'flaky',
      'messaging.message.id': id,
    });
    const p = producer!.spanContext();
    expect(await traceContext(id)).toEqual({ traceparent: `00-${p.traceId}-${p.spanId}-01` });

    const attempts = spans('process flaky').sort(
      (a, b) =>
        Number(a.attributes['pgdispatch.attempt']) - Number(b.attributes['pgdispatch.attempt']),
    );
    expect(
      attempts.map((s) => [s.attributes['pgdispatch.attempt'], s.attributes['pgdispatch.outcome']]),
    ).toEqual([
      [1, 'temporary_error'],
      [2, 'ok'],
    ]);
    for (const s of attempts) {
      expect(s.kind).toBe(SpanKind.CONSUMER);
      expect(s.spanContext().traceId).toBe(p.traceId);
      expect(parentOf(s)).toBe(p.spanId);
      expect(s.links.map((l) => l.context.spanId)).toEqual([p.spanId]);
      expect(s.attributes).toMatchObject({
        'messaging.destination.name': 'flaky',
        'messaging.message.id': id,
      });
    }
    expect(attempts[0]!.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'not yet' });
    expect(attempts[0]!.attributes['error.type']).toBe('temporary_error');
    expect(attempts[1]!.status.code).not.toBe(SpanStatusCode.ERROR);
    // The handler's own span is a child of its attempt's.
    const inner = spans('inner work').filter((s) => s.spanContext().traceId === p.traceId);
    expect(inner.map(parentOf).sort()).toEqual(attempts.map((s) => s.spanContext().spanId).sort());
  });

  it('traces a batch with one producer span', async () => {
    const ids = await dispatch.dispatchMany('flaky', [1, 2, 3]);
    const contexts = await Promise.all(ids.map(traceContext));
    expect(new Set(contexts.map((c) => c?.traceparent)).size).toBe(1);
    const batch = spans('send flaky').find(
      (s) => s.attributes['messaging.batch.message_count'] === 3,
    );
    expect(contexts[0]!.traceparent).toContain(batch!.spanContext().spanId);
    await eventually(async () => {
      const { rows } = await db.pool.query(
        "select count(*)::int as n from pgdispatch.calls where id = any($1::bigint[]) and status = 'succeeded'",
        [ids],
      );
      return rows[0].n === 3;
    });
  });

  it('gives a webhook attempt the HTTP client attributes', async () => {
    const id = await dispatch.webhook.dispatch({ url: receiverUrl, body: { hello: 1 } });
    await eventually(async () => (await dispatch.getCall(id))?.status === 'succeeded');
    const span = await eventually(async () =>
      spans('process webhook').find((s) => s.attributes['messaging.message.id'] === id),
    );
    const port = new URL(receiverUrl).port;
    expect(span.attributes).toMatchObject({
      'http.request.method': 'POST',
      'url.full': receiverUrl,
      'server.address': '127.0.0.1',
      'server.port': Number(port),
      'http.response.status_code': 200,
      'pgdispatch.outcome': 'ok',
    });
  });

  it("gives each step a workflow runs a child span of its attempt's span", async () => {
    const id = await dispatch.dispatch('traced', {});
    await eventually(async () => (await dispatch.getCall(id))?.status === 'succeeded');
    const attempts = await eventually(async () => {
      const found = spans('process traced').filter(
        (s) => s.attributes['messaging.message.id'] === id,
      );
      return found.length === 2 ? found : undefined;
    });
    attempts.sort(
      (a, b) =>
        Number(a.attributes['pgdispatch.attempt']) - Number(b.attributes['pgdispatch.attempt']),
    );
    expect(attempts.map((s) => s.attributes['pgdispatch.outcome'])).toEqual(['suspended', 'ok']);
    expect(attempts.map((s) => s.status.code)).not.toContain(SpanStatusCode.ERROR);
    const [first, second] = attempts.map((s) => s.spanContext().spanId);
    const traceId = attempts[0]!.spanContext().traceId;
    const steps = exporter
      .getFinishedSpans()
      .filter((s) => s.name.startsWith('step ') && s.spanContext().traceId === traceId)
      .map((s) => ({
        name: s.name,
        parent: parentOf(s),
        kind: s.attributes['pgdispatch.step.kind'],
        seq: s.attributes['pgdispatch.step.seq'],
        attempt: s.attributes['pgdispatch.step.attempt'],
        error: s.status.code === SpanStatusCode.ERROR ? s.status.message : undefined,
      }));
    // The second attempt replays step one from its row: no span for it.
    expect(steps).toEqual([
      { name: 'step one', parent: first, kind: 'step', seq: 0, attempt: 1, error: undefined },
      {
        name: 'step flaky',
        parent: first,
        kind: 'step',
        seq: 1,
        attempt: 1,
        error: 'step not yet',
      },
      { name: 'step flaky', parent: second, kind: 'step', seq: 1, attempt: 2, error: undefined },
      { name: 'step write', parent: second, kind: 'tx', seq: 2, attempt: 1, error: undefined },
    ]);
    const one = exporter
      .getFinishedSpans()
      .find((s) => s.name === 'step one' && s.spanContext().traceId === traceId);
    const inside = spans('inside one').filter((s) => s.spanContext().traceId === traceId);
    expect(inside.map(parentOf)).toEqual([one!.spanContext().spanId]);
    const { rows } = await db.pool.query(
      'select name, status, attempts from pgdispatch.steps where call_id = $1 order by seq',
      [id],
    );
    expect(rows).toEqual([
      { name: 'one', status: 'succeeded', attempts: 1 },
      { name: 'flaky', status: 'succeeded', attempts: 2 },
      { name: 'write', status: 'succeeded', attempts: 1 },
    ]);
  });

  it('continues a trace context given from SQL', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const { rows } = await db.pool.query(
      "select pgdispatch.dispatch('flaky', '5', jsonb_build_object('trace_context', jsonb_build_object('traceparent', $1::text))) as id",
      [traceparent],
    );
    const id = String(rows[0].id);
    const attempts = await eventually(async () => {
      const found = spans('process flaky').filter(
        (s) => s.attributes['messaging.message.id'] === id,
      );
      return found.length === 2 ? found : undefined;
    });
    for (const s of attempts) {
      expect(s.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
      expect(parentOf(s)).toBe('b7ad6b7169203331');
    }
  });
});
