/**
 * The built-in webhook's worker CPU per call against a user function doing
 * a bare undici POST, without a database: both run through the worker's
 * attempt wrapper (context, deadline, log line) at the same concurrency
 * against the bench receiver (its own process), and a recorder that
 * serialises each group of outcomes as the real one does but writes
 * nothing. The sides alternate for `--rounds`; CPU is this process's
 * (`process.cpuUsage`), so the receiver and the rest of the machine stay out.
 *
 *   npm run bench:webhook -- [--calls N] [--rounds R] [--concurrency C]
 */

import { openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { AttemptOutcome, RecordResult } from '../src/record/recorder.js';
import type * as Attempt from '../src/run/attempt.js';
import { POST_FN } from './functions.js';
import { benchInstance } from './instance.js';
import { dist, ROOT } from './lib.js';
import { eventBody } from './post.js';
import { forkChild } from './proc.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '50' },
    // One side only, e.g. to profile it: post or webhook.
    only: { type: 'string', default: '' },
  },
});
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);

const { attemptRunner } = (await import(dist('run/attempt.js'))) as typeof Attempt;
const logDir = join(ROOT, 'bench', 'results');
const logger = pino(
  { name: 'pgdispatch' },
  pino.destination({ dest: openSync(join(logDir, 'webhook-cost.log'), 'w'), sync: false }),
);
const { dispatch } = benchInstance({
  connectionString: 'postgres://127.0.0.1/unused',
  concurrency: CONCURRENCY,
  logger,
});

/** Groups the outcomes of a turn into one JSON text, as the recorder sends them. */
class SerialisingRecorder {
  #queue: Array<{ outcome: AttemptOutcome; resolve: (r: RecordResult) => void }> = [];
  bytes = 0;
  record(outcome: AttemptOutcome): Promise<RecordResult> {
    return new Promise((resolve) => {
      if (this.#queue.push({ outcome, resolve }) === 1) setImmediate(() => this.#flush());
    });
  }
  #flush(): void {
    const batch = this.#queue;
    this.#queue = [];
    this.bytes += JSON.stringify(batch.map((p) => p.outcome)).length;
    for (const { outcome: o, resolve } of batch) {
      resolve({
        call_id: o.call_id,
        attempt: o.attempt,
        call_status: 'succeeded',
        next_attempt_at: null,
        recorded: true,
      });
    }
  }
}

async function side(name: string, url: string, calls: number): Promise<number> {
  const fn = dispatch.functions.get(name);
  if (!fn) throw new Error(`no function ${name}`);
  const recorder = new SerialisingRecorder();
  const attempt = attemptRunner(fn, {
    recorder: recorder as unknown as Attempt.AttemptServices['recorder'],
    logger,
    release: async () => undefined,
    snooze: async () => undefined,
  });
  const shutdown = new AbortController().signal;
  let next = 0;
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < calls) {
        const seq = next++;
        const job = {
          id: String(seq),
          task_id: 1,
          priority: 0,
          run_at: '',
          payload: { id: seq, attempt: 1, input: { url, body: eventBody(seq) } },
        };
        const handled = await attempt(job, shutdown);
        if (!handled) throw new Error(`${name}: attempt ${seq} was given back`);
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / calls;
}

const receiver = forkChild({
  name: 'receiver',
  script: fileURLToPath(new URL('./receiver.js', import.meta.url)),
  logDir,
});
try {
  const { port } = await receiver.waitFor('ready', 30_000);
  const url = `http://127.0.0.1:${port}/hook`;
  const sides = (
    [
      ['user function (bare undici POST)', POST_FN],
      ['built-in webhook (signed)', 'webhook'],
    ] as const
  ).filter(([, name]) => values.only === '' || values.only === (name === POST_FN ? 'post' : name));
  // Warm both paths up (JIT, pools, the sender) before anything counts.
  for (const [, name] of sides) await side(name, url, Math.min(CALLS, 5000));
  const rows: Array<[number, string, number]> = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [label, name] of round % 2 === 1 ? sides : [...sides].reverse()) {
      rows.push([round, label, await side(name, url, CALLS)]);
    }
  }
  console.log(
    `${CALLS} calls per side and round, concurrency ${CONCURRENCY}, worker CPU of this process.`,
  );
  console.log('round  side                               CPU µs/call');
  for (const [round, label, us] of rows) {
    console.log(`${String(round).padStart(5)}  ${label.padEnd(33)}  ${us.toFixed(1).padStart(11)}`);
  }
  const mean = (label: string) => {
    const own = rows.filter((r) => r[1] === label).map((r) => r[2]);
    return own.reduce((a, b) => a + b, 0) / own.length;
  };
  const post = mean('user function (bare undici POST)');
  const hook = mean('built-in webhook (signed)');
  console.log(
    `mean: user function ${post.toFixed(1)}, webhook ${hook.toFixed(1)}, difference ${(hook - post).toFixed(1)} µs/call`,
  );
} finally {
  await receiver.stop();
  await dispatch.close();
}
