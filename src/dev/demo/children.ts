/**
 * The demo's child processes: started with piped output (each line goes to
 * the Output under the child's name), watched for lines, stopped by signal
 * with a deadline after which they are killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Output } from './output.js';

export interface Child {
  name: string;
  process: ChildProcess;
  /** Settles with the exit code or signal once the process has exited. */
  exited: Promise<number | string>;
  /** Resolves with the first JSON record (from now on) that `match` accepts. */
  waitFor(
    match: (record: Record<string, unknown>) => boolean,
    timeoutMs: number,
  ): Promise<Record<string, unknown>>;
  /** Last lines written, for error messages. */
  tail(): string;
}

export function startChild(
  name: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; output: Output },
): Child {
  const child = spawn(process.execPath, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const recent: string[] = [];
  const watchers = new Set<(record: Record<string, unknown>) => void>();
  const onLine = (line: string) => {
    recent.push(line);
    if (recent.length > 20) recent.shift();
    options.output.line(name, line);
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      return;
    }
    if (record && typeof record === 'object') {
      for (const watch of watchers) watch(record as Record<string, unknown>);
    }
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? code ?? -1));
    child.once('error', (err) => {
      onLine(`${name} could not start: ${err.message}`);
      resolve(-1);
    });
  });

  return {
    name,
    process: child,
    exited,
    tail: () => recent.join('\n'),
    waitFor(match, timeoutMs) {
      return new Promise((resolve, reject) => {
        const done = () => {
          watchers.delete(watch);
          clearTimeout(timer);
        };
        const watch = (record: Record<string, unknown>) => {
          if (!match(record)) return;
          done();
          resolve(record);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${name}: timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        watchers.add(watch);
        void exited.then((how) => {
          if (!watchers.has(watch)) return;
          done();
          reject(new Error(`${name} exited (${how}) early:\n${recent.join('\n')}`));
        });
      });
    },
  };
}

/** SIGTERM to each running child, SIGKILL to those still running after `graceMs`. */
export async function stopChildren(children: Child[], graceMs: number): Promise<void> {
  const running = children.filter(
    (c) => c.process.exitCode === null && c.process.signalCode === null,
  );
  for (const c of running) c.process.kill('SIGTERM');
  const all = Promise.all(running.map((c) => c.exited));
  const timer = setTimeout(() => {
    for (const c of running)
      if (c.process.exitCode === null && c.process.signalCode === null) c.process.kill('SIGKILL');
  }, graceMs);
  await all;
  clearTimeout(timer);
}
