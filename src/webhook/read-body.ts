/**
 * Reads at most `maxBytes` of a response body, then destroys the stream: a
 * 100 MB or endless body costs `maxBytes` of memory and no more time.
 */
import type { Readable } from 'node:stream';

export interface BoundedBody {
  text: string;
  /** The body had more bytes than were kept. */
  truncated: boolean;
  /** Set when the body failed or timed out after the status line arrived. */
  error?: unknown;
}

export async function readBounded(body: Readable, maxBytes: number): Promise<BoundedBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  let error: unknown;
  try {
    for await (const chunk of body) {
      const buf: Buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      const room = maxBytes - size;
      if (buf.length > room) {
        chunks.push(buf.subarray(0, room));
        size = maxBytes;
        truncated = true;
        break; // ends the iterator, which destroys the stream and its socket
      }
      chunks.push(buf);
      size += buf.length;
    }
  } catch (err) {
    error = err;
  } finally {
    if (!body.destroyed && (truncated || error !== undefined)) body.destroy();
  }
  const bytes = Buffer.concat(chunks, size);
  const text = (truncated ? trimPartialUtf8(bytes) : bytes).toString('utf8');
  return error === undefined ? { text, truncated } : { text, truncated: true, error };
}

/** Drops a multi-byte character cut in half by truncation, rather than show U+FFFD. */
function trimPartialUtf8(bytes: Buffer): Buffer {
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
