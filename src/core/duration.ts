/**
 * Durations as people type them: `500ms`, `30s`, `5m`, `1h`, `7d`, `2w`, or
 * a sum like `1h30m`. One parser for the CLI and the options of the API.
 */
import { DispatchError } from './errors.js';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;

/** Milliseconds in a duration like `30s` or `1h30m`; throws INVALID_OPTION otherwise. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  let total = 0;
  let end = 0;
  PART.lastIndex = 0;
  for (let m = PART.exec(trimmed); m; m = PART.exec(trimmed)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    end = PART.lastIndex;
  }
  if (trimmed === '' || end !== trimmed.length) {
    throw new DispatchError(
      'INVALID_OPTION',
      `invalid duration "${text}": use a number and a unit (ms, s, m, h, d, w), e.g. 30s, 5m, 1h, 7d`,
    );
  }
  return total;
}

/** A short human form: 850ms, 12.3s, 4m 5s, 3h 2m, 2d 4h. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  const sign = ms < 0 ? '-' : '';
  const a = Math.abs(ms);
  if (a < 1_000) return `${sign}${Math.round(a)}ms`;
  if (a < 60_000) return `${sign}${(a / 1_000).toFixed(1)}s`;
  const s = Math.floor(a / 1_000);
  if (a < 3_600_000) return `${sign}${Math.floor(s / 60)}m ${s % 60}s`;
  if (a < 86_400_000) return `${sign}${Math.floor(s / 3_600)}h ${Math.floor((s % 3_600) / 60)}m`;
  return `${sign}${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3_600)}h`;
}

/** The shortest exact form: 5s, 5m, 1h30m, 1d, 250ms (the inverse of parseDuration). */
export function formatCompact(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms === 0) return '0s';
  let rest = Math.round(Math.abs(ms));
  let out = ms < 0 ? '-' : '';
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
    ['ms', 1],
  ] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}
