/**
 * The pgdispatch instance both the worker processes and the orchestrator
 * build: the bench functions plus, when the library has it, the built-in
 * `webhook` function, allowed to reach the loopback receiver and sending up
 * to the worker concurrency per origin (its default of 10 per origin would
 * throttle a single-receiver benchmark; say so when quoting it).
 */
import type { Logger } from 'pino';
import type { Dispatch } from '../src/index.js';
import { registerFunctions } from './functions.js';
import { pgd } from './lib.js';

export const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

export function benchInstance(options: {
  connectionString: string | undefined;
  concurrency: number;
  logger?: Logger;
  maxPoolSize?: number;
}): { dispatch: Dispatch; fns: ReturnType<typeof registerFunctions> } {
  const dispatch = pgd.createDispatch({
    connectionString: options.connectionString,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.maxPoolSize ? { maxPoolSize: options.maxPoolSize } : {}),
    webhook: {
      secret: WEBHOOK_SECRET,
      allowPrivateNetworks: true,
      perOriginConcurrency: options.concurrency,
    },
  });
  return { dispatch, fns: registerFunctions(dispatch) };
}

/** Whether this build of pgdispatch has the built-in webhook function. */
export function hasWebhook(dispatch: Dispatch): boolean {
  return dispatch.functions.has('webhook');
}
