/** Terminal output: aligned tables, timestamps, a progress bar on a TTY only. */
import { formatDuration } from '../core/duration.js';

/** Prints rows as an aligned table with a header; cells wider than `maxWidth` are cut. */
export function printTable(headers: string[], rows: string[][], maxWidth = 60): void {
  const cut = (s: string) => {
    const one = s.replaceAll(/\s+/g, ' ');
    return one.length > maxWidth ? `${one.slice(0, maxWidth - 1)}…` : one;
  };
  const cells = rows.map((r) => r.map(cut));
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)),
  );
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  console.log(line(headers));
  for (const r of cells) console.log(line(r));
}

/** UTC, to the second: `2024-05-01 12:00:00`. */
export function formatTime(t: Date | string | null | undefined): string {
  if (t === null || t === undefined) return '-';
  const d = t instanceof Date ? t : new Date(t);
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

/** `3m 2s ago`, or `in 5.0s` for the future. */
export function formatAge(t: Date | string | null | undefined, now = Date.now()): string {
  if (t === null || t === undefined) return '-';
  const ms = now - (t instanceof Date ? t : new Date(t)).getTime();
  return ms >= 0 ? `${formatDuration(ms)} ago` : `in ${formatDuration(-ms)}`;
}

export function formatMs(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : formatDuration(ms);
}

/** A progress bar on stderr when it is a terminal; silent otherwise (pipes, CI, tests). */
export function progressBar(label: string): {
  update(done: number, total: number): void;
  end(): void;
} {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  return {
    update(done, total) {
      if (!tty) return;
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const width = 30;
      const frac = total > 0 ? Math.min(1, done / total) : 1;
      const fill = Math.round(frac * width);
      process.stderr.write(
        `\r${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${Math.round(frac * 100)}% ${done}/${total}`,
      );
    },
    end() {
      if (tty) process.stderr.write('\n');
    },
  };
}
