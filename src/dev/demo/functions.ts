/**
 * The demo's dispatch instance. The app imports it to dispatch; the worker
 * runs it: `pgdispatch worker --module dist/dev/demo/functions.js`.
 * In your own project the import is `from 'pgdispatch'`.
 */
import { createDispatch } from '../../index.js';

const dispatch = createDispatch({
  // connectionString defaults to process.env.DATABASE_URL.
  webhook: {
    // Signs every webhook sent to a plain url (Standard Webhooks); the receiver verifies it.
    secret: process.env['DEMO_WEBHOOK_SECRET'],
    // The demo's receiver is on this machine: allow loopback, which the SSRF guard refuses by default.
    allow: ['127.0.0.1/32'],
    // Under docker compose the receiver is another container, on a private network.
    allowPrivateNetworks: process.env['DEMO_ALLOW_PRIVATE_NETWORKS'] === '1',
    // `npm start` creates a short policy (1s, 2s, 4s) so the story takes seconds.
    retryPolicy: process.env['DEMO_RETRY_POLICY'] ?? 'webhook',
  },
});

export default dispatch;
