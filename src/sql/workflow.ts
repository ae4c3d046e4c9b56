/** What workflows run: their steps' group commits, signals, their state and the step tree. */
import type { Statements } from './named.js';

export const workflowStatements = ({ s, q }: Statements) => ({
  recordWorkflow: q('record_workflow', `select * from ${s}.record_workflow($1, $2::jsonb)`),
  // The same, telling the dashboard's live tail (functions/record_workflow_notify.sql).
  recordWorkflowNotify: q(
    'record_workflow_notify',
    `select * from ${s}.record_workflow_notify($1, $2::jsonb)`,
  ),
  signal: q('signal', `select ${s}.signal($1, $2::jsonb)::text as id`),
  // For a run whose claim did not bring its steps.
  workflowState: q('workflow_state', `select ${s}.workflow_state($1) as state`),
  recordTxStep: q(
    'record_tx_step',
    `insert into ${s}.steps as t (call_id, seq, name, kind, status, attempts, output, error,
                                 started_at, finished_at)
     values ($1, $2, $3, 'tx', 'succeeded', $4, $5::jsonb, $7, to_timestamp($6 / 1000.0), now())
     on conflict (call_id, seq) do update
       set status = excluded.status, attempts = excluded.attempts, output = excluded.output,
           error = excluded.error, finished_at = excluded.finished_at, wake_at = null
       where t.status = 'retrying'
     returning 1 as inserted`,
  ),
  setVersion: q(
    'set_workflow_version',
    `update ${s}.calls set workflow_version = $2 where id = $1 and workflow_version is null`,
  ),
  steps: q(
    'steps',
    `select call_id::text, seq, name, kind, status, attempts, output, error, started_at,
            finished_at, child_call_id::text, wake_at, signal_key
       from ${s}.steps where call_id = $1 order by seq`,
  ),
  children: q(
    'children',
    `select id::text, function, status, parent_call_id::text
       from ${s}.calls where parent_call_id = any($1::bigint[]) order by id`,
  ),
});
