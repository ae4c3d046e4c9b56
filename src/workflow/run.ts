/**
 * One run of a workflow body: replays the recorded steps (their outputs
 * return at once), runs the first missing one, and ends when the body
 * returns or throws, or when nothing it awaits can finish in this run (a
 * sleep, a signal not yet sent, a child still running): it suspends, and
 * the body's pending promises are simply dropped.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { classifyError, isRetryable } from '../core/outcome.js';
import { boundedText, safeString, storableJson, strictJson } from '../core/storable.js';
import { NonDeterminismError, StepFailedError, WorkflowLimitError } from './errors.js';
import type { Queries } from '../sql/queries.js';
import type { OpResult, StepKind, StepOp, StepRecorder, StepStatus } from './recorder.js';
import type {
  CallTarget,
  ChildOptions,
  StepContext,
  StepOptions,
  WaitOptions,
  WorkflowContext,
  WorkflowDefinition,
} from './types.js';

/** A step as the claim brings it (workflow_state in migrations/0013). */
export interface StoredStep {
  seq: number;
  name: string;
  kind: StepKind;
  status: StepStatus;
  attempts: number;
  output: unknown;
  error: string | null;
  wake_at: string | null;
  child: string | null;
}

export interface WorkflowState {
  version: string | null;
  /** The database's clock when the state was read. */
  now: string;
  steps: StoredStep[];
}

export type RunResult =
  | { kind: 'ok'; output: unknown }
  | { kind: 'error'; error: unknown }
  | { kind: 'suspended'; blocked: number[]; needAll: boolean; reason: string }
  /** The worker stopped or the database failed under the run: nothing to record. */
  | { kind: 'abandoned'; error: unknown };

export interface RunEnv {
  def: WorkflowDefinition;
  functionName: string;
  callId: string;
  attempt: number;
  state: WorkflowState;
  recorder: StepRecorder;
  pool: pg.Pool;
  queries: Queries;
  logger: Logger;
  /** Validates a child's input as its function's dispatch would (undefined: unknown here). */
  validateChild: (fn: string, input: unknown) => unknown;
}

const PARK = Symbol('park');
const NEVER = new Promise<never>(() => {});
const SEQ = Symbol('seq');
const MAX_ERROR_CHARS = 2_000;

type Work<T> = () => Promise<T | typeof PARK>;

export class WorkflowRun implements WorkflowContext {
  readonly callId: string;
  readonly attempt: number;
  readonly functionName: string;
  readonly version: string;
  readonly #env: RunEnv;
  readonly #steps: StoredStep[];
  readonly #controller = new AbortController();
  /** Database time minus local time. */
  readonly #clockOffset: number;
  #seq = 0;
  readonly #counts = new Map<string, number>();
  /** Ops in progress: running a step's function or waiting for a write. */
  #running = 0;
  /** Steps that cannot finish in this run, with what they wait for. */
  readonly #blocked = new Map<number, string>();
  readonly #gathers = new Set<Set<number>>();
  /** Writes nobody awaits (now, random, patched): the run ends after them. */
  readonly #writes = new Set<Promise<OpResult>>();
  #versionPending: boolean;
  #checkQueued = false;
  #over = false;
  #fatal: Error | undefined;
  #settle: (r: RunResult) => void = () => {};
  #logger: Logger | undefined;

