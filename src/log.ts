import { type Logger, pino } from 'pino';

/** Paths never written to logs, whatever a caller passes. */
export const REDACT_PATHS = [
  'secret',
  'secrets',
  '*.secret',
  '*.secrets',
  'headers.authorization',
  '*.headers.authorization',
  'password',
  'connectionString',
];

export function defaultLogger(): Logger {
  return pino({
    name: 'pgdispatch',
    level: process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  });
}
