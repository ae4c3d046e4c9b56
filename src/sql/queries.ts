/**
 * Every statement pgdispatch runs, one named query each, with bound
 * parameters. The schema name is the only thing spliced in (it is an
 * identifier, validated at startup), and it is part of the prepared
 * statement's name so two schemas never share a plan.
 */
import { quoteIdent } from '../schema/ident.js';

export interface NamedQuery {
  name: string;
  text: string;
}

export type Queries = ReturnType<typeof buildQueries>;

export function buildQueries(schema: string) {
  const s = quoteIdent(schema);
  const q = (name: string, text: string): NamedQuery => ({ name: `pgd_${name}/${schema}`, text });
  return {
    dispatch: q('dispatch', `select ${s}.dispatch($1, $2::jsonb, $3::jsonb) as id`),
    dispatchMany: q('dispatch_many', `select ${s}.dispatch_many($1, $2::jsonb, $3::jsonb) as id`),
    // Only the unusual outcomes come back (see migrations/0007_record_outcomes.sql).
    recordOutcomes: q('record_outcomes', `select * from ${s}.record_outcomes($1, $2::jsonb)`),
    // The worker's claim (see migrations/0005_claim.sql): ($4, $5) is where
    // the scan starts, (-32768, -infinity) for the start of the queue.
    claimJobs: q(
      'claim_jobs',
      `select * from ${s}.claim_jobs($1, $2::int[], $3, $4::smallint, $5::timestamptz)`,
    ),
    taskIds: q('task_ids', `select id, identifier from ${s}.task_ids($1::text[])`),
    returnJobs: q('return_jobs', `select ${s}.return_jobs($1::bigint[], $2) as returned`),
    failJob: q('fail_job', `select ${s}.fail_job($1, $2, $3) as failed`),
    unlockOrphanedJobs: q(
      'unlock_orphaned_jobs',
      `select ${s}.unlock_orphaned_jobs($1, $2::bigint[], make_interval(secs => $3 / 1000.0)) as unlocked`,
    ),
    releaseJobs: q('release_jobs', `select ${s}.release_jobs($1::jsonb, $2, $3) as released`),
    snoozeJobs: q('snooze_jobs', `select ${s}.snooze_jobs($1::jsonb, $2) as snoozed`),
    registerFunctions: q('register_functions', `select ${s}.register_functions($1::jsonb, $2)`),
    cancelCall: q('cancel_call', `select ${s}.cancel_call($1, $2, $3) as cancelled`),
    retryCall: q('retry_call', `select ${s}.retry_call($1, $2) as retried`),
    getCall: q(
      'get_call',
      `select id::text, function, input, status, attempts, retry_policy, max_attempts, priority,
              idempotency_key, created_at, next_attempt_at, finished_at, last_error, output
         from ${s}.calls where id = $1`,
    ),
    getAttempts: q(
      'get_attempts',
      `select call_id::text, attempt, started_at, finished_at, duration_ms, status, http_status,
              error, response, worker
         from ${s}.attempts where call_id = $1 order by attempt`,
    ),
    getHistory: q(
      'get_history',
      `select call_id::text, at, event, status, attempt, http_status, duration_ms, detail
         from ${s}.call_history where call_id = $1 order by at, attempt nulls first`,
    ),
  };
}
