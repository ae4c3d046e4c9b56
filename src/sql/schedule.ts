/** Schedules, flow control (concurrency and rate limits, debounce) and why a call waits. */
import type { Statements } from './named.js';

export const scheduleStatements = ({ s, q }: Statements) => ({
  schedulerBegin: q('scheduler_begin', `select round_at, previous from ${s}.scheduler_begin()`),
  schedulesDue: q(
    'schedules_due',
    `select name, cron, timezone, catch_up, next_tick from ${s}.schedules
      where enabled and error is null and (next_tick is null or next_tick <= $1)
      order by next_tick nulls first limit $2
      for update`,
  ),
  schedulesApply: q(
    'schedules_apply',
    `select name, tick, call_id::text, error from ${s}.schedules_apply($1::jsonb)`,
  ),
  schedulesNextTick: q(
    'schedules_next_tick',
    `select (extract(epoch from min(next_tick) - $1::timestamptz) * 1000)::float8 as in_ms
       from ${s}.schedules where enabled and error is null`,
  ),
  dispatchKeyed: q('dispatch_keyed', `select ${s}.dispatch_keyed($1, $2::jsonb, $3::jsonb) as id`),
  dispatchDebounced: q(
    'dispatch_debounced',
    `select ${s}.dispatch_debounced($1, $2::jsonb, $3::jsonb) as id`,
  ),
  flowRelease: q('flow_release', `select ${s}.flow_release($1::bigint[]) as released`),
  flowSweep: q('flow_sweep', `select ${s}.flow_sweep() as started`),
  callWaits: q('call_waits', `select reason, detail from ${s}.call_waits where call_id = $1`),
  endpointConcurrency: q(
    'endpoint_concurrency',
    `select endpoint, concurrency_limit, max_limit, last_change from ${s}.endpoint_concurrency`,
  ),
});
