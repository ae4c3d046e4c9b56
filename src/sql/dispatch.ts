/** Dispatching, registering functions, cancelling and retrying one call. */
import type { Statements } from './named.js';

export const dispatchStatements = ({ s, q }: Statements) => ({
  dispatch: q('dispatch', `select ${s}.dispatch($1, $2::jsonb, $3::jsonb) as id`),
  dispatchMany: q('dispatch_many', `select ${s}.dispatch_many($1, $2::jsonb, $3::jsonb) as id`),
  registerFunctions: q('register_functions', `select ${s}.register_functions($1::jsonb, $2)`),
  cancelCall: q('cancel_call', `select ${s}.cancel_call($1, $2, $3) as cancelled`),
  retryCall: q('retry_call', `select ${s}.retry_call($1, $2) as retried`),
});
