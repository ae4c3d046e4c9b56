/**
 * The delivery both sides do: POST a JSON body with undici, fail on non-2xx.
 * The baseline task and the pgdispatch user function share it, so the
 * end-to-end comparison measures the queues, not two HTTP clients.
 */
import { request } from 'undici';

export interface PostInput {
  url: string;
  body: unknown;
}

export class HttpStatusError extends Error {
  constructor(readonly status: number) {
    super(`receiver answered ${status}`);
  }
}

export async function post(input: PostInput): Promise<number> {
  const res = await request(input.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(input.body),
  });
  // Drain the body so the keep-alive connection goes back to the pool.
  await res.body.dump();
  if (res.statusCode < 200 || res.statusCode >= 300) throw new HttpStatusError(res.statusCode);
  return res.statusCode;
}

/** A small webhook-like event, about 200 bytes of JSON. */
export function eventBody(seq: number): unknown {
  return {
    type: 'order.created',
    seq,
    data: { order_id: `ord_${seq}`, customer: `cus_${seq % 997}`, amount: 4200, currency: 'EUR' },
    created_at: '2025-01-01T00:00:00.000Z',
  };
}
