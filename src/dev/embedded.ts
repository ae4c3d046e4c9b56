import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import {
  chmod,
  chown,
  mkdir,
  readFile,
  rename,
  rm,
  rmdir,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ServerHandle } from './pg-handle.js';
import { assertReachable, ensureRunAsUser, type RunAs, resolveBinaries } from './pg-host.js';
import {
  acquireLock,
  freePort,
  isOurPostmaster,
  isPortFree,
  layout,
  readPostmaster,
  readRememberedPort,
  registerUser,
} from './pg-state.js';

/** Structural, so a pino logger fits; nothing is ever written to stdout without one. */
export interface EmbeddedLogger {
  info(message: string): void;
  warn?(message: string): void;
  debug?(message: string): void;
}

export interface EmbeddedPostgresOptions {
  /** Folder holding the cluster and its bookkeeping. Default `<project>/.pgdata/<name>`. */
  dataDir?: string;
  /** Fixed port; fails if taken. Default: the remembered one, else 54329, else any free one. */
  port?: number;
  /** 'demo' (default) or 'test'; 'test' trades durability for speed (fsync off). */
  name?: string;
  logger?: EmbeddedLogger;
}

export interface EmbeddedPostgres {
  url: string;
  port: number;
  dataDir: string;
  /** True when a server already running on this cluster (another process's) was joined. */
  reused: boolean;
  /** Leaves; the server stops when its last user, in any process, has left. */
  stop(): Promise<void>;
}

export interface DatabaseHandle {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

export const DEFAULT_PORT = 54329;
const PASSWORD = 'postgres';
const START_TIMEOUT_MS = 30_000;

/** The package root (two up from src/dev or dist/dev), or the cwd once installed as a dependency. */
export function projectRoot(): string {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  return root.split(sep).includes('node_modules') ? process.cwd() : root;
}

/**
 * DATABASE_URL when set (returned untouched, nothing started); otherwise an embedded
 * server, named 'test' under vitest (or NODE_ENV=test) and 'demo' elsewhere.
 */
export async function ensureDatabase(
  options: EmbeddedPostgresOptions = {},
): Promise<DatabaseHandle> {
  const url = process.env.DATABASE_URL;
  if (url) return { url, embedded: false, stop: async () => {} };
  const testing = process.env.VITEST !== undefined || process.env.NODE_ENV === 'test';
  const pg = await startEmbeddedPostgres({ name: testing ? 'test' : 'demo', ...options });
  return { url: pg.url, embedded: true, stop: pg.stop };
}

export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgres> {
  const name = options.name ?? 'demo';
  const dataDir = resolve(options.dataDir ?? join(projectRoot(), '.pgdata', name));
  const paths = layout(dataDir);
  const log = options.logger;
  const bins = resolveBinaries();
  const runAs = await ensureRunAsUser();
  const created = await mkdir(dataDir, { recursive: true });
  if (runAs) {
    // A umask of 077 would make new folders unreachable for the server's user.
    for (let dir = dataDir; created && dir.startsWith(created); dir = dirname(dir)) {
      await chmod(dir, 0o755);
    }
    await assertReachable(bins.nativeDir, runAs);
    await assertReachable(dataDir, runAs);
  }

  const release = await acquireLock(paths.lockFile);
  let port: number;
  let reused = false;
  let userFile: string;
  try {
    const running = await findRunning(paths.pgdata);
    if (running) {
      reused = true;
      port = running.port;
      log?.info(`embedded Postgres: joined server pid ${running.pid} on port ${port}`);
    } else {
      if (!existsSync(join(paths.pgdata, 'PG_VERSION'))) {
        await initCluster(paths.pgdata, dataDir, bins.initdb, runAs, name, log);
      }
      checkMajorVersion(paths.pgdata);
      port = await startServer(paths, bins.postgres, runAs, name, options.port, log);
    }
    userFile = await registerUser(paths.usersDir);
  } finally {
    await release();
  }

  const handle = new ServerHandle(paths, userFile, log);
  return {
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    reused,
    stop: () => handle.stop(),
  };
}

/** A ready postmaster of this cluster, waiting out one still starting (its starter died). */
async function findRunning(pgdata: string) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const pm = readPostmaster(pgdata);
    if (!pm) return undefined;
    if (!isOurPostmaster(pm.pid, pgdata)) {
      // Stale: a killed run left it, maybe naming a recycled pid.
      await unlink(join(pgdata, 'postmaster.pid')).catch(() => undefined);
      return undefined;
    }
    if (pm.status === 'ready') return pm;
    if (Date.now() > deadline) throw new Error(`embedded Postgres: pid ${pm.pid} is ${pm.status}`);
    await sleep(25);
  }
}

