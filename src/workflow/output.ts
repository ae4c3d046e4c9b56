/**
 * What a workflow stores of what user code hands it: step outputs made
 * storable (core/storable.ts) within the size limit, child inputs checked as
 * dispatch checks them, error messages bounded.
 */
import { boundedText, safeString, storableJson, strictJson } from '../core/storable.js';
import { WorkflowLimitError } from './errors.js';

export const MAX_ERROR_CHARS = 2_000;

/** A step's output as stored: the value, its JSON, and what had to change. */
export interface StepOutput {
  value: unknown;
  json: string;
  note: string | null;
}

/**
 * A step's output as it is stored and returned (NULs and lone surrogates
 * replaced, NaN as null, said in `note`), or the error that fails the step.
 */
export function serialise(key: string, raw: unknown, limit: number): StepOutput | Error {
  const value = raw === undefined ? null : raw;
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    return new Error(`output of step ${key} is not JSON-serialisable: ${safeString(err)}`);
  }
  if (json === undefined) return new Error(`output of step ${key} is not JSON: ${typeof value}`);
  let note: string | null = null;
  // Only a text with a null (NaN, Infinity) or an escape (NUL, surrogate) can need a change.
  if (json.includes('null') || json.includes('\\u')) {
    const r = storableJson(value);
    if (r.notes.length > 0) {
      json = JSON.stringify(r.value) ?? 'null';
      note = r.notes.map((n) => `output: ${n}`).join('; ');
    }
  }
  // Characters bound the bytes from below; count bytes only when it matters.
  if (json.length > limit / 3) {
    const bytes = Buffer.byteLength(json);
    if (bytes > limit) {
      return new WorkflowLimitError(
        `output of step ${key} is ${formatBytes(bytes)}, over the limit of ${formatBytes(limit)} ` +
          '(workflow option maxStepOutputBytes)',
      );
    }
  }
  // What the body gets is what a replay will get.
  return { value: JSON.parse(json) as unknown, json, note };
}

/** Throws unless `value` is JSON that jsonb can store as it is, as dispatch checks an input. */
export function checkJson(what: string, value: unknown): void {
  const r = strictJson(value === undefined ? null : value);
  if ('problem' in r) {
    throw new Error(
      r.problem.startsWith('contains') ? `${what} ${r.problem}` : `${what}: ${r.problem}`,
    );
  }
}

export function truncate(message: string): string {
  return boundedText(message, MAX_ERROR_CHARS);
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}
