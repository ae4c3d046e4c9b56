/**
 * How every statement is named: after itself and the schema, so two schemas
 * never share a plan. With `prepared` false the statements are unnamed: a
 * pooler in transaction mode (PgBouncer before 1.21) hands a session's
 * statements to other clients, and a named one then exists twice (42P05) or
 * not at all (26000).
 */
import { quoteIdent } from './ident.js';

export interface NamedQuery {
  /** Absent when prepared statements are off: pg then sends an unnamed statement. */
  name?: string;
  text: string;
}

/** What a statement file builds from: the quoted schema, and `q`, which names a statement. */
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
