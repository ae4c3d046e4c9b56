/**
 * The end of a response body cut at `maxResponseBytes`: the sender keeps at
 * most that many bytes (the rest is never read) and drops a character that
 * the cut split in half.
 */

/** Drops a multi-byte character cut in half by truncation, rather than show U+FFFD. */
export function trimPartialUtf8(bytes: Buffer): Buffer {
  let i = bytes.length - 1;
  let continuation = 0;
  while (i >= 0 && continuation < 3 && ((bytes[i] ?? 0) & 0xc0) === 0x80) {
    i--;
    continuation++;
  }
  if (i < 0) return bytes;
  const lead = bytes[i] ?? 0;
  const needed = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc0 ? 1 : 0;
  return needed > continuation ? bytes.subarray(0, i) : bytes;
}
