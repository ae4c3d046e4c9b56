/**
 * Text and JSON as Postgres can store them. A JavaScript string may hold NUL
 * characters and lone UTF-16 surrogates; `text` refuses the first and
 * `jsonb` both (a `\ud800` escape without its pair is a syntax error), and a
 * refused write would leave a call's outcome unrecorded. Whatever user code
 * or a receiver produces goes through here before it is written.
 */

export const REPLACEMENT_CHARACTER = '\uFFFD';

// A NUL, or a surrogate that is not half of a pair.
const UNSTORABLE_CHAR =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point.
  /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
// The same in JSON.stringify's output, which writes them as lower-case
// escapes; the backslashes before an escape must be an even number, or its
// backslash is itself escaped (`"C:\\u0000"` holds no NUL).
const UNSTORABLE_ESCAPE = /(?<!\\)((?:\\\\)*)\\u(0000|d[89a-f][0-9a-f]{2})/g;
const HAS_UNSTORABLE_ESCAPE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/;

/** `s` with NUL characters and lone surrogates replaced by U+FFFD. */
export function storableText(s: string): string {
  return s.replace(UNSTORABLE_CHAR, REPLACEMENT_CHARACTER);
}

/** At most `max` code points of `s`, then `…` when cut: a surrogate pair is never split. */
export function truncateText(s: string, max: number): string {
  if (s.length <= max) return s;
  let i = 0;
  for (let n = 0; n < max && i < s.length; n++) {
    const c = s.charCodeAt(i);
    const low = s.charCodeAt(i + 1);
    i += c >= 0xd800 && c <= 0xdbff && low >= 0xdc00 && low <= 0xdfff ? 2 : 1;
  }
  return i >= s.length ? s : `${s.slice(0, i)}…`;
}

/** Storable text of at most `max` code points (plus `…` when cut). */
export function boundedText(s: string, max: number): string {
  return truncateText(storableText(s), max);
}

/** A value made storable as jsonb, and what had to change in it. */
export interface StorableJson {
  value: unknown;
  /** Empty when the value went in as it was. */
  notes: string[];
}

/**
 * For what a handler or a receiver produced (outputs, responses): never
 * refused. NULs and lone surrogates become U+FFFD; NaN, ±Infinity and
 * invalid Dates become null, as JSON.stringify writes them, but say so in the
 * notes; a value that does not serialise is kept as its string form.
 */
export function storableJson(value: unknown): StorableJson {
  if (value === undefined) return { value: null, notes: [] };
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    return {
      value: { unserialisable: boundedText(safeString(value), 2_000) },
      notes: [`not JSON-serialisable (${boundedText(safeString(err), 200)}): kept as a string`],
    };
  }
  if (json === undefined)
    return { value: null, notes: [`a ${typeof value} is not JSON: stored null`] };
  const notes: string[] = [];
  const nonFinite = json.includes('null') ? countNonFinite(value) : 0;
  if (nonFinite > 0) {
    notes.push(
      `${count(nonFinite, 'value')} JSON has no form for (NaN, ±Infinity, invalid Date) stored as null`,
    );
  }
  if (!HAS_UNSTORABLE_ESCAPE.test(json)) return { value, notes };
  let replaced = 0;
  const fixed = json.replace(UNSTORABLE_ESCAPE, (_m, backslashes: string) => {
    replaced++;
    return `${backslashes}\\ufffd`;
  });
  notes.push(`${count(replaced, 'NUL or lone surrogate')} replaced by U+FFFD`);
  return { value: JSON.parse(fixed) as unknown, notes };
}

/**
 * For what a caller asks to store (inputs, options): the JSON text, or why
 * it would not be stored as given (Postgres would refuse it, or JSON would
 * change it).
 */
export function strictJson(value: unknown): { json: string } | { problem: string } {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    return { problem: `not JSON-serialisable: ${boundedText(safeString(err), 200)}` };
  }
  if (json === undefined) return { problem: `not JSON-serialisable: ${typeof value}` };
  const nonFinite = json.includes('null') ? firstNonFinite(value) : undefined;
  if (nonFinite) {
    const where = nonFinite.key === '' ? '' : ` at key ${JSON.stringify(nonFinite.key)}`;
    return {
      problem: `${nonFinite.value} is not a JSON value${where} (JSON would store null)`,
    };
  }
  const bad = HAS_UNSTORABLE_ESCAPE.exec(json);
  if (bad) {
    return {
      problem: bad[0].endsWith('u0000')
        ? 'contains a NUL character, which Postgres cannot store'
        : 'contains a lone UTF-16 surrogate (half of a character), which Postgres cannot store',
    };
  }
  return { json };
}

/** Why a string cannot be stored as given, or undefined. */
export function textProblem(s: string): string | undefined {
  UNSTORABLE_CHAR.lastIndex = 0;
  const bad = UNSTORABLE_CHAR.exec(s);
  if (!bad) return undefined;
  return bad[0] === '\u0000' ? 'contains a NUL character' : 'contains a lone UTF-16 surrogate';
}

// JSON writes NaN and ±Infinity as null: only a text with a null can have had
// one, and only then is the value walked again, through a replacer that sees
// each value as JSON.stringify does (after toJSON).
function countNonFinite(value: unknown): number {
  let n = 0;
  try {
    JSON.stringify(value, function (this: Record<string, unknown>, key, v: unknown) {
      if (isNonFinite(this[key], v)) n++;
      return v;
    });
  } catch {
    // A toJSON that succeeds once only: the first text stands.
  }
  return n;
}

/**
 * What JSON will write as null though it was not: NaN and ±Infinity, as
 * numbers or Number objects, and an invalid Date (its toJSON gives null).
 */
function isNonFinite(raw: unknown, v: unknown): boolean {
  if (typeof v === 'number' || v instanceof Number) return !Number.isFinite(Number(v));
  return v === null && raw instanceof Date && Number.isNaN(raw.getTime());
}

function firstNonFinite(value: unknown): { key: string; value: string } | undefined {
  let found: { key: string; value: string } | undefined;
  try {
    JSON.stringify(value, function (this: Record<string, unknown>, key, v: unknown) {
      if (isNonFinite(this[key], v)) {
        found ??= { key, value: v === null ? 'an invalid Date' : String(Number(v)) };
      }
      return v;
    });
  } catch {
    // A toJSON that succeeds once only: the first text stands.
  }
  return found;
}

function count(n: number, what: string): string {
  return n === 1 ? `1 ${what}` : `${n} ${what}s`;
}

/** String(value) (an Error's message), even for a value whose conversion throws. */
export function safeString(value: unknown): string {
  try {
    if (value instanceof Error) return value.message;
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
