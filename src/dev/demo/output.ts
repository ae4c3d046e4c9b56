/**
 * The demo's terminal: every process writes pino JSON lines; here each line
 * gets its process's name, and in a terminal pino-pretty's colours. When
 * stdout is not a terminal (or DEMO_LOG_FORMAT=json) lines stay JSON, with a
 * `process` field added.
 */
import { styleText } from 'node:util';
import PinoPretty from 'pino-pretty';

export type Format = 'pretty' | 'json';

type Colour = Parameters<typeof styleText>[0];

const COLOURS: Record<string, Colour> = {
  demo: 'bold',
  app: 'cyan',
  worker: 'magenta',
  receiver: 'green',
};
const WIDTH = 9;

export function chooseFormat(): Format {
  const requested = process.env['DEMO_LOG_FORMAT'];
  if (requested === 'pretty' || requested === 'json') return requested;
  return process.stdout.isTTY ? 'pretty' : 'json';
}

export class Output {
  readonly format: Format;
  readonly #colour: boolean;
  readonly #pretty: (line: unknown) => string;
  readonly #write: (text: string) => void;

  constructor(format: Format, write = (text: string) => void process.stdout.write(text)) {
    this.format = format;
    this.#write = write;
    this.#colour = format === 'pretty' && process.stdout.isTTY === true && !process.env['NO_COLOR'];
    this.#pretty = PinoPretty.prettyFactory({
      colorize: this.#colour,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,name',
      hideObject: true,
      singleLine: true,
    });
  }

  /** One line a process wrote, JSON or not. */
  line(proc: string, text: string): void {
    if (text.trim() === '') return;
    let record: Record<string, unknown> | undefined;
    try {
      const value: unknown = JSON.parse(text);
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        record = value as Record<string, unknown>;
      }
    } catch {
      // not JSON: a stack trace, a CLI error message
    }
    if (this.format === 'json') {
      const out = record
        ? { process: proc, ...record }
        : { process: proc, stream: 'text', msg: text };
      this.#write(`${JSON.stringify(out)}\n`);
      return;
    }
    const body = record ? this.#pretty(record).trimEnd() : text;
    this.#write(`${this.prefix(proc)}${body}\n`);
  }

  /** Text meant to be read as is (the SQL and its result), in pretty mode only. */
  block(text: string): void {
    if (this.format !== 'pretty') return;
    const bar = this.prefix('demo');
    this.#write(
      `${text
        .split('\n')
        .map((l) => `${bar}${l}`)
        .join('\n')}\n`,
    );
  }

  /** A pino destination writing as `proc`. */
  stream(proc: string): { write(chunk: string): void } {
    return {
      write: (chunk) => {
        for (const l of chunk.split('\n')) this.line(proc, l);
      },
    };
  }

  style(colour: Colour, text: string): string {
    return this.#colour ? styleText(colour, text) : text;
  }

  prefix(proc: string): string {
    return `${this.style(COLOURS[proc] ?? 'white', proc.padEnd(WIDTH))}${this.style('gray', '│')} `;
  }
}

/** Rows as a psql-style table. */
export function table(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(0 rows)';
  const columns = Object.keys(rows[0]!);
  const cells = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const numeric = columns.map((c) => rows.every((r) => r[c] === null || typeof r[c] === 'number'));
  const pad = (s: string, i: number) =>
    numeric[i] ? s.padStart(widths[i]!) : s.padEnd(widths[i]!);
  return [
    ` ${columns.map((c, i) => c.padEnd(widths[i]!)).join(' | ')}`.trimEnd(),
    `${widths.map((w) => '-'.repeat(w + 2)).join('+')}`,
    ...cells.map((r) => ` ${r.map(pad).join(' | ')}`.trimEnd()),
    `(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})`,
  ].join('\n');
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString().replace('T', ' ').replace('Z', '');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
