import { quoteIdent } from '../core/ident.js';

export interface NamedQuery {
  name: string;
  text: string;
}

/**
 * What a statement file builds from: the quoted schema, and `q`, which names
 * a statement after itself and the schema so two schemas never share a plan.
 */
export interface Statements {
  s: string;
  q: (name: string, text: string) => NamedQuery;
}

export function statements(schema: string): Statements {
  return {
    s: quoteIdent(schema),
    q: (name, text) => ({ name: `pgd_${name}/${schema}`, text }),
  };
}

/** Filter shared by listings and bulk operations: $1 statuses, $2 function, $3 since (seconds). */
export const CALL_FILTER = `($1::text[] is null or c.status = any($1::text[]))
  and ($2::text is null or c.function = $2::text)
  and ($3::float8 is null or c.created_at >= now() - make_interval(secs => $3::float8))`;
