/**
 * Child processes: the receiver, the workers and the bare HTTP loop each run
 * in their own node process (forked, so an IPC channel carries counts and
 * start times), with stdout and stderr going to a log file per process.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { type FromChild, isMessage } from './ipc.js';

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  /** Resolves with the first message (already received or to come) that matches. */
  waitFor<T extends FromChild['type']>(
    type: T,
    timeoutMs: number,
    match?: (m: Extract<FromChild, { type: T }>) => boolean,
  ): Promise<Extract<FromChild, { type: T }>>;
  send(msg: unknown): void;
  /** Closes IPC, sends SIGTERM, waits for the exit (SIGKILL after 15 s). */
  stop(): Promise<void>;
}

export interface ForkOptions {
  name: string;
  script: string;
  args?: string[];
  env?: Record<string, string>;
  logDir: string;
}

export function forkChild(o: ForkOptions): Child {
  const log = openSync(join(o.logDir, `${o.name}.log`), 'a');
  const proc = fork(o.script, o.args ?? [], {
    // For profiling the children, e.g. BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'.
    execArgv: (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean),
    env: { ...process.env, ...o.env },
    stdio: ['ignore', log, log, 'ipc'],
  });
  closeSync(log);
  const inbox: FromChild[] = [];
  const waiters = new Set<(m: FromChild) => boolean>();
  let exited = false;
  let exitInfo = '';
  proc.on('message', (m: unknown) => {
    if (!isMessage(m)) return;
    for (const w of waiters) if (w(m)) return;
    inbox.push(m);
  });
  const exit = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      exited = true;
      exitInfo = `exited with ${signal ?? code}`;
      resolve();
    });
  });

  const waitFor: Child['waitFor'] = (type, timeoutMs, match) => {
    type M = Extract<FromChild, { type: typeof type }>;
    const ok = (m: FromChild): m is M => m.type === type && (!match || match(m as M));
    const i = inbox.findIndex(ok);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0] as M);
    return new Promise<M>((resolve, reject) => {
      const waiter = (m: FromChild) => {
        if (!ok(m)) return false;
        done();
        resolve(m);
        return true;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${o.name}: no '${type}' message within ${timeoutMs} ms`));
      }, timeoutMs);
      const onExit = () => {
        done();
        reject(new Error(`${o.name} ${exitInfo} (see its log in ${o.logDir})`));
      };
      const done = () => {
        clearTimeout(timer);
        waiters.delete(waiter);
        proc.off('exit', onExit);
      };
      if (exited) return onExit();
      waiters.add(waiter);
      proc.once('exit', onExit);
    });
  };

  return {
    name: o.name,
    proc,
    waitFor,
    send(msg) {
      proc.send(msg as object);
    },
    async stop() {
      if (exited) return;
      if (proc.connected) proc.disconnect();
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exit;
      clearTimeout(timer);
    },
  };
}
