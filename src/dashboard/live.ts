/**
 * The live tail: server-sent events of attempts in id order. Each open page
 * reads `attempts where id > $cursor` (an index range scan) when the shared
 * LISTEN connection says attempts were recorded (notifications.ts, at most
 * a few times a second), and polls when it cannot: every `pollMs` while
 * notifications are not proven to arrive here (a pooler, LISTEN turned
 * off, a lost connection) or none came for QUIET_MS (workers that do not
 * send them), and every SAFETY_MS otherwise, in case one is lost.
 * Ids are taken at insert but seen at commit, so a smaller id can appear
 * after a larger one: the cursor (the SSE event id a browser resumes from)
 * only moves past an id once it has been seen or has stayed missing for
 * HOLE_WAIT_MS (a rolled-back insert leaves a hole for good).
 */
import { redactUrlsIn } from '../core/redact.js';
import type { DashboardDb } from './db.js';
import type { AttemptNotifications } from './notifications.js';
import type { DashboardQueries } from '../observe/dashboard-statements.js';

/** While waiting for a hole to fill, the stream looks this often. */
const HOLE_POLL_MS = 500;
const HOLE_WAIT_MS = 3000;
/** Notifications arrive and arrived lately: a poll this often only catches a lost one. */
const SAFETY_MS = 5000;
/** No notification for this long: the stream polls every `pollMs`. */
const QUIET_MS = 60_000;
const KEEPALIVE_MS = 15_000;
const BATCH = 500;
/** On a first connection, this many recent attempts give the page context. */
const BACKLOG = 20;

export interface LiveOptions {
  db: DashboardDb;
  q: DashboardQueries;
  /** Where to resume: the Last-Event-ID header or `?after=`; undefined for recent ones. */
  after: string | undefined;
  /** The stream ends after this long; the browser reconnects and resumes. */
  maxMs: number;
  /** The shared LISTEN connection; undefined polls only. */
  notifications: AttemptNotifications | undefined;
  /** The poll's interval without notifications, in ms. */
  pollMs: number;
  onError: (err: unknown) => void;
}

export function liveStream(o: LiveOptions): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let cursor = 0n;
  const seen = new Set<bigint>();
  let holeSince: number | undefined;
  let lastWrite = Date.now();
  const started = Date.now();
  let reading = false;
  let wokenWhileReading = false;
  let unsubscribe: (() => void) | undefined;
  let read: () => void = () => {};

  const end = () => {
    closed = true;
    clearTimeout(timer);
    unsubscribe?.();
    unsubscribe = undefined;
  };

  /** How long until the next look if no notification comes first. */
  const fallbackMs = () => {
    const n = o.notifications;
    const ms =
      holeSince !== undefined
        ? HOLE_POLL_MS
        : n?.listening && Date.now() - n.heardAt < QUIET_MS
          ? SAFETY_MS
          : o.pollMs;
    // The last look is when the stream ends.
    return Math.max(0, Math.min(ms, started + o.maxMs - Date.now()));
  };

  return new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (s: string) => {
        if (closed) return;
        lastWrite = Date.now();
        controller.enqueue(enc.encode(s));
      };
      const finish = () => {
        if (closed) return;
        end();
        controller.close();
      };
      try {
        if (o.after !== undefined && /^\d{1,19}$/.test(o.after)) cursor = BigInt(o.after);
        else {
          const [row] = await o.db.read((run) => run<{ id: string }>(o.q.lastAttemptId()));
          const last = BigInt(row?.id ?? '0');
          cursor = last > BigInt(BACKLOG) ? last - BigInt(BACKLOG) : 0n;
        }
      } catch (err) {
        o.onError(err);
        send('retry: 2000\n\n');
        finish();
        return;
      }
      send(`retry: 1000\nid: ${cursor}\nevent: ready\ndata: {}\n\n`);
      const poll = async () => {
        if (closed) return;
        reading = true;
        wokenWhileReading = false;
        let full = false;
        try {
          const rows = await o.db.read((run) =>
            run<Record<string, unknown> & { id: string }>(o.q.tail(String(cursor), BATCH)),
          );
          full = rows.length === BATCH;
          for (const r of rows) {
            const id = BigInt(r.id);
            if (seen.has(id)) continue;
            seen.add(id);
            if (typeof r['error'] === 'string') r['error'] = redactUrlsIn(r['error']);
            send(`event: attempt\ndata: ${JSON.stringify(r)}\n\n`);
          }
          const before = cursor;
          advance();
          if (cursor !== before) send(`id: ${cursor}\nevent: cursor\ndata: {}\n\n`);
          if (Date.now() - lastWrite > KEEPALIVE_MS) send(': keep-alive\n\n');
        } catch (err) {
          o.onError(err);
        }
        reading = false;
        if (Date.now() - started >= o.maxMs) finish();
        else if (!closed) {
          clearTimeout(timer);
          timer = setTimeout(poll, full || wokenWhileReading ? 0 : fallbackMs());
        }
      };
      read = () => {
        if (closed) return;
        if (reading) {
          wokenWhileReading = true;
          return;
        }
        clearTimeout(timer);
        timer = setTimeout(poll, 0);
      };
      unsubscribe = o.notifications?.subscribe(read);
      read();
    },
    cancel() {
      end();
    },
  });

  function advance() {
    for (;;) {
      while (seen.has(cursor + 1n)) {
        seen.delete(cursor + 1n);
        cursor += 1n;
      }
      if (seen.size === 0) {
        holeSince = undefined;
        return;
      }
      holeSince ??= Date.now();
      if (Date.now() - holeSince < HOLE_WAIT_MS) return;
      // The hole outlived any transaction that could fill it: step over it.
      let min: bigint | undefined;
      for (const id of seen) if (min === undefined || id < min) min = id;
      cursor = min! - 1n;
      holeSince = undefined;
    }
  }
}
