/**
 * The HTTP bound: the same POSTs to the same receiver from a bare undici
 * loop with the workers' concurrency and no database.
 */
import { now } from './lib.js';
import { eventBody, post } from './post.js';

const url = process.env['TARGET_URL']!;
const total = Number(process.env['REQUESTS']);
const concurrency = Number(process.env['CONCURRENCY'] ?? 50);

let next = 0;
let errors = 0;
const t0 = now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const seq = next++;
      try {
        await post({ url, body: eventBody(seq) });
      } catch {
        errors++;
      }
    }
  }),
);
process.send?.({ type: 'done', requests: total, errors, ms: now() - t0 });
process.disconnect?.();
