/**
 * Refusing option keys nobody knows: a misspelt option (`retryPolcy`) would
 * otherwise be ignored without a word.
 */
import { DispatchError, type ErrorCode } from './errors.js';

/** Refuses keys of `options` not in `known`, naming the closest known one. */
export function checkKeys(
  options: object,
  known: Readonly<Record<string, true>>,
  what: string,
  code: ErrorCode = 'INVALID_OPTION',
): void {
  if (typeof options !== 'object' || options === null) {
    throw new DispatchError(code, `${what}s must be an object`);
  }
  for (const key of Object.keys(options)) {
    if (Object.hasOwn(known, key)) continue;
    const near = closest(key, Object.keys(known));
    throw new DispatchError(
      code,
      `unknown ${what} ${JSON.stringify(key)}${near ? `: did you mean ${JSON.stringify(near)}?` : ''} (known: ${Object.keys(known).join(', ')})`,
    );
  }
}

/** The known name within edit distance 3 of `key` (case ignored), if any. */
function closest(key: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const name of names) {
    const d = distance(key.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        prev[j]! + 1,
        row[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length]!;
}
