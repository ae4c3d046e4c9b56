/**
 * The pgdispatch side's functions. `bench_post` is what a user would write
 * until the built-in webhook exists: POST with undici, TemporaryError on a
 * non-2xx. `bench_latency` only reports when it started.
 */
import type { Dispatch } from '../src/index.js';
import { now, pgd } from './lib.js';
import { HttpStatusError, type PostInput, post } from './post.js';

export const POST_FN = 'bench_post';
export const LATENCY_FN = 'bench_latency';

export function registerFunctions(dispatch: Dispatch) {
  const postFn = dispatch.func<PostInput, void>(POST_FN, async (input) => {
    try {
      await post(input);
    } catch (err) {
      if (err instanceof HttpStatusError) throw new pgd.TemporaryError(err.message);
      throw err;
    }
  });
  const latencyFn = dispatch.func<{ seq: number }, void>(LATENCY_FN, (input) => {
    process.send?.({ type: 'started', seq: input.seq, at: now() });
  });
  return { postFn, latencyFn };
}
