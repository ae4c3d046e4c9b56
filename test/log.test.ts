/**
 * The default logger: what it redacts (a formatter with the paths pino's
 * `redact` had), and that its lines, written once per turn of the event
 * loop, reach standard output both while the process runs and when it exits.
 */
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { defaultLogger, REDACTED, redactSecrets } from '../src/core/log.js';

const LOG_MODULE = fileURLToPath(new URL('../dist/core/log.js', import.meta.url));

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = defaultLogger({ write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe('default logger', () => {
  it('redacts secrets at the top level and one level down, and nothing else', () => {
    const { logger, lines } = capture();
    logger.info(
      {
        secret: 's1',
        secrets: ['s2'],
        password: 'p',
        connectionString: 'postgres://u:p@h/db',
        headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
        endpoint: { url: 'https://example.com', secret: 's3', secrets: ['s4'] },
        request: { headers: { authorization: 'Bearer u', accept: '*/*' } },
        callId: '42',
      },
      'hello',
    );
    expect(lines[0]).toMatchObject({
      msg: 'hello',
      secret: REDACTED,
      secrets: REDACTED,
      password: REDACTED,
      connectionString: REDACTED,
      headers: { authorization: REDACTED, 'content-type': 'application/json' },
      endpoint: { url: 'https://example.com', secret: REDACTED, secrets: REDACTED },
      request: { headers: { authorization: REDACTED, accept: '*/*' } },
      callId: '42',
    });
  });

  it('redacts child bindings and leaves the caller’s objects alone', () => {
    const { logger, lines } = capture();
    const endpoint = { url: 'https://example.com', secret: 's' };
    logger.child({ endpoint }).info('bound');
    logger.info({ endpoint }, 'passed');
    expect(endpoint.secret).toBe('s');
    expect(lines.map((l) => l['endpoint'])).toEqual([
      { url: 'https://example.com', secret: REDACTED },
      { url: 'https://example.com', secret: REDACTED },
    ]);
  });

  it('returns an object with nothing to hide as it is, and keeps an error’s message', () => {
    const clean = { callId: '1', attempt: 2, status: 'ok', nested: { a: 1 } };
    expect(redactSecrets(clean)).toBe(clean);
    const err = Object.assign(new Error('boom'), { secret: 'x' });
    const out = redactSecrets({ err })['err'] as Error & { secret: string };
    expect(out).toBeInstanceOf(Error);
    expect(out.message).toBe('boom');
    expect(out.secret).toBe(REDACTED);
    expect(err.secret).toBe('x');
  });

  it('writes the lines of a turn to standard output, while running and on exit', async () => {
    // Three lines in one turn, then nothing for 10 s: they must show up long before.
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { defaultLogger } = await import(${JSON.stringify(LOG_MODULE)});
         const log = defaultLogger();
         for (const n of [1, 2, 3]) log.info({ n }, 'line');
         setTimeout(() => {}, 10_000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      let out = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.split('\n').length > 3) resolve();
        });
        child.on('exit', () => reject(new Error(`exited early; output: ${out}`)));
      });
      expect(
        out
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l).n),
      ).toEqual([1, 2, 3]);
    } finally {
      child.kill('SIGKILL');
    }

    // Logged right before process.exit: still written.
    const { stdout } = await promisify(execFile)(process.execPath, [
      '--input-type=module',
      '-e',
      `const { defaultLogger } = await import(${JSON.stringify(LOG_MODULE)});
       defaultLogger().warn('last words');
       process.exit(3);`,
    ]).catch((err: { stdout: string; code: number }) => {
      expect(err.code).toBe(3);
      return err;
    });
    expect(JSON.parse(stdout).msg).toBe('last words');
  });
});
