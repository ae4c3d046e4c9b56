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

export function readBounded(body: Readable, maxBytes: number): Promise<BoundedBody> {
  // Listeners rather than `for await`: the async iterator and its
  // end-of-stream watcher cost more than the rest of reading a small body.
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (truncated: boolean, error?: unknown): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
      // Destroying a body not read to its end makes it emit an error nobody needs.
      body.on('error', ignore);
      if (!body.destroyed && (truncated || error !== undefined)) body.destroy();
      const bytes = Buffer.concat(chunks, size);
      const text = (truncated ? trimPartialUtf8(bytes) : bytes).toString('utf8');
      resolve(error === undefined ? { text, truncated } : { text, truncated: true, error });
    };
    const onData = (chunk: Buffer | string): void => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const room = maxBytes - size;
      if (buf.length > room) {
        chunks.push(buf.subarray(0, room));
        size = maxBytes;
        finish(true);
        return;
      }
      chunks.push(buf);
      size += buf.length;
    };
    const onEnd = (): void => finish(false);
    const onError = (err: unknown): void => finish(true, err);
    // Closed with neither 'end' nor 'error': the body was cut off.
    const onClose = (): void => finish(true, prematureClose());
    if (body.destroyed) {
      finish(true, body.errored ?? prematureClose());
      return;
    }
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('close', onClose);
  });
}

function ignore(): void {}

function prematureClose(): Error {
  const err: NodeJS.ErrnoException = new Error('response body closed before its end');
  err.code = 'ERR_STREAM_PREMATURE_CLOSE';
  return err;
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
