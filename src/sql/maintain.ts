/** Heartbeats, rescue, retention, partitions, orphaned jobs and the stats rollup. */
import { quoteIdent } from '../core/ident.js';
import type { Statements } from './named.js';

export const maintainStatements = ({ s, q }: Statements) => ({
  heartbeat: q(
    'worker_heartbeat',
    `select ${s}.worker_heartbeat($1, $2, $3, $4, $5::text[], $6) as existed`,
  ),
  unregister: q('worker_unregister', `select ${s}.worker_unregister($1)`),
  rescue: q(
    'rescue_lost_workers',
    `select worker_id, host, pid, heartbeat_at, jobs
       from ${s}.rescue_lost_workers(make_interval(secs => $1::float8), $2)`,
  ),
  rollupAttempts: q('rollup_attempts', `select ${s}.rollup_attempts($1) as added`),
  prune: q(
    'prune',
    `select ${s}.prune(make_interval(secs => $1::float8), $2, $3::boolean) as deleted`,
  ),
  partitionsCreate: q('partitions_create', `select ${s}.partitions_create($1) as created`),
  partitionRetire: q(
    'partition_retire',
    `select ${s}.partition_retire(make_interval(secs => $1::float8), $2) as day`,
  ),
  partitionAttached: q(
    'partition_attached',
    `select parent, part, pending from ${s}.partition_attached($1)`,
  ),
  partitionRetiredDrop: q(
    'partition_retired_drop',
    `select ${s}.partition_retired_drop($1)`,
  ),
  /**
   * Detaches a partition without a lock that stops dispatch or recording
   * (`finalize` ends a detach that was begun). DDL takes no parameters: the
   * names come from `partition_attached`, quoted.
   */
  partitionDetach: (parent: string, part: string, pending: boolean) => ({
    text: `alter table ${s}.${quoteIdent(parent)} detach partition ${s}.${quoteIdent(part)} ${
      pending ? 'finalize' : 'concurrently'
    }`,
  }),
  /**
   * Cancels a detach (by its statement text, $1) that has run for at least
   * $2 ms, from another connection.
   */
  partitionDetachCancel: q(
    'partition_detach_cancel',
    `select pg_cancel_backend(a.pid) as cancelled from pg_stat_activity a
      where a.datname = current_database() and a.pid <> pg_backend_pid()
        and a.state = 'active' and a.query = $1
        and a.query_start <= now() - make_interval(secs => $2::float8 / 1000)`,
  ),
  partitionHealth: q(
    'partition_health',
    `select today, newest, days_ahead, missing, oldest, days from ${s}.partition_health()`,
  ),
  pruneSignals: q(
    'prune_signals',
    `select ${s}.prune_signals(make_interval(secs => $1::float8), $2) as deleted`,
  ),
  unlockOrphanedJobs: q(
    'unlock_orphaned_jobs',
    `select ${s}.unlock_orphaned_jobs($1, $2::bigint[], make_interval(secs => $3 / 1000.0)) as unlocked`,
  ),
});
