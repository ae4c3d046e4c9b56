/** Recording finished attempts. */
import type { Statements } from './named.js';

export const recordStatements = ({ s, q }: Statements) => ({
  // Only the unusual outcomes come back (see functions/record_outcomes.sql).
  recordOutcomes: q('record_outcomes', `select * from ${s}.record_outcomes($1, $2::jsonb)`),
});
