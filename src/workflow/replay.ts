/**
 * The core of one run of a workflow body: replays the recorded steps (their
 * outputs return at once), numbers and names each new step and checks it
 * against the history, records what steps do through the step recorder, and
 * ends the run when the body returns or throws, or when nothing it awaits
 * can finish in this run (a sleep, a signal not yet sent, a child still
 * running): it suspends, and the body's pending promises are simply dropped.
 * The operations the body calls are in run.ts.
 */
import { classifyError, isRetryable } from '../core/outcome.js';
import { boundedText, storableJson, textProblem } from '../core/storable.js';
import { NonDeterminismError, StepFailedError, WorkflowLimitError } from './errors.js';
import { MAX_ERROR_CHARS, serialise, truncate } from './output.js';
import type { OpResult, StepKind, StepOp, StepStatus } from './recorder.js';
import type { RunEnv, RunResult, StoredStep } from './state.js';
import type { StepOptions, WorkflowContext } from './types.js';

/** What a step's work returns when it cannot finish in this run. */
export const PARK = Symbol('park');
const NEVER = new Promise<never>(() => {});
/** The step's sequence number on its promise, for gather. */
export const SEQ = Symbol('seq');

export class Replay {
  readonly env: RunEnv;
  readonly callId: string;
  readonly functionName: string;
  readonly version: string;
  /** The call's history, by sequence number. */
  readonly steps: StoredStep[];
  /** The steps of each gather in progress. */
  readonly gathers = new Set<Set<number>>();
  /** The steps of each ctx.any in progress. */
  readonly anys = new Set<Set<number>>();
  /**
   * Steps of a ctx.any that returned without them: the run no longer awaits
   * them, so a suspension names them only when it waits for nothing else.
   */
  readonly #dropped = new Set<number>();
  /** The call has no version yet: the run's first write sets it. */
  versionPending: boolean;
  readonly #controller = new AbortController();
  /** Database time minus local time. */
  readonly #clockOffset: number;
  #seq = 0;
  readonly #counts = new Map<string, number>();
  /** Ops in progress: running a step's function or waiting for a write. */
  #running = 0;
  /** Steps that cannot finish in this run, with what they wait for. */
  readonly #blocked = new Map<number, string>();
  /** Writes nobody awaits (now, random, patched): the run ends after them. */
  readonly #writes = new Set<Promise<OpResult>>();
  #checkQueued = false;
  #isOver = false;
  #fatal: Error | undefined;
  #settle: (r: RunResult) => void = () => {};

  constructor(env: RunEnv) {
    this.env = env;
    this.callId = env.callId;
    this.functionName = env.functionName;
    this.version = env.def.version;
    this.steps = env.state.steps;
    this.#clockOffset = Date.parse(env.state.now) - Date.now();
    this.versionPending = env.state.version === null;
  }

