/**
 * The schema as migrations and function files build it, compared with the
 * checked-in test/schema.snapshot.txt: every schema change shows in review,
 * and a graphile-worker upgrade that changes the tables pgdispatch writes
 * fails here.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { schemaSnapshot } from './support/schema-snapshot.js';

const SNAPSHOT = new URL('./schema.snapshot.txt', import.meta.url);

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

describe('schema snapshot', () => {
  it('matches test/schema.snapshot.txt', async () => {
    const actual = await schemaSnapshot(db.pool);
    if (process.env['UPDATE_SCHEMA_SNAPSHOT']) writeFileSync(SNAPSHOT, actual);
    let expected = '';
    try {
      expected = readFileSync(SNAPSHOT, 'utf8');
    } catch {
      // No snapshot yet: the comparison below says how to make one.
    }
    expect(
      actual,
      'the schema differs from test/schema.snapshot.txt; if the change is intended, run `npm run schema:snapshot` and commit the file',
    ).toBe(expected);
  });
});
