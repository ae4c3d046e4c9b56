/**
 * `pgdispatch show` prints a call's input without its secrets, by the rule
 * the logs use: URL credentials and secret-named fields and headers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDACTED, redactSecrets } from '../src/core/log.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { runCli } from './support/processes.js';

let db: TestDatabase;
let id: string;

const SECRETS = ['PASS123', 'Bearer-SECRET', 'KEY456', 'sess=COOKIE789', 'TOK0'];

beforeAll(async () => {
  db = await createTestDatabase();
  const dispatch = db.dispatch();
  id = await dispatch.webhook.dispatch({
    url: 'https://u:PASS123@h.example/in?token=TOK0&p=2',
    body: { apiKey: 'KEY456' },
    headers: {
      authorization: 'Bearer-SECRET',
      'x-api-key': 'KEY456',
      cookie: 'sess=COOKIE789',
    },
  });
});
afterAll(() => db.drop());

const cli = (...args: string[]) => runCli(args, { DATABASE_URL: db.url, LOG_LEVEL: 'silent' });

describe('pgdispatch show', () => {
  it('redacts URL passwords, secret query parameters and secret headers on its input line', async () => {
    const { code, stdout } = await cli('show', id);
    expect(code).toBe(0);
    const input = stdout.split('\n').find((l) => l.trimStart().startsWith('input'));
    expect(input).toContain(`https://u:${REDACTED}@h.example/in?token=${REDACTED}&p=2`);
    expect(input).toContain(`"authorization":"${REDACTED}"`);
    expect(input).toContain(`"cookie":"${REDACTED}"`);
    expect(input).not.toContain('…');
    for (const secret of SECRETS) expect(stdout).not.toContain(secret);
  });

  it('redacts the same in --json', async () => {
    const { code, stdout } = await cli('show', id, '--json');
    expect(code).toBe(0);
    const shown = JSON.parse(stdout);
    expect(shown.call.input.headers).toEqual({
      authorization: REDACTED,
      'x-api-key': REDACTED,
      cookie: REDACTED,
    });
    expect(shown.call.input.body).toEqual({ apiKey: REDACTED });
    for (const secret of SECRETS) expect(stdout).not.toContain(secret);
  });

  it('logs hide the same headers by the same rule', () => {
    const line = redactSecrets({
      headers: { cookie: 'c', 'x-api-key': 'k', accept: 'a' },
      apiKey: 'k',
    });
    expect(line).toEqual({
      headers: { cookie: REDACTED, 'x-api-key': REDACTED, accept: 'a' },
      apiKey: REDACTED,
    });
  });
});

describe('pgdispatch endpoints', () => {
  it('lists an endpoint without the secret headers it sends or its URL password', async () => {
    const add = await cli(
      'endpoints',
      'add',
      'acme',
      '--url',
      'https://u:PASS123@h.example/in',
      '--header',
      'authorization: Bearer-SECRET',
      '--header',
      'x-trace: on',
    );
    expect(add.code).toBe(0);
    const json = await cli('endpoints', '--json');
    // --json prints one array (docs/cli.md).
    expect(JSON.parse(json.stdout)[0].headers).toEqual({ authorization: REDACTED, 'x-trace': 'on' });
    const table = await cli('endpoints');
    for (const out of [json.stdout, table.stdout]) {
      expect(out).not.toContain('Bearer-SECRET');
      expect(out).not.toContain('PASS123');
    }
  });
});
