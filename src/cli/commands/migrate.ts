import { pino } from 'pino';
import { parseArgs } from 'node:util';
import {
  type Command,
  CONNECTION_OPTIONS,
  CONNECTION_USAGE,
  connect,
  withUsage,
} from '../common.js';
import { JSON_USAGE, printJson } from '../json.js';

const usage = `Usage: pgdispatch migrate [options]

Creates or upgrades the pgdispatch schema (and graphile-worker's). Safe to run
again (a no-op when up to date) and from several processes at once.

Options:
${JSON_USAGE}
${CONNECTION_USAGE}`;

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'create or upgrade the database schema',
  usage,
  async run(args) {
    const { values } = withUsage(usage, () =>
      parseArgs({
        args,
        options: { ...CONNECTION_OPTIONS, json: { type: 'boolean' } },
        strict: true,
      }),
    );
    // The summary line below says what happened; per-migration log lines would only repeat it.
    const dispatch = connect(values, pino({ level: 'warn' }));
    try {
      const { applied } = await dispatch.migrate();
      if (values.json) {
        printJson({ action: 'migrate', schema: dispatch.schema, applied });
        return 0;
      }
      console.log(
        applied.length === 0
          ? `schema ${dispatch.schema} is up to date`
          : `applied ${applied.length} migration(s) to schema ${dispatch.schema}: ${applied.join(', ')}`,
      );
      return 0;
    } finally {
      await dispatch.close();
    }
  },
};