async function initCluster(
  pgdata: string,
  dataDir: string,
  initdb: string,
  runAs: RunAs | undefined,
  name: string,
  log: EmbeddedLogger | undefined,
): Promise<void> {
  const started = Date.now();
  // initdb into a scratch folder renamed on success, so a run killed mid-init
  // never leaves a half-made cluster that would be taken for a real one.
  const scratch = `${pgdata}.init-${process.pid}`;
  const pwfile = join(dataDir, `pwfile-${randomBytes(4).toString('hex')}`);
  await rm(scratch, { recursive: true, force: true });
  // Only an empty folder may be replaced: anything else there is someone's data.
  await rmdir(pgdata).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') {
      throw new Error(`embedded Postgres: ${pgdata} has no PG_VERSION but is not empty`, {
        cause: error,
      });
    }
  });
  await mkdir(scratch, { mode: 0o700 });
  await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
  if (runAs) {
    await chown(scratch, runAs.uid, runAs.gid);
    await chown(pwfile, runAs.uid, runAs.gid);
  }
  const args = [`--pgdata=${scratch}`, '--username=postgres', `--pwfile=${pwfile}`];
  args.push('--auth=scram-sha-256', '--encoding=UTF8', '--locale=C', '--no-instructions');
  if (name === 'test') args.push('--no-sync');
  try {
    const output = await run(initdb, args, runAs);
    if (output.code !== 0) {
      throw new Error(`embedded Postgres: initdb failed (${output.code}): ${output.text.trim()}`);
    }
  } finally {
    await unlink(pwfile).catch(() => undefined);
  }
  await rename(scratch, pgdata);
  log?.info(`embedded Postgres: initialised ${pgdata} in ${Date.now() - started} ms`);
}

function checkMajorVersion(pgdata: string): void {
  const version = readFileSync(join(pgdata, 'PG_VERSION'), 'utf8').trim();
  if (version !== '17') {
    throw new Error(
      `embedded Postgres: ${pgdata} was made by Postgres ${version}, this is 17; ` +
        'delete the folder to start afresh',
    );
  }
}

function serverArgs(pgdata: string, port: number, name: string): string[] {
  const settings = [
    `port=${port}`,
    'listen_addresses=127.0.0.1',
    // No Unix socket: nothing to collide with the system server's, no path-length limit.
    'unix_socket_directories=',
    // Parallel test files each hold a pool.
    'max_connections=200',
  ];
  // Only the test cluster may lose data on a crash; the demo's must survive one.
  if (name === 'test') settings.push('fsync=off', 'synchronous_commit=off', 'full_page_writes=off');
  return ['-D', pgdata, ...settings.flatMap((s) => ['-c', s])];
}

async function startServer(
  paths: ReturnType<typeof layout>,
  postgres: string,
  runAs: RunAs | undefined,
  name: string,
  requested: number | undefined,
  log: EmbeddedLogger | undefined,
): Promise<number> {
  // Two tries: another program may grab the port between our check and the bind.
  for (let attempt = 1; ; attempt++) {
    const port = await choosePort(paths.portFile, requested);
    const started = Date.now();
    const logFd = openSync(paths.logFile, 'w');
    let child: ChildProcess;
    try {
      // Detached: a Ctrl-C on the terminal must reach our process, which shuts the
      // server down after the application has drained, not the server directly.
      child = spawn(postgres, serverArgs(paths.pgdata, port, name), {
        ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
        cwd: '/',
        detached: true,
        stdio: ['ignore', logFd, logFd],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C' },
      });
    } finally {
      closeSync(logFd);
    }
    child.unref();
    const outcome = await waitReady(paths.pgdata, child);
    if (outcome === 'ready') {
      await writeFile(paths.portFile, `${port}\n`);
      log?.info(`embedded Postgres: started on port ${port} in ${Date.now() - started} ms`);
      return port;
    }
    const text = await readFile(paths.logFile, 'utf8').catch(() => '');
    if (attempt < 2 && requested === undefined && /could not bind|already in use/i.test(text)) {
      log?.warn?.(`embedded Postgres: port ${port} taken meanwhile, retrying on another`);
      await writeFile(paths.portFile, '');
      continue;
    }
    throw new Error(`embedded Postgres failed to start (${outcome}):\n${tail(text)}`);
  }
}

async function choosePort(portFile: string, requested: number | undefined): Promise<number> {
  if (requested !== undefined) {
    if (!(await isPortFree(requested))) {
      throw new Error(`embedded Postgres: port ${requested} is already in use`);
    }
    return requested;
  }
  // 54329 sits in Linux's ephemeral range, so it can be briefly taken by an outgoing
  // connection: fall back rather than fail, and remember the port actually used.
  const remembered = await readRememberedPort(portFile);
  for (const port of [remembered, DEFAULT_PORT]) {
    if (port !== undefined && (await isPortFree(port))) return port;
  }
  return freePort();
}

function waitReady(pgdata: string, child: ChildProcess): Promise<string> {
  return new Promise((done) => {
    const deadline = Date.now() + START_TIMEOUT_MS;
    let exited = false;
    child.once('exit', (code, signal) => {
      exited = true;
      done(`exited with ${signal ?? code}`);
    });
    child.once('error', (error) => {
      exited = true;
      done(error.message);
    });
    const poll = () => {
      if (exited) return;
      const pm = readPostmaster(pgdata);
      if (pm && pm.pid === child.pid && pm.status === 'ready') return done('ready');
      if (Date.now() > deadline) {
        child.kill('SIGQUIT');
        return done('timed out');
      }
      setTimeout(poll, 10);
    };
    poll();
  });
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-15).join('\n');
}

function run(file: string, args: string[], runAs: RunAs | undefined) {
  return new Promise<{ code: number; text: string }>((done, fail) => {
    const child = spawn(file, args, {
      ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C' },
    });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.once('error', fail);
    child.once('close', (code) => done({ code: code ?? -1, text }));
  });
}
