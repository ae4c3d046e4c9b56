import type { Command } from '../common.js';
import { migrateCommand } from './migrate.js';
import { workerCommand } from './worker.js';

export const commands: Record<string, Command> = {
  migrate: migrateCommand,
  worker: workerCommand,
};
