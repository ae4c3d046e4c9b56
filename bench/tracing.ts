/**
 * What the OpenTelemetry hooks cost per call, in one run: the dispatch and
 * attempt hooks (start a span, end it) before @opentelemetry/api is loaded,
 * with it loaded but no tracer provider registered (every span a no-op), and
 * with a provider that records (spans dropped by a no-op processor), each
 * timed over --calls iterations, --rounds times (median).
 *
 *   npm run build && tsc -p bench/tsconfig.json && node bench/dist/bench/tracing.js [--calls N] [--rounds R]
 */
import { parseArgs } from 'node:util';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';

type Tracing = typeof import('../src/core/tracing.js');
// The built library, as in lib.ts: bench/dist/bench/tracing.js is three levels down.
const t = (await import(new URL('../../../dist/core/tracing.js', import.meta.url).href)) as Tracing;

const { values } = parseArgs({
  options: { calls: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '3' } },
});
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);

/** One call's hooks: the dispatch's span and an attempt's, as the library makes them. */
function hooks(i: number): void {
  const d = t.startDispatchSpan('bench', 1);
  d?.end([String(i)]);
  const a = t.startAttemptSpan('bench', String(i), 1, d?.carrier);
  const out = a ? a.run(() => i) : i;
  a?.end('ok', null);
  if (out !== i) throw new Error('unreachable');
}

function nsPerCall(): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) hooks(i);
  return Number(process.hrtime.bigint() - t0) / CALLS;
}

const results: Record<string, number[]> = { 'not loaded': [], 'no provider': [], recording: [] };
// The module keeps its state, so the modes run in this order: not loaded
// (before the first load), loaded without a provider, then recording.
results['not loaded']!.push(nsPerCall());
await t.loadOpenTelemetry();
for (let r = 0; r < ROUNDS; r++) results['no provider']!.push(nsPerCall());
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new NoopSpanProcessor()] }),
);
for (let r = 0; r < ROUNDS; r++) results.recording!.push(nsPerCall());
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [mode, xs] of Object.entries(results)) {
  console.log(`${mode.padEnd(12)} ${median(xs).toFixed(0).padStart(6)} ns per call (dispatch + attempt hooks)`);
}
