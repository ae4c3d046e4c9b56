import { redactForDisplay, redactUrlsIn } from '../../core/redact.js';
import { callTimeline, callWait, type TimelineRow } from '../../observe/read-model.js';
import { loadStepTree, renderStepTree, type StepNode } from '../../observe/steps.js';
import { runtimeOf } from '../../sql/runtime.js';
import { CliError, type Command, CONNECTION_USAGE, parseCommandArgs } from '../common.js';
import { printJson } from '../json.js';
import { callIdArg, noExtraArgs, withDispatch } from '../options.js';
import { formatAge, formatMs, formatTime, printTable } from '../output.js';

const usage = `Usage: pgdispatch show <call-id> [options]

Prints a call and its timeline: dispatch, each attempt (status, HTTP status,
duration, error), cancels, retries, lost workers, and the next attempt. For a
workflow, its steps and child calls as a tree.

Options:
  --json               the call and its timeline as JSON
${CONNECTION_USAGE}`;

export const showCommand: Command = {
  name: 'show',
  summary: 'show one call and its timeline',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, usage, { json: { type: 'boolean' } });
    noExtraArgs(positionals, 1, usage);
    const id = callIdArg(positionals[0], usage);
    const shown = await withDispatch(values, async (d) => {
      const call = await d.getCall(id);
      const rt = runtimeOf(d);
      return {
        call,
        timeline: await callTimeline(rt, id),
        steps: await loadStepTree(rt, id),
        waiting: await callWait(rt, id),
      };
    });
    const { call, timeline } = redacted(shown);
    const steps = redactSteps(shown.steps);
    const waiting = shown.waiting;
    if (!call) throw new CliError(`call ${id} not found`, 1, 'CALL_NOT_FOUND');
    if (values.json) {
      const out = { call, timeline, waiting: waiting ?? null };
      printJson(steps.length > 0 ? { ...out, steps } : out);
      return 0;
    }
    const field = (k: string, v: string) => console.log(`  ${k.padEnd(13)} ${v}`);
    console.log(`call ${call.id}: ${call.function}, ${call.status}`);
    field('created', formatTime(call.created_at));
    field(
      'attempts',
      `${call.attempts} (policy ${call.retry_policy}${call.max_attempts ? `, max ${call.max_attempts}` : ''})`,
    );
    field(
      'next attempt',
      call.next_attempt_at
        ? `${formatTime(call.next_attempt_at)} (${formatAge(call.next_attempt_at)})`
        : '-',
    );
    field('finished', formatTime(call.finished_at));
    if (waiting) field('waiting', waiting.detail);
    if (call.idempotency_key) field('idempotency', call.idempotency_key);
    if (call.last_error) field('last error', call.last_error);
    field('input', clip(JSON.stringify(call.input)));
    if (call.output !== null && call.output !== undefined)
      field('output', clip(JSON.stringify(call.output)));
    console.log('');
    printTable(
      ['AT', 'EVENT', 'STATUS', 'ATTEMPT', 'HTTP', 'DURATION', 'DETAIL'],
      timeline.map((t) => [
        formatTime(t.at),
        t.event,
        t.status ?? '',
        t.attempt === null ? '' : String(t.attempt),
        t.http_status === null ? '' : String(t.http_status),
        t.duration_ms === null ? '' : formatMs(t.duration_ms),
        t.detail ?? '',
      ]),
      100,
    );
    if (call.next_attempt_at && !call.finished_at) {
      console.log(
        `${formatTime(call.next_attempt_at)}  next attempt (${call.attempts + 1}) ${formatAge(call.next_attempt_at)}`,
      );
    }
    if (steps.length > 0) {
      console.log(`\nsteps of call ${call.id}`);
      for (const line of renderStepTree(steps)) console.log(line);
    }
    return 0;
  },
};

/** What `show` prints: no secret from an input (a URL's password, an authorization header), output or error. */
function redacted<C extends { input: unknown; output: unknown; last_error: string | null }>(shown: {
  call: C | undefined;
  timeline: TimelineRow[];
}): { call: C | undefined; timeline: TimelineRow[] } {
  const { call, timeline } = shown;
  return {
    call: call && {
      ...call,
      input: redactForDisplay(call.input),
      output: redactForDisplay(call.output),
      last_error: call.last_error === null ? null : redactUrlsIn(call.last_error),
    },
    timeline: timeline.map((t) => ({
      ...t,
      detail: t.detail === null ? null : redactUrlsIn(t.detail),
    })),
  };
}

function clip(s: string | undefined, max = 200): string {
  if (s === undefined) return '-';
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Step outputs and errors as show prints everything else: secrets redacted. */
function redactSteps(nodes: StepNode[]): StepNode[] {
  return nodes.map((n) => ({
    ...n,
    output: redactForDisplay(n.output),
    error: n.error === null ? null : redactUrlsIn(n.error),
    ...(n.child ? { child: { ...n.child, steps: redactSteps(n.child.steps) } } : {}),
  }));
}
