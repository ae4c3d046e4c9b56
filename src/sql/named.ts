import { quoteIdent } from '../core/ident.js';

export interface NamedQuery {
  /** Absent when prepared statements are off: pg then sends an unnamed statement. */
  name?: string;
  text: string;
}

/**
 * What a statement file builds from: the quoted schema, and `q`, which names
 * a statement after itself and the schema so two schemas never share a plan.
 * With `prepared` false the statements are unnamed: a pooler in transaction
 * mode (PgBouncer before 1.21) hands a session's statements to other
 * clients, and a named one then exists twice (42P05) or not at all (26000).
 */
export interface Statements {
  s: string;
  q: (name: string, text: string) => NamedQuery;
}

export function statements(schema: string, prepared = true): Statements {
  return {
    s: quoteIdent(schema),
    q: (name, text) => (prepared ? { name: `pgd_${name}/${schema}`, text } : { text }),
  };
}

/** Filter shared by listings and bulk operations: $1 statuses, $2 function, $3 since (seconds). */
export const CALL_FILTER = `($1::text[] is null or c.status = any($1::text[]))
  and ($2::text is null or c.function = $2::text)
  and ($3::float8 is null or c.created_at >= now() - make_interval(secs => $3::float8))`;
