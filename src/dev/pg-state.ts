import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { mkdir, open, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Files kept next to the cluster (PGDATA itself must hold only what initdb made):
 *   <dataDir>/pgdata/        the cluster, owned by the server's user
 *   <dataDir>/port           the port last used, so a reused cluster keeps its URL
 *   <dataDir>/postgres.log   the server's output of its latest start
 *   <dataDir>/lock           held while starting or stopping
 *   <dataDir>/users/         one file per live handle; the last one out stops the server
 */
export function layout(dataDir: string) {
  return {
    pgdata: join(dataDir, 'pgdata'),
    portFile: join(dataDir, 'port'),
    logFile: join(dataDir, 'postgres.log'),
    lockFile: join(dataDir, 'lock'),
    usersDir: join(dataDir, 'users'),
  };
}

/** True while `pid` names a process that has not exited (zombies count as exited). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): trust kill(0)
  }
}

export interface Postmaster {
  pid: number;
  port: number;
  /** "ready", "starting", "stopping" or "standby" (line 8 of postmaster.pid). */
  status: string;
}

/** Parses postmaster.pid; undefined when there is none. */
export function readPostmaster(pgdata: string): Postmaster | undefined {
  let text: string;
  try {
    text = readFileSync(join(pgdata, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, port, status: (lines[7] ?? '').trim() };
}

/**
 * Whether the live process `pid` is a postmaster of this very cluster. After a reboot or
 * in a container, a stale postmaster.pid can name a recycled pid, which Postgres would
 * take for a running server and refuse to start.
 */
export function isOurPostmaster(pid: number, pgdata: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(pgdata);
  } catch (error) {
    // No /proc (macOS): trust the pid; EACCES/ENOENT on Linux means it is not ours.
    return (error as NodeJS.ErrnoException).code === 'ENOENT' && !existsProc();
  }
}

function existsProc(): boolean {
  try {
    readdirSync('/proc/self');
    return true;
  } catch {
    return false;
  }
}

/**
 * A lock file holding the owner's pid, created with O_EXCL. A lock whose owner died is
 * broken; two waiters breaking the same stale lock at once is possible but needs a crash
 * mid-start plus a race, and costs only a failed start with a clear error.
 */
export async function acquireLock(file: string, timeoutMs = 60_000): Promise<() => Promise<void>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return async () => {
        await unlink(file).catch(() => undefined);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number(await readFile(file, 'utf8').catch(() => ''));
    // An empty file is a lock being written right now: wait rather than break it.
    if (owner > 0 && !isAlive(owner)) {
      await unlink(file).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `embedded Postgres: ${file} still held by pid ${owner} after ${timeoutMs} ms`,
      );
    }
    await sleep(20);
  }
}

export async function registerUser(usersDir: string): Promise<string> {
  await mkdir(usersDir, { recursive: true });
  const file = join(usersDir, `${process.pid}-${randomBytes(4).toString('hex')}`);
  await writeFile(file, '');
  return file;
}

/** Live users other than those already removed; files of dead processes are swept. */
export async function liveUsers(usersDir: string): Promise<string[]> {
  const names = await readdir(usersDir).catch(() => [] as string[]);
  return names.filter((name) => keepUser(usersDir, name));
}

export function liveUsersSync(usersDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(usersDir);
  } catch {
    return [];
  }
  return names.filter((name) => keepUser(usersDir, name));
}

function keepUser(usersDir: string, name: string): boolean {
  const pid = Number(name.split('-')[0]);
  if (pid > 0 && isAlive(pid)) return true;
  try {
    unlinkSync(join(usersDir, name));
  } catch {
    // already swept by someone else
  }
  return false;
}

export async function readRememberedPort(portFile: string): Promise<number | undefined> {
  const port = Number((await readFile(portFile, 'utf8').catch(() => '')).trim());
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
}

/** Whether nothing listens on 127.0.0.1:port (binding fails for a wildcard listener too). */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}
