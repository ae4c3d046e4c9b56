/**
 * What dispatch refuses before a call exists, each with its stable code:
 * inputs Postgres cannot store faithfully (INVALID_INPUT), and options that
 * are unknown, mistyped or not storable (INVALID_OPTION). The idempotency
 * key's own rule (non-empty string, at most 255 characters) is the SQL
 * function's, so TypeScript and SQL callers get the same answer.
 */
import { strictJson, textProblem } from '../core/storable.js';
import { DispatchError } from '../core/errors.js';

/** Largest input, as JSON, dispatch accepts by default: 1 MiB. */
export const DEFAULT_MAX_INPUT_BYTES = 1_048_576;

/** The input as JSON text for jsonb, or INVALID_INPUT saying why not. */
export function serializeInput(input: unknown, maxBytes: number): string {
  const r = strictJson(input === undefined ? null : input);
  if ('problem' in r) throw new DispatchError('INVALID_INPUT', `input ${r.problem}`);
  // UTF-8 takes at most 3 bytes per UTF-16 unit: most inputs need no count.
  if (r.json.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(r.json);
    if (bytes > maxBytes) {
      throw new DispatchError(
        'INVALID_INPUT',
        `input is ${bytes} bytes as JSON, over the limit of ${maxBytes} (the maxInputBytes option of createDispatch)`,
      );
    }
  }
  return r.json;
}

/** A string option must reach Postgres unchanged. */
export function checkOptionText(name: string, value: unknown): void {
  if (typeof value !== 'string') return;
  const problem = textProblem(value);
  if (problem)
    throw new DispatchError('INVALID_OPTION', `${name} ${problem}, which Postgres cannot store`);
}
