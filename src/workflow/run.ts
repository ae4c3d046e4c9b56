/**
 * The context a workflow body gets: each operation (step, tx, sleep,
 * waitFor, call, gather, any, now, random, patched) replays its recorded
 * result or does its work once, through the run's core in replay.ts.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { textProblem } from '../core/storable.js';
import { StepFailedError } from './errors.js';
import { checkJson, serialise } from './output.js';
import { type PARK, Replay, SEQ } from './replay.js';
import type { RunEnv, RunResult, StoredStep } from './state.js';
import type {
  CallTarget,
  ChildOptions,
  StepContext,
  StepOptions,
  WaitOptions,
  WorkflowContext,
} from './types.js';

export type { RunEnv, RunResult, StoredStep, WorkflowState } from './state.js';

export class WorkflowRun implements WorkflowContext {
  readonly callId: string;
  readonly attempt: number;
  readonly functionName: string;
  readonly version: string;
  readonly #r: Replay;
  #logger: Logger | undefined;
  readonly #parentLogger: Logger;

  constructor(env: RunEnv) {
    this.#r = new Replay(env);
    this.callId = env.callId;
    this.attempt = env.attempt;
    this.functionName = env.functionName;
    this.version = env.def.version;
    this.#parentLogger = env.logger;
  }

  get signal(): AbortSignal {
    return this.#r.signal;
  }

  get logger(): Logger {
    this.#logger ??= this.#parentLogger.child({
      function: this.functionName,
      callId: this.callId,
      attempt: this.attempt,
    });
    return this.#logger;
  }

  /** Runs the body until it ends or suspends. */
  execute(input: unknown): Promise<RunResult> {
    return this.#r.execute(input, this);
  }

  /** The worker is stopping or the call was cancelled: steps' signals abort, the run ends. */
  abort(reason: unknown, result: RunResult): void {
    this.#r.abort(reason, result);
  }

  // ---- the context -------------------------------------------------------

  step<T>(name: string, fn: (step: StepContext) => T | Promise<T>, options: StepOptions = {}) {
    return this.#r.op<T>(name, 'step', async (seq, key, stored) => {
      let attempt = 1;
      if (stored) {
        const done = this.#r.replayed<T>(key, stored);
        if (done !== undefined) return done.value;
        if (!this.#r.due(stored.wake_at)) return this.#r.park(seq, `step ${key} retrying`);
        attempt = stored.attempts + 1;
      }
      const startedMs = Date.now();
      const span = this.#r.env.span?.step(key, 'step', seq, attempt);
      const sc: StepContext = { signal: this.#r.signal, attempt };
      let value: T;
      try {
        value = await (span ? span.run(() => fn(sc)) : fn(sc));
      } catch (err) {
        span?.end(err);
        return this.#r.stepFailed<T>(seq, key, 'step', attempt, startedMs, err, options);
      }
      span?.end();
      return this.#r.stepSucceeded<T>(seq, key, 'step', attempt, startedMs, value);
    });
  }

  tx<T>(name: string, fn: (tx: pg.PoolClient) => Promise<T>, options: StepOptions = {}) {
    return this.#r.op<T>(name, 'tx', async (seq, key, stored) => {
      let attempt = 1;
      if (stored) {
        const done = this.#r.replayed<T>(key, stored);
        if (done !== undefined) return done.value;
        if (!this.#r.due(stored.wake_at)) return this.#r.park(seq, `step ${key} retrying`);
        attempt = stored.attempts + 1;
      }
      const startedMs = Date.now();
      const q = this.#r.env.queries;
      const span = this.#r.env.span?.step(key, 'tx', seq, attempt);
      let client: pg.PoolClient | undefined;
      let json: string;
      let inserted: boolean;
      try {
        client = await this.#r.env.pool.connect();
        await client.query('begin');
        const tx = client;
        const value = await (span ? span.run(() => fn(tx)) : fn(tx));
        const checked = serialise(key, value, this.#r.env.def.maxStepOutputBytes);
        if (checked instanceof Error) {
          span?.end(checked);
          await client.query('rollback');
          return this.#r.failFor<T>(seq, key, 'tx', attempt, startedMs, checked.message);
        }
        json = checked.json;
        const res = await client.query({
          ...q.recordTxStep,
          values: [this.callId, seq, key, attempt, json, startedMs, checked.note],
        });
        inserted = (res.rowCount ?? 0) > 0;
        if (inserted && this.#r.versionPending) {
          await client.query({ ...q.setVersion, values: [this.callId, this.version] });
          this.#r.versionPending = false;
        }
        await client.query(inserted ? 'commit' : 'rollback');
        span?.end();
      } catch (err) {
        span?.end(err);
        await client?.query('rollback').catch(() => undefined);
        client?.release();
        client = undefined;
        return this.#r.stepFailed<T>(seq, key, 'tx', attempt, startedMs, err, options);
      } finally {
        client?.release();
      }
      if (!inserted) {
        // Another run of this call committed the step first: its result stands.
        const { rows } = await this.#r.env.pool.query<StoredStep>({
          ...q.steps,
          values: [this.callId],
        });
        const other = rows.find((r) => r.seq === seq);
        if (other?.status === 'failed') throw new StepFailedError(key, other.error ?? 'failed');
        return other?.output as T;
      }
      return JSON.parse(json) as T;
    });
  }

  sleep(name: string, ms: number): Promise<void> {
    if (!Number.isFinite(ms)) return Promise.reject(new TypeError('sleep takes milliseconds'));
    return this.#sleep(name, () => this.#r.now() + ms);
  }

  sleepUntil(name: string, at: Date): Promise<void> {
    if (!(at instanceof Date) || Number.isNaN(at.getTime())) {
      return Promise.reject(new TypeError('sleepUntil takes a valid Date'));
    }
    return this.#sleep(name, () => at.getTime());
  }

  waitFor<T = unknown>(name: string, options: WaitOptions): Promise<T | null> {
    const { key, timeoutMs } = options ?? ({} as WaitOptions);
    if (typeof key !== 'string' || key === '') {
      return Promise.reject(new TypeError('waitFor needs a non-empty { key }'));
    }
    const bad = textProblem(key);
    if (bad)
      return Promise.reject(new TypeError(`waitFor's key ${bad}, which Postgres cannot store`));
    return this.#r.op<T | null>(name, 'wait', async (seq, stepKey, stored) => {
      if (stored) {
        const done = this.#r.replayed<T | null>(stepKey, stored);
        if (done !== undefined) return done.value;
        if (stored.wake_at === null || !this.#r.due(stored.wake_at)) {
          return this.#r.park(seq, `waiting for signal ${key}`);
        }
        // Timed out, unless the signal came in the meantime.
        const r = await this.#r.write({
          op: 'put',
          call_id: this.callId,
          seq,
          name: stepKey,
          kind: 'wait',
          status: 'succeeded',
          attempts: 0,
          output: null,
          error: null,
          started_ms: Date.now(),
        });
        return (r.recorded ? null : r.output) as T | null;
      }
      const r = await this.#r.write({
        op: 'wait',
        call_id: this.callId,
        seq,
        name: stepKey,
        key,
        wake_ms: timeoutMs === undefined ? null : this.#r.now() + timeoutMs,
      });
      if (r.status === 'succeeded') return r.output as T;
      return this.#r.park(seq, `waiting for signal ${key}`);
    });
  }

  call<I, O>(
    fn: CallTarget<I, O> | string,
    input: I,
    options: ChildOptions = {},
  ): Promise<Awaited<O>> {
    const fnName = typeof fn === 'string' ? fn : fn?.name;
    if (typeof fnName !== 'string') {
      return Promise.reject(new TypeError('call takes a function or a function name'));
    }
    type R = Awaited<O>;
    return this.#r.op<R>(
      options.name ?? fnName,
      'call',
      async (seq, key, stored): Promise<R | typeof PARK> => {
        if (stored) {
          const done = this.#r.replayed<Awaited<O>>(key, stored);
          if (done !== undefined) return done.value;
          return this.#r.park(seq, `waiting for child ${stored.child}`);
        }
        try {
          checkJson(`input of ${key}`, input);
          const checked = this.#r.env.validateChild(fnName, input);
          if (checked instanceof Promise) await checked;
        } catch (err) {
          return this.#r.failFor<Awaited<O>>(
            seq,
            key,
            'call',
            0,
            Date.now(),
            (err as Error).message,
          );
        }
        const childOptions: Record<string, unknown> = {};
        if (options.retryPolicy !== undefined) childOptions['retry_policy'] = options.retryPolicy;
        if (options.maxAttempts !== undefined) childOptions['max_attempts'] = options.maxAttempts;
        if (options.priority !== undefined) childOptions['priority'] = options.priority;
        const r = await this.#r.write({
          op: 'call',
          call_id: this.callId,
          seq,
          name: key,
          fn: fnName,
          input: input === undefined ? null : input,
          options: childOptions,
        });
        if (r.status === 'succeeded') return r.output as Awaited<O>;
        if (r.status === 'failed' || r.status === 'cancelled') {
          throw new StepFailedError(key, r.error ?? r.status, r.child_call_id ?? undefined);
        }
        return this.#r.park(seq, `waiting for child ${r.child_call_id}`);
      },
    );
  }

  async gather<T extends readonly unknown[] | []>(
    steps: T,
  ): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
    const members = this.#members(steps, this.#r.gathers);
    try {
      return (await Promise.all(steps)) as { -readonly [K in keyof T]: Awaited<T[K]> };
    } finally {
      this.#r.gathers.delete(members);
    }
  }

  async any<T>(steps: readonly Promise<T>[]): Promise<T> {
    const members = this.#members(steps, this.#r.anys);
    try {
      const first = await Promise.any(steps);
      this.#r.drop(members);
      return first;
    } finally {
      this.#r.anys.delete(members);
    }
  }

  /** The steps among `steps`, registered in `groups` while their gather or any is open. */
  #members(steps: readonly unknown[], groups: Set<Set<number>>): Set<number> {
    const members = new Set<number>();
    for (const p of steps) {
      const seq = (p as { [SEQ]?: number } | null)?.[SEQ];
      if (seq !== undefined) members.add(seq);
    }
    groups.add(members);
    this.#r.undrop(members);
    return members;
  }

  now(): Date {
    return new Date(this.#r.recorded('now', 'now', () => new Date(this.#r.now()).toISOString()));
  }

  random(): number {
    return this.#r.recorded('random', 'random', () => Math.random());
  }

  patched(id: string): boolean {
    const key = this.#r.keyFor(id, false);
    const stored = this.#r.nextStored();
    if (stored && !(stored.kind === 'patch' && stored.name === key)) return false;
    return this.#r.recorded(id, 'patch', () => true);
  }

  async #sleep(name: string, wakeAt: () => number): Promise<void> {
    return this.#r.op<void>(name, 'sleep', async (seq, key, stored) => {
      if (stored) {
        const done = this.#r.replayed<void>(key, stored);
        if (done !== undefined) return;
        if (!this.#r.due(stored.wake_at)) return this.#r.park(seq, `sleeping (${key})`);
        await this.#r.put(seq, key, 'sleep', 'succeeded', 0, null, null, Date.now());
        return;
      }
      const at = wakeAt();
      if (at <= this.#r.now()) {
        await this.#r.put(seq, key, 'sleep', 'succeeded', 0, null, null, Date.now());
        return;
      }
      const r = await this.#r.write({
        op: 'sleep',
        call_id: this.callId,
        seq,
        name: key,
        wake_ms: at,
      });
      if (r.status === 'succeeded') return;
      return this.#r.park(seq, `sleeping (${key}) until ${new Date(at).toISOString()}`);
    });
  }
}
