/**
 * The LISTEN connection for graphile-worker's `jobs:insert` notifications.
 * A lost connection is re-established with backoff; until then the poll
 * finds new jobs.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { reconnectDelayMs } from '../core/backoff.js';

const LISTEN_CHANNEL = 'jobs:insert';

export class JobListener {
  readonly #pool: pg.Pool;
  readonly #logger: Logger;
  /** Called with the coalescing window of the notification (0 for graphile-worker's own). */
  readonly #onNotify: (windowMs: number) => void;
  #client: pg.PoolClient | undefined;
  #detach: () => void = () => {};
  #listening: Promise<void> | null = null;
  #stopped = false;

  constructor(pool: pg.Pool, logger: Logger, onNotify: (windowMs: number) => void) {
    this.#pool = pool;
    this.#logger = logger;
    this.#onNotify = onNotify;
  }

  /** Throws if the database is unreachable. */
  start(): Promise<void> {
    return this.#listen();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#listening;
    await this.#unlisten();
  }

  async #listen(): Promise<void> {
    const client = await this.#pool.connect();
    const onNotification = (msg: pg.Notification) => this.#onNotify(coalescingWindow(msg.payload));
    const onError = (err: Error) => {
      detach();
      if (this.#client !== client) return;
      this.#client = undefined;
      client.release(err);
      if (this.#stopped) return;
      this.#logger.warn(
        { err: err.message },
        'lost the notification connection; polling until it is back',
      );
      this.#relisten(0);
    };
    const detach = () => {
      client.off('notification', onNotification);
      client.off('error', onError);
    };
    client.on('error', onError);
    client.on('notification', onNotification);
    try {
      await client.query(`listen "${LISTEN_CHANNEL}"`);
    } catch (err) {
      detach();
      client.release(err as Error);
      throw err;
    }
    this.#client = client;
    this.#detach = detach;
  }

  #relisten(attempt: number): void {
    setTimeout(() => {
      if (this.#stopped) return;
      this.#listening = this.#listen().then(
        () => {
          this.#logger.info('listening for new jobs again');
          this.#onNotify(0);
        },
        () => this.#relisten(attempt + 1),
      );
    }, reconnectDelayMs(attempt)).unref();
  }

  async #unlisten(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    this.#client = undefined;
    this.#detach();
    // An error event with no listener would crash the process.
    const ignore = () => {};
    client.on('error', ignore);
    try {
      await client.query(`unlisten "${LISTEN_CHANNEL}"`);
      client.off('error', ignore);
      client.release();
    } catch (err) {
      client.off('error', ignore);
      client.release(err as Error);
    }
  }
}

/** The `window` of a coalesced `jobs:insert` payload (0 for graphile-worker's own). */
function coalescingWindow(payload: string | undefined): number {
  if (!payload?.includes('"window"')) return 0;
  try {
    const w = (JSON.parse(payload) as { window?: unknown }).window;
    return typeof w === 'number' && w > 0 ? w : 0;
  } catch {
    return 0;
  }
}
