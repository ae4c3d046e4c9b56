/** Recording finished attempts. */
import type { Statements } from './named.js';

export const recordStatements = ({ s, q }: Statements) => ({
  // Only the unusual outcomes come back (see functions/record_outcomes.sql).
  recordOutcomes: q('record_outcomes', `select * from ${s}.record_outcomes($1, $2::jsonb)`),
  // The same, telling the dashboard's live tail (functions/record_outcomes_notify.sql).
  recordOutcomesNotify: q(
    'record_outcomes_notify',
    `select * from ${s}.record_outcomes_notify($1, $2::jsonb)`,
  ),
  // For a worker that runs workflows: the woken parents come back claimed
  // (functions/record_outcomes_take.sql).
  recordOutcomesTake: q(
    'record_outcomes_take',
    `select * from ${s}.record_outcomes_take($1, $2::jsonb, $3, $4::integer[])`,
  ),
  notifyAttempts: q('notify_attempts', `select ${s}.notify_attempts()`),
});
