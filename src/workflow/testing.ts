/**
 * A test helper for applications: runs one workflow call to its end against
 * a real Postgres, in a worker inside the test process, skipping time: when
 * nothing in the call's tree can run now but a timer is set (a sleep, a
 * waitFor's timeout, a retry), the earliest timer fires at once.
 */
import { quoteIdent } from '../core/ident.js';
import { type HasRuntime, runtimeOf } from '../sql/runtime.js';

/** The application's dispatch instance, as the helper uses it. */
export interface WorkflowHost extends HasRuntime {
  worker(options?: {
    concurrency?: number;
    pollIntervalMs?: number;
    retention?: false;
  }): Promise<{ stop(): Promise<void> }>;
}

/** The call row, as `dispatch.getCall` returns it. */
export interface FinishedCall {
  id: string;
  function: string;
  status: string;
  attempts: number;
  output: unknown;
  last_error: string | null;
  finished_at: Date | null;
}

export interface RunWorkflowOptions {
  /** Options of the helper's worker. (Default: concurrency 10, poll every 50 ms, no retention) */
  worker?: { concurrency?: number; pollIntervalMs?: number };
  /** Fire timers at once instead of waiting for them. (Default: true) */
  skipTime?: boolean;
  /** Give up when the tree has had nothing to do, no timer to fire, for this long, in ms. (Default: 2000) */
  idleTimeoutMs?: number;
  /** Give up after this long in all, in ms. (Default: 30000) */
  timeoutMs?: number;
}

export interface WorkflowRunReport {
  callId: string;
  /** The call as it ended. */
  call: FinishedCall;
  /** Its steps, in order. */
  steps: { seq: number; name: string; kind: string; status: string; output: unknown }[];
  /** Timers fired early. */
  skipped: number;
}

/**
 * Runs an already dispatched workflow call (or dispatches `workflow` with
 * `input`) to its end and returns it. Rejects when it stays stuck, waiting
 * for something no timer will bring (a signal nobody sends).
 *
 * @example
 * const { call } = await runWorkflow(dispatch, { workflow: order, input: { orderId: 42 } });
 * expect(call.status).toBe('succeeded');
 */
export async function runWorkflow(
  dispatch: WorkflowHost,
  target:
    | { callId: string }
    | { workflow: { dispatch(input: never): Promise<string> }; input: unknown },
  options: RunWorkflowOptions = {},
): Promise<WorkflowRunReport> {
  const callId =
    'callId' in target
      ? target.callId
      : await (target.workflow as { dispatch(input: unknown): Promise<string> }).dispatch(
          target.input,
        );
  const rt = runtimeOf(dispatch);
  const s = quoteIdent(rt.schema);
  const tree = `with recursive tree as (
      select c.id, c.job_id from ${s}.calls c where c.id = $1
      union all
      select c.id, c.job_id from ${s}.calls c join tree t on c.parent_call_id = t.id)`;
  const skipTime = options.skipTime ?? true;
  const idleTimeoutMs = options.idleTimeoutMs ?? 2_000;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const worker = await dispatch.worker({
    concurrency: 10,
    pollIntervalMs: 50,
    retention: false,
    ...options.worker,
  });
  let skipped = 0;
  let idleSince: number | undefined;
  try {
    for (;;) {
      const { rows: found } = await rt.pool.query<FinishedCall>({
        ...rt.queries.getCall,
        values: [callId],
      });
      const call = found[0];
      if (!call) throw new Error(`call ${callId} not found`);
      if (['succeeded', 'failed', 'cancelled'].includes(call.status)) {
        const { rows } = await rt.pool.query<WorkflowRunReport['steps'][number]>(
          `select seq, name, kind, status, output from ${s}.steps where call_id = $1 order by seq`,
          [callId],
        );
        return { callId, call, steps: rows, skipped };
      }
      if (Date.now() > deadline) throw new Error(`workflow call ${callId} did not finish in time`);
      const { rows } = await rt.pool.query<{ busy: boolean; timers: boolean }>(
        `${tree}
         select exists (select from graphile_worker._private_jobs j join tree t on t.job_id = j.id
                         where j.run_at <= now() or j.locked_at is not null) as busy,
                exists (select from graphile_worker._private_jobs j join tree t on t.job_id = j.id
                         where j.run_at > now()) as timers`,
        [callId],
      );
      const { busy, timers } = rows[0]!;
      if (busy) {
        idleSince = undefined;
      } else if (timers && skipTime) {
        // The earliest timer of the tree, and every step it wakes, fire now.
        const { rows: fired } = await rt.pool.query<{ n: number }>(
          `${tree}, next as (
             select min(j.run_at) as at from graphile_worker._private_jobs j
               join tree t on t.job_id = j.id where j.locked_at is null
           ), woke as (
             update ${s}.steps st set wake_at = now() - interval '1 millisecond'
              where st.call_id in (select id from tree) and st.status in ('waiting', 'retrying')
                and st.wake_at <= (select at from next)
             returning 1
           ), moved as (
             update graphile_worker._private_jobs j set run_at = now()
               from tree t
              where t.job_id = j.id and j.locked_at is null and j.run_at <= (select at from next)
             returning 1
           )
           select (select count(*)::int from moved) as n,
                  pg_notify('jobs:insert', '{"count":1}')`,
          [callId],
        );
        skipped += fired[0]?.n ?? 0;
        idleSince = undefined;
        continue;
      } else {
        idleSince ??= Date.now();
        if (Date.now() - idleSince > idleTimeoutMs) {
          const { rows: waits } = await rt.pool.query<{ call_id: string; name: string }>(
            `${tree} select st.call_id::text, st.name from ${s}.steps st
              where st.call_id in (select id from tree) and st.status = 'waiting'`,
            [callId],
          );
          throw new Error(
            `workflow call ${callId} is stuck (${call.status}): waiting for ${
              waits.map((w) => `step ${w.name} of call ${w.call_id}`).join(', ') || 'nothing'
            } with no timer to fire`,
          );
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await worker.stop();
  }
}
