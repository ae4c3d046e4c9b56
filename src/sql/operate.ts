/** Operators' changes: retries and cancels in bulk, retry policy edits. */
import { CALL_FILTER, type Statements } from './named.js';

export const operateStatements = ({ s, q }: Statements) => ({
  retryOne: q('retry_one', `select ${s}.retry_call($1, $2, coalesce($3, 'manual retry')) as done`),
  // A call of a day that retention is dropping (partition_days.retiring_at)
  // is passed over, not retried: retry_call would refuse it (PD005) and
  // fail the whole batch.
  retryBatch: q(
    'retry_batch',
    `select b.id::text, case when b.retiring then false else ${s}.retry_call(b.id, $6, $7) end as done
       from (select c.id,
                    exists (select from ${s}.partition_days p
                             where p.day = (c.id >> 33)::integer and p.retiring_at is not null)
                      as retiring
               from ${s}.calls c
              where ${CALL_FILTER} and c.id > $4::bigint and c.id <= $8::bigint
              order by c.id limit $5) b
      order by b.id`,
  ),
  cancelBatch: q(
    'cancel_batch',
    `select b.id::text, ${s}.cancel_call(b.id, $7, $6) as done
       from (select c.id from ${s}.calls c
              where ${CALL_FILTER} and c.id > $4::bigint and c.id <= $8::bigint
              order by c.id limit $5) b
      order by b.id`,
  ),
  // Changes a policy's limits and keeps its schedule.
  updatePolicy: q(
    'update_policy',
    `update ${s}.retry_policies p set
       jitter = coalesce($2::float8, p.jitter),
       max_attempts = coalesce($3::integer, p.max_attempts),
       max_age = case when $5::boolean then make_interval(secs => $4::float8) else p.max_age end,
       description = coalesce($6, p.description),
       updated_at = now()
     where p.name = $1
     returning p.name`,
  ),
  setPolicy: q(
    'set_policy',
    `insert into ${s}.retry_policies as p
       (name, delays, base, factor, cap, jitter, max_attempts, max_age, description)
     values ($1,
             case when $2::float8[] is null then null
                  else array(select make_interval(secs => d) from unnest($2::float8[]) d) end,
             make_interval(secs => $3::float8), $4::float8, make_interval(secs => $5::float8),
             coalesce($6::float8, 0), coalesce($7::integer, 25),
             make_interval(secs => $8::float8), $9)
     on conflict (name) do update set
       delays = excluded.delays, base = excluded.base, factor = excluded.factor,
       cap = excluded.cap,
       jitter = coalesce($6::float8, p.jitter),
       max_attempts = coalesce($7::integer, p.max_attempts),
       max_age = case when $10::boolean then excluded.max_age else p.max_age end,
       description = coalesce($9, p.description),
       updated_at = now()
     returning p.name`,
  ),
});
