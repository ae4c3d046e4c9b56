/**
 * A process's hold on the embedded server: the last holder to leave stops it,
 * on close, on exit, or on a signal nobody else handles.
 */
import { unlinkSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  acquireLock,
  isAlive,
  isOurPostmaster,
  type layout,
  liveUsers,
  liveUsersSync,
  readPostmaster,
} from './pg-state.js';

const STOP_TIMEOUT_MS = 15_000;

/** Open handles of this process, so exit and signals can release them. */
const openHandles = new Set<ServerHandle>();

export class ServerHandle {
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly paths: ReturnType<typeof layout>,
    private readonly userFile: string,
    private readonly log: { info(message: string): void } | undefined,
  ) {
    openHandles.add(this);
    installExitHooks();
  }

  stop(): Promise<void> {
    this.stopping ??= this.leave();
    return this.stopping;
  }

  private async leave(): Promise<void> {
    const release = await acquireLock(this.paths.lockFile);
    try {
      await unlink(this.userFile).catch(() => undefined);
      if ((await liveUsers(this.paths.usersDir)).length > 0) return;
      const pm = readPostmaster(this.paths.pgdata);
      if (!pm || !isOurPostmaster(pm.pid, this.paths.pgdata)) return;
      const started = Date.now();
      process.kill(pm.pid, 'SIGINT'); // fast shutdown: roll back open transactions, exit
      await waitGone(pm.pid);
      this.log?.info(`embedded Postgres: stopped in ${Date.now() - started} ms`);
    } finally {
      await release();
      openHandles.delete(this);
      if (openHandles.size === 0) removeExitHooks();
    }
  }

  /** The 'exit' event allows no waiting: leave and signal the server, let it finish alone. */
  leaveSync(): void {
    try {
      unlinkSync(this.userFile);
    } catch {
      // already left
    }
    if (liveUsersSync(this.paths.usersDir).length > 0) return;
    const pm = readPostmaster(this.paths.pgdata);
    if (pm && isOurPostmaster(pm.pid, this.paths.pgdata)) process.kill(pm.pid, 'SIGINT');
  }
}

async function waitGone(pid: number): Promise<void> {
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGQUIT'); // immediate shutdown; crash recovery on next start
      return;
    }
    await sleep(10);
  }
}

function onExit(): void {
  for (const handle of openHandles) handle.leaveSync();
  openHandles.clear();
}

/**
 * On SIGINT/SIGTERM, defer to the application when it listens too (it shuts down, its
 * exit runs onExit); otherwise stop the server and die of the same signal as we would have.
 */
async function onSignal(signal: NodeJS.Signals): Promise<void> {
  if (process.listenerCount(signal) > 1) return;
  removeExitHooks();
  await Promise.race([Promise.all([...openHandles].map((h) => h.stop())), sleep(STOP_TIMEOUT_MS)]);
  process.kill(process.pid, signal);
}

let hooked = false;

function installExitHooks(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function removeExitHooks(): void {
  if (!hooked) return;
  hooked = false;
  process.off('exit', onExit);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}
