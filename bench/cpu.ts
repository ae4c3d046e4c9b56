/**
 * CPU accounting on Linux (/proc): how many CPU-milliseconds the worker
 * processes, the Postgres server and the receiver spend per delivered call,
 * and how busy the rest of the machine was meanwhile (anything else running
 * competes for the same 2 cores, so a high "other" flags a noisy run).
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // CLK_TCK is 100 on Linux

export interface CpuUse {
  workersMs: number;
  postgresMs: number;
  receiverMs: number;
  /** Busy CPU time of the whole machine not spent by the above. */
  otherMs: number;
  wallMs: number;
}

interface Sample {
  workers: number;
  postgres: number;
  receiver: number;
  machine: number;
  at: number;
}

/** utime+stime (and cutime+cstime: reaped children) of a process, in ticks; 0 once it is gone. */
function procTicks(pid: number, withChildren = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the command: state is f[0], utime is field 14 overall = f[11].
    const own = Number(f[11]) + Number(f[12]);
    return withChildren ? own + Number(f[13]) + Number(f[14]) : own;
  } catch {
    return 0;
  }
}

function machineBusyTicks(): number {
  const cpu = readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  // user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait.
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  return total - cpu[3]! - cpu[4]!;
}

/** The postmaster listening on `port` (its command line names the port, as the embedded server's does). */
export function findPostmaster(port: number): number | undefined {
  if (process.platform !== 'linux') return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.endsWith('postgres') && cmd.includes(`port=${port}`)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

function children(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === ppid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export class CpuMeter {
  #start: Sample | undefined;

  constructor(
    private readonly postmaster: number | undefined,
    private readonly receiver: number | undefined,
    private readonly workers: () => number[],
  ) {}

  #sample(): Sample {
    const pg = this.postmaster;
    const postgres =
      pg === undefined
        ? 0
        : procTicks(pg, true) + children(pg).reduce((sum, pid) => sum + procTicks(pid), 0);
    return {
      workers: this.workers().reduce((sum, pid) => sum + procTicks(pid), 0),
      postgres,
      receiver: this.receiver === undefined ? 0 : procTicks(this.receiver),
      machine: machineBusyTicks(),
      at: performance.now(),
    };
  }

  start(): void {
    if (process.platform === 'linux') this.#start = this.#sample();
  }

  /** CPU used since start(); undefined off Linux. Call before the workers exit. */
  stop(): CpuUse | undefined {
    const a = this.#start;
    if (!a) return undefined;
    const b = this.#sample();
    const d = (k: keyof Omit<Sample, 'at'>) => (b[k] - a[k]) * TICK_MS;
    const ours = d('workers') + (this.postmaster === undefined ? 0 : d('postgres')) + d('receiver');
    return {
      workersMs: d('workers'),
      postgresMs: this.postmaster === undefined ? Number.NaN : d('postgres'),
      receiverMs: d('receiver'),
      otherMs: Math.max(0, d('machine') - ours),
      wallMs: b.at - a.at,
    };
  }
}
