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

/**
 * An order as a workflow: charge, the order.paid webhook awaited (retried
 * like any), a wait for the warehouse's 'shipped' signal, a short pause,
 * a thank-you. Each step is a row of pgdispatch.steps; while it waits, it
 * holds no worker slot.
 */
dispatch.workflow('order_flow', async (input: { orderId: string; webhookUrl: string }, ctx) => {
  const charge = await ctx.step('charge', () => ({ chargeId: `ch_${input.orderId}`, amount: 1200 }));
  const delivery = await ctx.call(dispatch.webhook, {
    url: input.webhookUrl,
    eventType: 'order.paid',
    body: { orderId: input.orderId, charge },
  });
  const shipped = await ctx.waitFor<{ carrier: string }>('shipped', {
    key: `order:${input.orderId}`,
    timeoutMs: 60_000,
  });
  await ctx.sleep('cool-off', 500);
  const note = await ctx.step('thank-you', () => `thanked the customer of order ${input.orderId}`);
  return { charge, webhookStatus: delivery.httpStatus, carrier: shipped?.carrier ?? null, note };
});

export default dispatch;