  constructor(env: RunEnv) {
    this.#env = env;
    this.callId = env.callId;
    this.attempt = env.attempt;
    this.functionName = env.functionName;
    this.version = env.def.version;
    this.#steps = env.state.steps;
    this.#clockOffset = Date.parse(env.state.now) - Date.now();
    this.#versionPending = env.state.version === null;
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get logger(): Logger {
    this.#logger ??= this.#env.logger.child({
      function: this.functionName,
      callId: this.callId,
      attempt: this.attempt,
    });
    return this.#logger;
  }

  /** Runs the body until it ends or suspends. */
  execute(input: unknown): Promise<RunResult> {
    return new Promise<RunResult>((resolve) => {
      this.#settle = resolve;
      let body: Promise<unknown>;
      try {
        body = Promise.resolve(this.#env.def.handler(input, this));
      } catch (err) {
        body = Promise.reject(err);
      }
      body.then(
        (output) => void this.#end({ kind: 'ok', output }),
        (error: unknown) => void this.#end({ kind: 'error', error }),
      );
    });
  }

  /** The worker is stopping or the call was cancelled: steps' signals abort, the run ends. */
  abort(reason: unknown, result: RunResult): void {
    this.#controller.abort(reason);
    void this.#end(result);
  }

  // ---- the context -------------------------------------------------------

  step<T>(name: string, fn: (step: StepContext) => T | Promise<T>, options: StepOptions = {}) {
    return this.#op<T>(name, 'step', async (seq, key, stored) => {
      let attempt = 1;
      if (stored) {
        const done = this.#replayed<T>(key, stored);
        if (done !== undefined) return done.value;
        if (!this.#due(stored.wake_at)) return this.#park(seq, `step ${key} retrying`);
        attempt = stored.attempts + 1;
      }
      const startedMs = Date.now();
      let value: T;
      try {
        value = await fn({ signal: this.#controller.signal, attempt });
      } catch (err) {
        return this.#stepFailed<T>(seq, key, 'step', attempt, startedMs, err, options);
      }
      return this.#stepSucceeded<T>(seq, key, 'step', attempt, startedMs, value);
    });
  }

  tx<T>(name: string, fn: (tx: pg.PoolClient) => Promise<T>, options: StepOptions = {}) {
    return this.#op<T>(name, 'tx', async (seq, key, stored) => {
      let attempt = 1;
      if (stored) {
        const done = this.#replayed<T>(key, stored);
        if (done !== undefined) return done.value;
        if (!this.#due(stored.wake_at)) return this.#park(seq, `step ${key} retrying`);
        attempt = stored.attempts + 1;
      }
      const startedMs = Date.now();
      const q = this.#env.queries;
      let client: pg.PoolClient | undefined;
      let json: string;
      let inserted: boolean;
      try {
        client = await this.#env.pool.connect();
        await client.query('begin');
        const value = await fn(client);
        const checked = this.#serialise(key, value);
        if (checked instanceof Error) {
          await client.query('rollback');
          return this.#failFor<T>(seq, key, 'tx', attempt, startedMs, checked.message);
        }
        json = checked.json;
        const res = await client.query({
          ...q.recordTxStep,
          values: [this.callId, seq, key, attempt, json, startedMs, checked.note],
        });
        inserted = (res.rowCount ?? 0) > 0;
        if (inserted && this.#versionPending) {
          await client.query({ ...q.setVersion, values: [this.callId, this.version] });
          this.#versionPending = false;
        }
        await client.query(inserted ? 'commit' : 'rollback');
      } catch (err) {
        await client?.query('rollback').catch(() => undefined);
        client?.release();
        client = undefined;
        return this.#stepFailed<T>(seq, key, 'tx', attempt, startedMs, err, options);
      } finally {
        client?.release();
      }
      if (!inserted) {
        // Another run of this call committed the step first: its result stands.
        const { rows } = await this.#env.pool.query<StoredStep>({
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
    return this.#sleep(name, () => this.#now() + ms);
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
    return this.#op<T | null>(name, 'wait', async (seq, stepKey, stored) => {
      if (stored) {
        const done = this.#replayed<T | null>(stepKey, stored);
        if (done !== undefined) return done.value;
        if (stored.wake_at === null || !this.#due(stored.wake_at)) {
          return this.#park(seq, `waiting for signal ${key}`);
        }
        // Timed out, unless the signal came in the meantime.
        const r = await this.#write({
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
      const r = await this.#write({
        op: 'wait',
        call_id: this.callId,
        seq,
        name: stepKey,
        key,
        wake_ms: timeoutMs === undefined ? null : this.#now() + timeoutMs,
      });
      if (r.status === 'succeeded') return r.output as T;
      return this.#park(seq, `waiting for signal ${key}`);
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
    return this.#op<R>(
      options.name ?? fnName,
      'call',
      async (seq, key, stored): Promise<R | typeof PARK> => {
        if (stored) {
          const done = this.#replayed<Awaited<O>>(key, stored);
          if (done !== undefined) return done.value;
          return this.#park(seq, `waiting for child ${stored.child}`);
        }
        try {
          checkJson(`input of ${key}`, input);
          const checked = this.#env.validateChild(fnName, input);
          if (checked instanceof Promise) await checked;
        } catch (err) {
          return this.#failFor<Awaited<O>>(seq, key, 'call', 0, Date.now(), (err as Error).message);
        }
        const childOptions: Record<string, unknown> = {};
        if (options.retryPolicy !== undefined) childOptions['retry_policy'] = options.retryPolicy;
        if (options.maxAttempts !== undefined) childOptions['max_attempts'] = options.maxAttempts;
        if (options.priority !== undefined) childOptions['priority'] = options.priority;
        const r = await this.#write({
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
        return this.#park(seq, `waiting for child ${r.child_call_id}`);
      },
    );
  }

  async gather<T extends readonly unknown[] | []>(
    steps: T,
  ): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
    const members = new Set<number>();
    for (const p of steps) {
      const seq = (p as { [SEQ]?: number } | null)?.[SEQ];
      if (seq !== undefined) members.add(seq);
    }
    this.#gathers.add(members);
    try {
      return (await Promise.all(steps)) as { -readonly [K in keyof T]: Awaited<T[K]> };
    } finally {
      this.#gathers.delete(members);
    }
  }

  any<T>(steps: readonly Promise<T>[]): Promise<T> {
    return Promise.any(steps);
  }

  now(): Date {
    return new Date(this.#recorded('now', 'now', () => new Date(this.#now()).toISOString()));
  }

  random(): number {
    return this.#recorded('random', 'random', () => Math.random());
  }

  patched(id: string): boolean {
    const key = this.#keyFor(id, false);
    const stored = this.#steps[this.#seq];
    if (stored && !(stored.kind === 'patch' && stored.name === key)) return false;
    return this.#recorded(id, 'patch', () => true);
  }

  // ---- the machinery -----------------------------------------------------

  /**
   * Begins the next step: its sequence number, its name with occurrence,
   * and what the history holds at that place, which must be the same step.
   */
  #begin(name: string, kind: StepKind): { seq: number; key: string; stored?: StoredStep } {
    if (this.#fatal) throw this.#fatal;
    if (typeof name !== 'string' || name === '') {
      throw new TypeError(`a ${kind} step needs a name`);
    }
    const seq = this.#seq;
    if (seq >= this.#env.def.maxSteps) {
      this.#fail(
        new WorkflowLimitError(
          `workflow ${this.functionName} took more than ${this.#env.def.maxSteps} steps (option maxSteps)`,
        ),
      );
    }
    const key = this.#keyFor(name, true);
    this.#seq++;
    const stored = this.#steps[seq];
    if (stored && (stored.name !== key || stored.kind !== kind)) {
      this.#fail(
        new NonDeterminismError(
          `non-deterministic workflow ${this.functionName}: step ${seq} is ${stored.kind} ` +
            `${JSON.stringify(stored.name)} in the call's history, but the code ` +
            `(version ${this.version}) now asks for ${kind} ${JSON.stringify(key)}; ` +
            'use ctx.patched() to change the steps of running calls',
        ),
      );
    }
    return stored ? { seq, key, stored } : { seq, key };
  }

  #keyFor(name: string, take: boolean): string {
    const n = (this.#counts.get(name) ?? 0) + 1;
    if (take) this.#counts.set(name, n);
    return n === 1 ? name : `${name}#${n}`;
  }

  /** A fatal error: thrown at the body, and the run fails whatever the body does. */
  #fail(err: Error): never {
    this.#fatal = err;
    void this.#end({ kind: 'error', error: err });
    throw err;
  }

  /** Runs one op as a tracked step whose promise `gather` can recognise. */
  #op<T>(
    name: string,
    kind: StepKind,
    work: (seq: number, key: string, stored: StoredStep | undefined) => Promise<T | typeof PARK>,
  ): Promise<T> {
    if (this.#over) return NEVER;
    let begun: { seq: number; key: string; stored?: StoredStep };
    try {
      begun = this.#begin(name, kind);
    } catch (err) {
      return Promise.reject(err);
    }
    const { seq, key, stored } = begun;
    this.#running++;
    const done = () => {
      this.#running--;
      this.#schedule();
    };
    const run: Work<T> = () => work(seq, key, stored);
    const p = run().then(
      (v) => {
        done();
        if (v === PARK || this.#over) return NEVER;
        return v;
      },
      (err: unknown) => {
        done();
        if (this.#over) return NEVER;
        throw err;
      },
    );
    Object.defineProperty(p, SEQ, { value: seq });
    return p;
  }

  /** A step's stored result; undefined when it still has to run (retrying or waiting). */
  #replayed<T>(key: string, s: StoredStep): { value: T } | undefined {
    if (s.status === 'succeeded') return { value: s.output as T };
    if (s.status === 'failed' || s.status === 'cancelled') {
      throw new StepFailedError(key, s.error ?? s.status, s.child ?? undefined);
    }
    return undefined;
  }

  #park(seq: number, reason: string): typeof PARK {
    this.#blocked.set(seq, reason);
    return PARK;
  }

  async #sleep(name: string, wakeAt: () => number): Promise<void> {
    return this.#op<void>(name, 'sleep', async (seq, key, stored) => {
      if (stored) {
        const done = this.#replayed<void>(key, stored);
        if (done !== undefined) return;
        if (!this.#due(stored.wake_at)) return this.#park(seq, `sleeping (${key})`);
        await this.#put(seq, key, 'sleep', 'succeeded', 0, null, null, Date.now());
        return;
      }
      const at = wakeAt();
      if (at <= this.#now()) {
        await this.#put(seq, key, 'sleep', 'succeeded', 0, null, null, Date.now());
        return;
      }
      const r = await this.#write({
        op: 'sleep',
        call_id: this.callId,
        seq,
        name: key,
        wake_ms: at,
      });
      if (r.status === 'succeeded') return;
      return this.#park(seq, `sleeping (${key}) until ${new Date(at).toISOString()}`);
    });
  }

  /** A value made once and recorded: now, random, patch markers. */
  #recorded<T>(name: string, kind: StepKind, make: () => T): T {
    if (this.#over) throw new Error('workflow run is over');
    const { seq, key, stored } = this.#begin(name, kind);
    if (stored) return stored.output as T;
    const made = storableJson(make());
    const value = made.value as T;
    const p = this.#write({
      op: 'put',
      call_id: this.callId,
      seq,
      name: key,
      kind,
      status: 'succeeded',
      attempts: 1,
      output: value,
      error: made.notes.length > 0 ? made.notes.join('; ') : null,
      started_ms: Date.now(),
    });
    this.#writes.add(p);
    p.then(
      () => this.#writes.delete(p),
      () => undefined,
    );
    return value;
  }

  async #stepSucceeded<T>(
    seq: number,
    key: string,
    kind: StepKind,
    attempt: number,
    startedMs: number,
    value: T,
  ): Promise<T | typeof PARK> {
    if (this.#over) return PARK;
    const checked = this.#serialise(key, value);
    if (checked instanceof Error)
      return this.#failFor<T>(seq, key, kind, attempt, startedMs, checked.message);
    const output = checked.value as T;
    const r = await this.#put(
      seq,
      key,
      kind,
      'succeeded',
      attempt,
      output,
      checked.note,
      startedMs,
    );
    if (!r.recorded) return this.#replayed<T>(key, this.#asStored(seq, key, kind, r))?.value as T;
    return output;
  }

  async #stepFailed<T>(
    seq: number,
    key: string,
    kind: StepKind,
    attempt: number,
    startedMs: number,
    err: unknown,
    options: StepOptions,
  ): Promise<T | typeof PARK> {
    if (this.#over) return PARK;
    if (err instanceof StepFailedError) {
      // A nested ctx operation failed inside a step function: permanent.
      return this.#failFor<T>(seq, key, kind, attempt, startedMs, err.message);
    }
    const c = classifyError(err, options.retryUnknownErrors ?? false);
    const message = truncate(c.message);
    if (!isRetryable(c.status))
      return this.#failFor<T>(seq, key, kind, attempt, startedMs, message);
    const r = await this.#write({
      op: 'fail',
      call_id: this.callId,
      seq,
      name: key,
      kind,
      attempts: attempt,
      error: message,
      policy: options.retryPolicy ?? this.#env.def.stepRetryPolicy,
      started_ms: startedMs,
    });
    if (r.status === 'retrying') {
      return this.#park(seq, `step ${key} retrying at ${r.wake_at?.toISOString()}: ${message}`);
    }
    if (r.status === 'succeeded') return r.output as T;
    throw new StepFailedError(key, r.error ?? message);
  }

  /** Records a permanent failure of the step and throws it at the body. */
  async #failFor<T>(
    seq: number,
    key: string,
    kind: StepKind,
    attempt: number,
    startedMs: number,
    message: string,
  ): Promise<T | typeof PARK> {
    const r = await this.#put(seq, key, kind, 'failed', attempt, null, message, startedMs);
    if (!r.recorded && r.status === 'succeeded') return r.output as T;
    throw new StepFailedError(key, r.recorded ? message : (r.error ?? message));
  }

  #put(
    seq: number,
    key: string,
    kind: StepKind,
    status: 'succeeded' | 'failed',
    attempts: number,
    output: unknown,
    error: string | null,
    startedMs: number,
  ): Promise<OpResult> {
    return this.#write({
      op: 'put',
      call_id: this.callId,
      seq,
      name: key,
      kind,
      status,
      attempts,
      output,
      error: error === null ? null : boundedText(error, MAX_ERROR_CHARS),
      started_ms: startedMs,
    });
  }

  #write(op: StepOp): Promise<OpResult> {
    if (this.#versionPending) {
      op.version = this.version;
      this.#versionPending = false;
    }
    return this.#env.recorder.record(op);
  }

  #asStored(seq: number, key: string, kind: StepKind, r: OpResult): StoredStep {
    return {
      seq,
      name: key,
      kind,
      status: (r.status ?? 'succeeded') as StepStatus,
      attempts: r.attempts ?? 0,
      output: r.output,
      error: r.error,
      wake_at: r.wake_at?.toISOString() ?? null,
      child: r.child_call_id,
    };
  }

  /**
   * A step's output as it is stored and returned (NULs and lone surrogates
   * replaced, NaN as null, said in `note`), or the error that fails the step.
   */
  #serialise(
    key: string,
    raw: unknown,
  ): { value: unknown; json: string; note: string | null } | Error {
    const value = raw === undefined ? null : raw;
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch (err) {
      return new Error(`output of step ${key} is not JSON-serialisable: ${safeString(err)}`);
    }
    if (json === undefined) return new Error(`output of step ${key} is not JSON: ${typeof value}`);
    let note: string | null = null;
    // Only a text with a null (NaN, Infinity) or an escape (NUL, surrogate) can need a change.
    if (json.includes('null') || json.includes('\\u')) {
      const r = storableJson(value);
      if (r.notes.length > 0) {
        json = JSON.stringify(r.value) ?? 'null';
        note = r.notes.map((n) => `output: ${n}`).join('; ');
      }
    }
    const limit = this.#env.def.maxStepOutputBytes;
    // Characters bound the bytes from below; count bytes only when it matters.
    if (json.length > limit / 3) {
      const bytes = Buffer.byteLength(json);
      if (bytes > limit) {
        return new WorkflowLimitError(
          `output of step ${key} is ${formatBytes(bytes)}, over the limit of ${formatBytes(limit)} ` +
            '(workflow option maxStepOutputBytes)',
        );
      }
    }
    // What the body gets is what a replay will get.
    return { value: JSON.parse(json) as unknown, json, note };
  }

  #now(): number {
    return Date.now() + this.#clockOffset;
  }

  #due(wakeAt: string | null): boolean {
    return wakeAt === null || Date.parse(wakeAt) <= this.#now();
  }

  /** After the current turn: if nothing can move and something waits, suspend. */
  #schedule(): void {
    if (this.#checkQueued || this.#over) return;
    this.#checkQueued = true;
    setImmediate(() => {
      this.#checkQueued = false;
      if (this.#over || this.#running > 0 || this.#blocked.size === 0) return;
      const blocked = [...this.#blocked.keys()].sort((a, b) => a - b);
      const needAll = [...this.#gathers].some((g) => blocked.every((s) => g.has(s)));
      const reasons = [...new Set(this.#blocked.values())];
      const reason =
        reasons.length <= 3
          ? reasons.join('; ')
          : `${reasons.slice(0, 2).join('; ')} and ${reasons.length - 2} more`;
      void this.#end({ kind: 'suspended', blocked, needAll, reason });
    });
  }

  async #end(result: RunResult): Promise<void> {
    if (this.#over) return;
    this.#over = true;
    let r = result;
    if (this.#fatal && r.kind !== 'abandoned') r = { kind: 'error', error: this.#fatal };
    try {
      await Promise.all(this.#writes);
    } catch (err) {
      r = { kind: 'abandoned', error: err };
    }
    this.#settle(r);
  }
}

/** Throws unless `value` is JSON that jsonb can store as it is, as dispatch checks an input. */
function checkJson(what: string, value: unknown): void {
  const r = strictJson(value === undefined ? null : value);
  if ('problem' in r) {
    throw new Error(
      r.problem.startsWith('contains') ? `${what} ${r.problem}` : `${what}: ${r.problem}`,
    );
  }
}

function truncate(message: string): string {
  return boundedText(message, MAX_ERROR_CHARS);
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}
