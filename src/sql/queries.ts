/**
 * Every statement pgdispatch runs, one named query each, with bound
 * parameters, grouped by the stage of a call that runs it. The schema name
 * is the only thing spliced in (an identifier, validated at startup).
 */
import { dispatchStatements } from './dispatch.js';
import { maintainStatements } from './maintain.js';
import { statements } from './named.js';
import { operateStatements } from './operate.js';
import { queueStatements } from './queue.js';
import { readStatements } from './read.js';
import { recordStatements } from './record.js';
import { workflowStatements } from './workflow.js';
import { scheduleStatements } from './schedule.js';

export type { NamedQuery } from './named.js';

export type Queries = ReturnType<typeof buildQueries>;

export function buildQueries(schema: string, prepared = true) {
  const st = statements(schema, prepared);
  return {
    ...dispatchStatements(st),
    ...queueStatements(st),
    ...recordStatements(st),
    ...maintainStatements(st),
    ...readStatements(st),
    ...operateStatements(st),
    ...workflowStatements(st),
    ...scheduleStatements(st),
  };
}
