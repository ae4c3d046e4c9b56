/**
 * Adaptive concurrency per origin for the webhook function, shared by all
 * workers through Postgres (`origin_concurrency`). Each worker counts the
 * good and the overloaded answers (429, 503, timeouts, connection errors) of
 * each origin, reports them a few times a second, and gets back its share of
 * the origin's limit, which the database raises additively and halves on
 * overload. A request over this worker's share goes back to the queue.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { AttemptStatus } from '../core/outcome.js';
import { type NamedQuery, statements } from '../core/statement.js';

/** How often a worker reports what it saw and refreshes its shares, in ms. */
const REPORT_MS = 200;
/** An origin not sent to for this long is forgotten locally. */
const IDLE_MS = 60_000;

interface OriginState {
  active: number;
  /** This worker's share of the origin's limit; until the first report, the starting limit. */
  share: number;
  /** The bound: perOriginConcurrency, or an endpoint's max_concurrency. */
  max: number;
  ok: number;
  overload: number;
  usedAt: number;
}

/** Whether an answer says the destination is overloaded (it should get fewer requests). */
export function isOverload(status: AttemptStatus, httpStatus: number | undefined): boolean {
  return (
    status === 'throttled' ||
    status === 'timeout' ||
    status === 'tcp_error' ||
    (status === 'temporary_error' && httpStatus === 503)
  );
}

/** A new origin's limit: a quarter of its bound, as `origin_concurrency_report` inserts it. */
function startingLimit(max: number): number {
  return Math.max(1, Math.floor(max / 4));
}

export class AdaptiveConcurrency {
  readonly #pool: pg.Pool;
  readonly #query: NamedQuery;
  readonly #worker = `sender-${randomBytes(6).toString('hex')}`;
  readonly #origins = new Map<string, OriginState>();
  #timer: NodeJS.Timeout | undefined;
  #reporting: Promise<void> | null = null;
  #closed = false;

  constructor(pool: pg.Pool, schema: string, prepared = true) {
    this.#pool = pool;
    const { s, q } = statements(schema, prepared);
    this.#query = q(
      'origin_concurrency_report',
      `select origin, concurrency_limit, share from ${s}.origin_concurrency_report($1, $2::jsonb)`,
    );
  }

  /**
   * A slot for a request to `origin` if this worker's share allows one now;
   * its release takes the answer. Undefined: come back later.
   */
  tryAcquire(
    origin: string,
    max: number,
  ): ((status: AttemptStatus, httpStatus: number | undefined) => void) | undefined {
    let s = this.#origins.get(origin);
    if (!s) {
      // Until the first report answers, start where a new origin's limit
      // starts (a quarter of the bound), and report at once: starting at the
      // bound, every worker would send a full burst before it learns better.
      s = { active: 0, share: startingLimit(max), max, ok: 0, overload: 0, usedAt: 0 };
      this.#origins.set(origin, s);
      this.#arm(0);
    }
    s.max = max;
    s.usedAt = Date.now();
    // Reports go on while the origin is in use, refused requests included:
    // a worker whose share is 0 must learn when it grows.
    this.#arm(REPORT_MS);
    if (s.active >= Math.min(s.share, max)) return undefined;
    s.active++;
    const state = s;
    let released = false;
    return (status, httpStatus) => {
      if (released) return;
      released = true;
      state.active--;
      if (status === 'ok') state.ok++;
      else if (isOverload(status, httpStatus)) state.overload++;
    };
  }

  /** This worker's share for `origin` (for tests and metrics). */
  share(origin: string): number | undefined {
    return this.#origins.get(origin)?.share;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#reporting;
  }

  #arm(delayMs: number): void {
    if (this.#closed) return;
    if (this.#timer) {
      if (delayMs > 0 || this.#reporting) return;
      clearTimeout(this.#timer);
    }
    this.#timer = setTimeout(() => {
      this.#reporting = this.#report().finally(() => {
        this.#reporting = null;
        this.#timer = undefined;
        if ([...this.#origins.values()].some((s) => s.active > 0 || s.ok + s.overload > 0)) {
          this.#arm(REPORT_MS);
        }
      });
    }, delayMs);
    this.#timer.unref();
  }

  async #report(): Promise<void> {
    const now = Date.now();
    const reports: { origin: string; ok: number; overload: number; max: number }[] = [];
    for (const [origin, s] of this.#origins) {
      if (s.active === 0 && s.ok + s.overload === 0 && now - s.usedAt > IDLE_MS) {
        this.#origins.delete(origin);
        continue;
      }
      reports.push({ origin, ok: s.ok, overload: s.overload, max: s.max });
    }
    if (reports.length === 0) return;
    const sent = new Map(reports.map((r) => [r.origin, r]));
    for (const r of reports) {
      const s = this.#origins.get(r.origin)!;
      s.ok = 0;
      s.overload = 0;
    }
    try {
      const { rows } = await this.#pool.query<{ origin: string; share: number }>({
        ...this.#query,
        values: [this.#worker, JSON.stringify(reports)],
      });
      for (const row of rows) {
        const s = this.#origins.get(row.origin);
        if (s) s.share = row.share;
      }
    } catch {
      // Unreported counts are added back; the shares stay as they were.
      for (const [origin, r] of sent) {
        const s = this.#origins.get(origin);
        if (s) {
          s.ok += r.ok;
          s.overload += r.overload;
        }
      }
    }
  }
}