  /** Aborts when the worker stops or the call is cancelled. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get over(): boolean {
    return this.#isOver;
  }

  /** The recorded step the next op will meet, if any. */
  nextStored(): StoredStep | undefined {
    return this.steps[this.#seq];
  }

  /** Runs the body until it ends or suspends. */
  execute(input: unknown, ctx: WorkflowContext): Promise<RunResult> {
    return new Promise<RunResult>((resolve) => {
      this.#settle = resolve;
      let body: Promise<unknown>;
      try {
        body = Promise.resolve(this.env.def.handler(input, ctx));
      } catch (err) {
        body = Promise.reject(err);
      }
      body.then(
        (output) => void this.end({ kind: 'ok', output }),
        (error: unknown) => void this.end({ kind: 'error', error }),
      );
    });
  }

  /** The worker is stopping or the call was cancelled: steps' signals abort, the run ends. */
  abort(reason: unknown, result: RunResult): void {
    this.#controller.abort(reason);
    void this.end(result);
  }

  /**
   * Begins the next step: its sequence number, its name with occurrence,
   * and what the history holds at that place, which must be the same step.
   */
  begin(name: string, kind: StepKind): { seq: number; key: string; stored?: StoredStep } {
    if (this.#fatal) throw this.#fatal;
    if (typeof name !== 'string' || name === '') {
      throw new TypeError(`a ${kind} step needs a name`);
    }
    const bad = textProblem(name);
    if (bad) {
      const shown = JSON.stringify(boundedText(name, 60));
      throw new TypeError(`step name ${shown} ${bad}, which Postgres cannot store`);
    }
    const seq = this.#seq;
    if (seq >= this.env.def.maxSteps) {
      this.fail(
        new WorkflowLimitError(
          `workflow ${this.functionName} took more than ${this.env.def.maxSteps} steps (option maxSteps)`,
        ),
      );
    }
    const key = this.keyFor(name, true);
    this.#seq++;
    const stored = this.steps[seq];
    if (stored && (stored.name !== key || stored.kind !== kind)) {
      this.fail(
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

  keyFor(name: string, take: boolean): string {
    const n = (this.#counts.get(name) ?? 0) + 1;
    if (take) this.#counts.set(name, n);
    return n === 1 ? name : `${name}#${n}`;
  }

  /** A fatal error: thrown at the body, and the run fails whatever the body does. */
  fail(err: Error): never {
    this.#fatal = err;
    void this.end({ kind: 'error', error: err });
    throw err;
  }

  /** Runs one op as a tracked step whose promise `gather` can recognise. */
  op<T>(
    name: string,
    kind: StepKind,
    work: (seq: number, key: string, stored: StoredStep | undefined) => Promise<T | typeof PARK>,
  ): Promise<T> {
    if (this.#isOver) return NEVER;
    let begun: { seq: number; key: string; stored?: StoredStep };
    try {
      begun = this.begin(name, kind);
    } catch (err) {
      return Promise.reject(err);
    }
    const { seq, key, stored } = begun;
    this.#running++;
    const done = () => {
      this.#running--;
      this.schedule();
    };
    const p = work(seq, key, stored).then(
      (v: T | typeof PARK) => {
        done();
        if (v === PARK || this.#isOver) return NEVER;
        return v;
      },
      (err: unknown) => {
        done();
        if (this.#isOver) return NEVER;
        throw err;
      },
    );
    Object.defineProperty(p, SEQ, { value: seq });
    return p;
  }

  /** A step's stored result; undefined when it still has to run (retrying or waiting). */
  replayed<T>(key: string, s: StoredStep): { value: T } | undefined {
    if (s.status === 'succeeded') return { value: s.output as T };
    if (s.status === 'failed' || s.status === 'cancelled') {
      throw new StepFailedError(key, s.error ?? s.status, s.child ?? undefined);
    }
    return undefined;
  }

  /** A ctx.any returned: its members still waiting are no longer awaited through it. */
  drop(members: Set<number>): void {
    for (const seq of members) if (this.#blocked.has(seq)) this.#dropped.add(seq);
  }

  /** The steps are awaited again (a gather or any takes them). */
  undrop(members: Set<number>): void {
    for (const seq of members) this.#dropped.delete(seq);
  }

  park(seq: number, reason: string): typeof PARK {
    this.#blocked.set(seq, reason);
    return PARK;
  }

  /** A value made once and recorded: now, random, patch markers. */
  recorded<T>(name: string, kind: StepKind, make: () => T): T {
    if (this.#isOver) throw new Error('workflow run is over');
    const { seq, key, stored } = this.begin(name, kind);
    if (stored) return stored.output as T;
    const made = storableJson(make());
    const value = made.value as T;
    const p = this.write({
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

  async stepSucceeded<T>(
    seq: number,
    key: string,
    kind: StepKind,
    attempt: number,
    startedMs: number,
    value: T,
  ): Promise<T | typeof PARK> {
    if (this.#isOver) return PARK;
    const checked = serialise(key, value, this.env.def.maxStepOutputBytes);
    if (checked instanceof Error)
      return this.failFor<T>(seq, key, kind, attempt, startedMs, checked.message);
    const output = checked.value as T;
    const r = await this.put(seq, key, kind, 'succeeded', attempt, output, checked.note, startedMs);
    if (!r.recorded) return this.replayed<T>(key, this.asStored(seq, key, kind, r))?.value as T;
    return output;
  }

  async stepFailed<T>(
    seq: number,
    key: string,
    kind: StepKind,
    attempt: number,
    startedMs: number,
    err: unknown,
    options: StepOptions,
  ): Promise<T | typeof PARK> {
    if (this.#isOver) return PARK;
    if (err instanceof StepFailedError) {
      // A nested ctx operation failed inside a step function: permanent.
      return this.failFor<T>(seq, key, kind, attempt, startedMs, err.message);
    }
    const c = classifyError(err, options.retryUnknownErrors ?? false);
    const message = truncate(c.message);
    if (!isRetryable(c.status)) return this.failFor<T>(seq, key, kind, attempt, startedMs, message);
    const r = await this.write({
      op: 'fail',
      call_id: this.callId,
      seq,
      name: key,
      kind,
      attempts: attempt,
      error: message,
      policy: options.retryPolicy ?? this.env.def.stepRetryPolicy,
      started_ms: startedMs,
    });
    if (r.status === 'retrying') {
      return this.park(seq, `step ${key} retrying at ${r.wake_at?.toISOString()}: ${message}`);
    }
    if (r.status === 'succeeded') return r.output as T;
    throw new StepFailedError(key, r.error ?? message);
  }

  /** Records a permanent failure of the step and throws it at the body. */
  async failFor<T>(
    seq: number,
    key: string,
    kind: StepKind,
    attempt: number,
    startedMs: number,
    message: string,
  ): Promise<T | typeof PARK> {
    const r = await this.put(seq, key, kind, 'failed', attempt, null, message, startedMs);
    if (!r.recorded && r.status === 'succeeded') return r.output as T;
    throw new StepFailedError(key, r.recorded ? message : (r.error ?? message));
  }

  put(
    seq: number,
    key: string,
    kind: StepKind,
    status: 'succeeded' | 'failed',
    attempts: number,
    output: unknown,
    error: string | null,
    startedMs: number,
  ): Promise<OpResult> {
    return this.write({
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

  write(op: StepOp): Promise<OpResult> {
    if (this.versionPending) {
      op.version = this.version;
      this.versionPending = false;
    }
    return this.env.recorder.record(op);
  }

  asStored(seq: number, key: string, kind: StepKind, r: OpResult): StoredStep {
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

  now(): number {
    return Date.now() + this.#clockOffset;
  }

  due(wakeAt: string | null): boolean {
    return wakeAt === null || Date.parse(wakeAt) <= this.now();
  }

  /** After the current turn: if nothing can move and something waits, suspend. */
  schedule(): void {
    if (this.#checkQueued || this.#isOver) return;
    this.#checkQueued = true;
    setImmediate(() => {
      this.#checkQueued = false;
      if (this.#isOver || this.#running > 0 || this.#blocked.size === 0) return;
      let blocked = [...this.#blocked.keys()].filter((s) => !this.#dropped.has(s));
      if (blocked.length === 0) blocked = [...this.#blocked.keys()];
      blocked.sort((a, b) => a - b);
      const needAll = [...this.gathers].some((g) => blocked.every((s) => g.has(s)));
      const needAny = !needAll && [...this.anys].some((g) => blocked.every((s) => g.has(s)));
      const reasons = [...new Set(blocked.map((s) => this.#blocked.get(s)!))];
      const reason =
        reasons.length <= 3
          ? reasons.join('; ')
          : `${reasons.slice(0, 2).join('; ')} and ${reasons.length - 2} more`;
      void this.end({ kind: 'suspended', blocked, needAll, needAny, reason });
    });
  }

  async end(result: RunResult): Promise<void> {
    if (this.#isOver) return;
    this.#isOver = true;
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
