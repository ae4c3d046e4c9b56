/** The claim and what gives a claimed job back. */
import type { Statements } from './named.js';

export const queueStatements = ({ s, q }: Statements) => ({
  // The claim (see functions/claim_jobs.sql): ($4, $5) is where the scan
  // starts, (-32768, -infinity) for the start of the queue; jobs of the
  // workflow tasks $6 bring their call's steps.
  claimJobs: q(
    'claim_jobs',
    `select * from ${s}.claim_jobs($1, $2::int[], $3, $4::smallint, $5::timestamptz, $6::int[])`,
  ),
  taskIds: q('task_ids', `select id, identifier from ${s}.task_ids($1::text[])`),
  returnJobs: q('return_jobs', `select ${s}.return_jobs($1::bigint[], $2) as returned`),
  failJob: q('fail_job', `select ${s}.fail_job($1, $2, $3) as failed`),
  releaseJobs: q('release_jobs', `select ${s}.release_jobs($1::jsonb, $2, $3) as released`),
  snoozeJobs: q('snooze_jobs', `select ${s}.snooze_jobs($1::jsonb, $2) as snoozed`),
});
