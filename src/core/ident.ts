import { DispatchError } from './errors.js';

/** SQL identifier and literal quoting for names that cannot be bound parameters. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function assertSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new DispatchError(
      'INVALID_CONFIG',
      `invalid schema name ${JSON.stringify(schema)}: use lower-case letters, digits and _`,
    );
  }
  return schema;
}
