export { type NamedQuery, type Statements, statements } from '../core/statement.js';

/** Filter shared by listings and bulk operations: $1 statuses, $2 function, $3 since (seconds). */
export const CALL_FILTER = `($1::text[] is null or c.status = any($1::text[]))
  and ($2::text is null or c.function = $2::text)
  and ($3::float8 is null or c.created_at >= now() - make_interval(secs => $3::float8))`;
