/**
 * Deterministic dashboard data, made by generate_series so the same SQL
 * seeds 300 calls for the browser tests and 200,000 for the plan checks:
 * three functions, four endpoints (healthy, failing for 2 days, disabled,
 * healthy), calls in every status spread over time, their attempts and
 * events, a live and a lost worker.
 */
import type pg from 'pg';

export const FUNCTIONS = ['webhook', 'send_email', 'resize_image'] as const;
export const ENDPOINTS = ['orders', 'billing', 'legacy', 'crm'] as const;

export async function seed(pool: pg.Pool, n: number, spacingS = 60): Promise<void> {
  await pool.query(`
    insert into pgdispatch.functions (name, retry_policy) values
      ('webhook', 'webhook'), ('send_email', 'default'), ('resize_image', 'default')
    on conflict do nothing;
    insert into pgdispatch.endpoints (name, url, secrets, headers, failing_since, last_success_at,
                                      last_failure_at, enabled, disabled_at, disabled_reason) values
      ('orders', 'https://orders.example.com/hooks', '{whsec_b3JkZXJz}', '{"x-tenant": "acme"}',
       null, now() - interval '1 minute', now() - interval '3 hours', true, null, null),
      ('billing', 'https://billing.example.com/webhook', '{whsec_YmlsbGluZw}',
       '{"authorization": "Bearer sk_live_abc123"}',
       now() - interval '2 days', now() - interval '2 days', now() - interval '5 minutes', true, null, null),
      ('legacy', 'https://legacy.example.net/in', '{whsec_bGVnYWN5}', '{}',
       now() - interval '6 days', now() - interval '6 days', now() - interval '1 day', false,
       now() - interval '1 day', 'failing continuously since 6 days ago (disable_after 5 days)'),
      ('crm', 'https://crm.example.org/events', '{whsec_Y3Jt,whsec_b2xk}', '{}',
       null, now() - interval '10 minutes', null, true, null, null);
    insert into pgdispatch.workers (id, host, pid, concurrency, functions, version, started_at, heartbeat_at)
    values ('worker-live', 'app-1', 4242, 50, '{webhook,send_email,resize_image}', '0.1.0',
            now() - interval '2 hours', now() - interval '2 seconds'),
           ('worker-lost', 'app-2', 4343, 20, '{webhook}', '0.1.0',
            now() - interval '3 hours', now() - interval '10 minutes');`);
  await pool.query(
    `insert into pgdispatch.calls (function, input, status, attempts, retry_policy, created_at,
                                   next_attempt_at, finished_at, last_error, output)
     select f.fn,
            case when f.fn = 'webhook'
                 then jsonb_build_object('endpoint', (array['orders','billing','legacy','crm'])[1 + (i / 4) % 4],
                                         'body', jsonb_build_object('order', i, 'kind', (array['created','paid','shipped'])[1 + i % 3]))
                 else jsonb_build_object('user', i % 50, 'n', i) end,
            s.status, s.attempts, case when f.fn = 'webhook' then 'webhook' else 'default' end,
            t.at,
            case when s.status in ('pending', 'retrying') then now() + interval '5 minutes' end,
            case when s.status in ('succeeded', 'failed', 'cancelled') then t.at + interval '3 seconds' end,
            case when s.status = 'failed' then 'HTTP 500: Internal Server Error' end,
            case when s.status = 'succeeded' then '{"ok": true}'::jsonb end
       from generate_series(1, $1::integer) i
      cross join lateral (select (array['webhook','webhook','send_email','resize_image'])[1 + i % 4] as fn) f
      cross join lateral (select now() - make_interval(secs => ($1::integer - i) * $2::float8) - interval '10 seconds' as at) t
      cross join lateral (select x.status, x.attempts from (values
          (0, 'succeeded', 1 + (i % 3 = 0)::integer), (1, 'succeeded', 1), (2, 'succeeded', 1),
          (3, 'succeeded', 1), (4, 'succeeded', 2), (5, 'succeeded', 1), (6, 'failed', 3),
          (7, 'retrying', 1), (8, 'pending', 0), (9, 'cancelled', 1)) x(k, status, attempts)
         where x.k = i % 10) s`,
    [n, spacingS],
  );
  await pool.query(`
    insert into pgdispatch.attempts (call_id, attempt, started_at, finished_at, duration_ms, status,
                                     http_status, error, response, worker)
    select c.id, a,
           c.created_at + make_interval(secs => a) - make_interval(secs => d.ms / 1000.0),
           c.created_at + make_interval(secs => a),
           d.ms,
           case when ok then 'ok' else 'temporary_error' end,
           case when c.function = 'webhook' then case when ok then 200 else 500 end end,
           case when not ok then 'HTTP 500: Internal Server Error' end,
           case when c.function = 'webhook' then jsonb_build_object(
             'status', case when ok then 200 else 500 end,
             'headers', jsonb_build_object('content-type', 'application/json'),
             'body', case when ok then '{"received":true}' else '{"error":"database is down"}' end,
             'truncated', false) end,
           'worker-live'
      from pgdispatch.calls c
     cross join lateral generate_series(1, c.attempts) a
     cross join lateral (select (c.status = 'succeeded' and a = c.attempts) as ok,
                                (20 + (c.id * 7 + a * 13) % 400)::float8 as ms) d;
    insert into pgdispatch.call_events (call_id, at, event, status, attempt, reason, actor)
    select c.id, c.finished_at, 'cancelled', 'cancelled', c.attempts, 'order refunded', 'seed'
      from pgdispatch.calls c where c.status = 'cancelled';
    insert into pgdispatch.call_events (call_id, at, event, status, attempt, reason, actor)
    select c.id, c.created_at + interval '2 seconds', 'worker_lost', null, 2,
           'worker worker-gone missed its heartbeats while holding the attempt', 'worker-live'
      from pgdispatch.calls c
     -- Every 7th call counted from the first, whatever day its id encodes.
     where c.status = 'failed' and (c.id - (select min(f.id) from pgdispatch.calls f)) % 7 = 0;
    analyze pgdispatch.calls;
    analyze pgdispatch.attempts;
    analyze pgdispatch.call_events;`);
}

/** Brings the stats rollup up to the last attempt, as a worker's rollup service would. */
export async function rollUp(pool: pg.Pool): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await pool.query('select pgdispatch.rollup_attempts(1000000)');
    const { rows } = await pool.query(
      `select rs.last_id = (select coalesce(max(a.id), 0) from pgdispatch.attempts a) as done
         from pgdispatch.rollup_state rs where rs.name = 'attempts'`,
    );
    if (rows[0].done) return;
  }
  throw new Error('the stats rollup did not catch up');
}
