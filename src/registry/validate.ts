/**
 * Input validation at dispatch: a function's `validate` is either a check
 * that throws, or a Standard Schema (Zod, Valibot, ArkType…) whose output is
 * what the call stores, so a schema's defaults and transforms apply once,
 * before the call exists.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { DispatchError } from '../core/errors.js';

/** A check that throws to refuse an input, or a Standard Schema. */
export type Validator = ((input: unknown) => void) | StandardSchemaV1;

export function isStandardSchema(v: unknown): v is StandardSchemaV1 {
  return (
    (typeof v === 'object' || typeof v === 'function') &&
    v !== null &&
    typeof (v as Partial<StandardSchemaV1>)['~standard']?.validate === 'function'
  );
}

/**
 * The input to store for a call of `name`: the schema's output, or the input
 * itself after a check. A refusal is an INVALID_INPUT DispatchError naming
 * each issue's path. A schema that validates asynchronously gives a promise.
 */
export function validateInput(
  name: string,
  validate: Validator,
  input: unknown,
): unknown | Promise<unknown> {
  if (!isStandardSchema(validate)) {
    try {
      validate(input);
    } catch (err) {
      if (err instanceof DispatchError) throw err;
      throw new DispatchError('INVALID_INPUT', `${name}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return input;
  }
  const result = validate['~standard'].validate(input);
  return result instanceof Promise
    ? result.then((r) => schemaValue(name, r))
    : schemaValue(name, result);
}

function schemaValue(name: string, result: StandardSchemaV1.Result<unknown>): unknown {
  if (!result.issues) return result.value;
  const issues = result.issues.map((i) => {
    const path = (i.path ?? [])
      .map((p) => String(typeof p === 'object' && p !== null ? p.key : p))
      .join('.');
    return path ? `${path}: ${i.message}` : i.message;
  });
  throw new DispatchError('INVALID_INPUT', `${name}: invalid input: ${issues.join('; ')}`, {
    cause: result.issues,
  });
}
