import { type DestinationStream, type Logger, pino } from 'pino';
import { isSecretName, REDACTED } from './redact.js';

export { REDACTED };

/*
 * What is never written to logs, whatever a caller passes: the fields whose
 * names core/redact.ts calls secret (`secret`, `password`, `apiKey`…) at the
 * top of a log line and one level down (`endpoint.secret`), and secret
 * headers there (`headers.authorization`, `request.headers.cookie`).
 */

/**
 * The default logger: JSON lines on standard output at LOG_LEVEL (info),
 * secrets redacted, written once per turn of the event loop.
 */
export function defaultLogger(destination: DestinationStream = stdoutByTurn()): Logger {
  const logger = pino(
    {
      name: 'pgdispatch',
      level: process.env.LOG_LEVEL ?? 'info',
      // A formatter instead of pino's `redact`, whose wildcard paths run a
      // stringifier on every field of every line: this returns the object
      // untouched unless it finds something to hide.
      formatters: { log: redactSecrets },
    },
    destination,
  );
  // pino applies no formatter to a child's bindings: redact them on the way
  // in. Children inherit this method, so grandchildren are covered too.
  const child = logger.child;
  logger.child = function (this: Logger, bindings, options) {
    return child.call(this, redactSecrets(bindings), options);
  } as Logger['child'];
  return logger;
}

/** The object with every secret the logger must not write replaced by `[redacted]`; a copy only if it had one. */
export function redactSecrets(obj: Record<string, unknown>): Record<string, unknown> {
  let out = obj;
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    let safe = value;
    if (isSecretName(key)) safe = REDACTED;
    else if (key === 'headers') safe = redactNested(redactSecretHeaders(value));
    else safe = redactNested(value);
    if (safe !== value) {
      if (out === obj) out = copyOf(obj);
      out[key] = safe;
    }
  }
  return out;
}

/** One level down: secret names, secret headers. */
function redactNested(value: unknown): unknown {
  if (!isObject(value)) return value;
  let out = value;
  for (const key of Object.keys(value)) {
    const inner = value[key];
    let safe = inner;
    if (isSecretName(key)) safe = REDACTED;
    else if (key === 'headers') safe = redactSecretHeaders(inner);
    if (safe !== inner) {
      if (out === value) out = copyOf(value);
      out[key] = safe;
    }
  }
  return out;
}

function redactSecretHeaders(headers: unknown): unknown {
  if (!isObject(headers)) return headers;
  let out = headers;
  for (const name of Object.keys(headers)) {
    if (!isSecretName(name)) continue;
    if (out === headers) out = copyOf(headers);
    out[name] = REDACTED;
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** A shallow copy keeping the prototype and non-enumerable fields (an Error's message and stack). */
function copyOf<T extends object>(value: T): Record<string, unknown> {
  if (Array.isArray(value)) return [...value] as unknown as Record<string, unknown>;
  return Object.create(
    Object.getPrototypeOf(value),
    Object.getOwnPropertyDescriptors(value),
  ) as Record<string, unknown>;
}

let stdout: DestinationStream | undefined;

/**
 * Standard output, written once per turn of the event loop: the attempt
 * lines of one group commit go out in one write instead of one each. Lines
 * are written before the process exits; a SIGKILL loses at most the current
 * turn's.
 */
function stdoutByTurn(): DestinationStream {
  if (stdout) return stdout;
  const out = pino.destination({ dest: 1, sync: true });
  let lines: string[] = [];
  let queued = false;
  const flush = () => {
    queued = false;
    if (lines.length === 0) return;
    const text = lines.join('');
    lines = [];
    out.write(text);
  };
  process.on('exit', flush);
  stdout = {
    write(line: string) {
      lines.push(line);
      if (!queued) {
        queued = true;
        setImmediate(flush);
      }
    },
  };
  return stdout;
}
