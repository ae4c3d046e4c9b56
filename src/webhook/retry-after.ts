/**
 * Parses a Retry-After header value (RFC 9110 §10.2.3): delay-seconds or an
 * HTTP-date. Returns the delay in milliseconds (never negative), or undefined
 * when the value is absent or unreadable.
 *
 * @example
 * parseRetryAfter('120') // 120000
 * parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:00 GMT')) // 60000
 */
export function parseRetryAfter(
  value: string | readonly string[] | undefined,
  now: Date | number = Date.now(),
): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) {
    const ms = Number(text) * 1000;
    return Number.isSafeInteger(ms) ? ms : undefined;
  }
  // Only the date form has letters; Date.parse would otherwise accept '1.5' or '2024'.
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  const nowMs = now instanceof Date ? now.getTime() : now;
  return Math.max(0, at - nowMs);
}
