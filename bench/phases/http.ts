/**
 * The HTTP bound: the receiver driven by a bare undici loop in its own
 * process, same concurrency as one worker, no database. No queue can
 * deliver faster than this on this machine.
 */
import { fileURLToPath } from 'node:url';
import { type Ctx, receiverStats } from '../context.js';
import { forkChild } from '../proc.js';

export interface HttpResult {
  requests: number;
  concurrency: number;
  ms: number;
  requestsPerSec: number;
  errors: number;
}

export async function runHttpBound(ctx: Ctx): Promise<HttpResult> {
  const { calls, concurrency } = ctx.config;
  ctx.progress.start(`HTTP bound: bare undici loop, concurrency ${concurrency}`);
  await receiverStats(ctx, true);
  const loop = forkChild({
    name: 'http-loop',
    script: fileURLToPath(new URL('../http-loop.js', import.meta.url)),
    env: { TARGET_URL: ctx.receiverUrl, REQUESTS: String(calls), CONCURRENCY: String(concurrency) },
    logDir: ctx.logDir,
  });
  try {
    const done = loop.waitFor('done', 600_000);
    const timer = setInterval(() => {
      receiverStats(ctx).then(
        (s) => ctx.progress.update(s.count, calls, 'requests'),
        () => undefined,
      );
    }, 200);
    const msg = await done.finally(() => clearInterval(timer));
    const stats = await receiverStats(ctx);
    // The receiver's clock, first to last request, like the end-to-end runs.
    const ms = stats.first !== null && stats.last !== null ? stats.last - stats.first : msg.ms;
    const result: HttpResult = {
      requests: msg.requests,
      concurrency,
      ms,
      requestsPerSec: msg.requests / (ms / 1000),
      errors: msg.errors,
    };
    ctx.progress.finish(`${Math.round(result.requestsPerSec).toLocaleString('en-US')} requests/s`);
    return result;
  } finally {
    await loop.stop();
  }
}
