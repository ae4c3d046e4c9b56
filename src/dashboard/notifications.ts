/**
 * The dashboard's one LISTEN connection, shared by every open live tail.
 * Workers notify `<schema>:attempts` at most a few times a second each;
 * this wakes the streams at most once per WAKE_MS, and each stream then
 * reads the attempts past its own cursor. The connection is opened with the
 * first stream and closed a while after the last.
 *
 * LISTEN can seem to work and never deliver (a pooler in transaction mode
 * runs it on a server connection that goes back to the pool), so the
 * connection proves itself first: a probe notification sent through the
 * pool must come back on it. Until it has, and whenever it is lost, the
 * streams poll.
 */
import type pg from 'pg';
import { reconnectDelayMs } from '../core/backoff.js';
import { quoteIdent } from '../core/ident.js';

/** Least time between two wakes of the streams. */
const WAKE_MS = 250;
/** How long the probe may take before LISTEN is taken not to work here. */
const PROBE_MS = 2000;
/** After a failed probe, the next try. */
const REPROBE_MS = 60_000;
/** The connection stays this long after the last stream closed. */
const IDLE_CLOSE_MS = 30_000;

export interface AttemptNotifications {
  /** Calls `wake` after attempts were recorded; returns the unsubscribe. */
  subscribe(wake: () => void): () => void;
  /** True while the connection is proven to deliver notifications. */
  readonly listening: boolean;
  /** When the last notification came (Date.now()), 0 before the first; probes do not count. */
  readonly heardAt: number;
  close(): Promise<void>;
}

export function attemptNotifications(
  pool: pg.Pool,
  channel: string,
  onError: (err: unknown) => void,
): AttemptNotifications {
  const subscribers = new Set<() => void>();
  let client: pg.PoolClient | undefined;
  let connecting: Promise<void> | undefined;
  let listening = false;
  let heardAt = 0;
  let closed = false;
  let lastWake = 0;
  let wakeTimer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let attempt = 0;
  let probe: { token: string; resolve: () => void } | undefined;

  const wakeAll = () => {
    wakeTimer = undefined;
    lastWake = Date.now();
    for (const w of subscribers) w();
  };
  const onNotification = (msg: pg.Notification) => {
    if (msg.channel !== channel) return;
    if (probe && msg.payload === probe.token) {
      probe.resolve();
      return;
    }
    heardAt = Date.now();
    if (wakeTimer) return;
    const wait = WAKE_MS - (Date.now() - lastWake);
    if (wait <= 0) wakeAll();
    else wakeTimer = setTimeout(wakeAll, wait);
  };

  async function connect(): Promise<void> {
    const c = await pool.connect();
    const onLost = (err: Error) => {
      c.off('notification', onNotification);
      if (client !== c) return;
      client = undefined;
      listening = false;
      c.release(err);
      if (!closed) onError(err);
      retry();
    };
    c.on('error', onLost);
    c.on('notification', onNotification);
    try {
      await c.query(`listen ${quoteIdent(channel)}`);
      client = c;
      // The probe goes through another connection of the pool.
      const token = `probe-${process.pid}-${Date.now()}-${Math.random()}`;
      const arrived = new Promise<boolean>((resolve) => {
        probe = { token, resolve: () => resolve(true) };
        setTimeout(() => resolve(false), PROBE_MS).unref();
      });
      await pool.query('select pg_notify($1, $2)', [channel, token]);
      listening = await arrived;
      probe = undefined;
      attempt = 0;
      if (!listening) scheduleRetry(REPROBE_MS);
      // Whatever was recorded while connecting: the streams look once.
      else wakeAll();
    } catch (err) {
      probe = undefined;
      c.off('notification', onNotification);
      c.off('error', onLost);
      if (client === c) client = undefined;
      c.release(err as Error);
      throw err;
    }
  }

  function start(): void {
    if (closed || client || connecting) return;
    connecting = connect()
      .catch((err: unknown) => {
        onError(err);
        retry();
      })
      .finally(() => {
        connecting = undefined;
      });
  }

  function retry(): void {
    scheduleRetry(reconnectDelayMs(attempt++));
  }

  function scheduleRetry(ms: number): void {
    if (closed || subscribers.size === 0) return;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (client && !listening) void drop().then(start);
      else start();
    }, ms);
    retryTimer.unref();
  }

  async function drop(): Promise<void> {
    const c = client;
    client = undefined;
    listening = false;
    if (!c) return;
    c.off('notification', onNotification);
    c.removeAllListeners('error');
    c.on('error', () => undefined);
    try {
      await c.query(`unlisten ${quoteIdent(channel)}`);
      c.release();
    } catch (err) {
      c.release(err as Error);
    }
  }

  return {
    subscribe(wake) {
      subscribers.add(wake);
      clearTimeout(idleTimer);
      start();
      return () => {
        subscribers.delete(wake);
        if (subscribers.size > 0) return;
        clearTimeout(idleTimer);
        idleTimer = setTimeout(() => {
          if (subscribers.size === 0) {
            clearTimeout(retryTimer);
            void drop();
          }
        }, IDLE_CLOSE_MS);
        idleTimer.unref();
      };
    },
    get listening() {
      return listening;
    },
    get heardAt() {
      return heardAt;
    },
    async close() {
      closed = true;
      clearTimeout(wakeTimer);
      clearTimeout(retryTimer);
      clearTimeout(idleTimer);
      await connecting;
      await drop();
    },
  };
}
