import type { Command } from '../common.js';
import { callsCommand } from './calls.js';
import { cancelCommand } from './cancel.js';
import { dashboardCommand } from './dashboard.js';
import { endpointsCommand } from './endpoints.js';
import { migrateCommand } from './migrate.js';
import { policiesCommand } from './policies.js';
import { pruneCommand } from './prune.js';
import { retryCommand } from './retry.js';
import { schedulesCommand } from './schedules.js';
import { showCommand } from './show.js';
import { signalCommand } from './signal.js';
import { statsCommand } from './stats.js';
import { workerCommand } from './worker.js';
import { workersCommand } from './workers.js';

export const commands: Record<string, Command> = {
  migrate: migrateCommand,
  worker: workerCommand,
  workers: workersCommand,
  calls: callsCommand,
  show: showCommand,
  stats: statsCommand,
  retry: retryCommand,
  cancel: cancelCommand,
  signal: signalCommand,
  policies: policiesCommand,
  endpoints: endpointsCommand,
  schedules: schedulesCommand,
  prune: pruneCommand,
  dashboard: dashboardCommand,
};
