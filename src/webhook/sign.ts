/**
 * Standard Webhooks (https://www.standardwebhooks.com) signing and verification:
 * `webhook-signature: v1,<base64 HMAC-SHA256("<id>.<timestamp>.<body>")>`.
 * Interoperable with the reference `standardwebhooks` libraries.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

/** A signing secret: `whsec_<base64>`, bare base64, or the raw key bytes. */
export type WebhookSecret = string | Uint8Array;

export type WebhookHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

export type WebhookVerificationErrorCode =
  | 'WEBHOOK_MISSING_HEADERS'
  | 'WEBHOOK_INVALID_HEADERS'
  | 'WEBHOOK_TIMESTAMP_TOO_OLD'
  | 'WEBHOOK_TIMESTAMP_TOO_NEW'
  | 'WEBHOOK_INVALID_SIGNATURE'
  | 'WEBHOOK_INVALID_PAYLOAD';

/** Thrown by `verifyWebhook` when a delivery must not be trusted. */
export class WebhookVerificationError extends Error {
  readonly code: WebhookVerificationErrorCode;

  constructor(code: WebhookVerificationErrorCode, message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
    this.code = code;
  }
}

/** Thrown when a secret cannot be decoded: a configuration error, not a bad delivery. */
export class WebhookSecretError extends Error {
  readonly code = 'WEBHOOK_INVALID_SECRET';

  constructor(message: string) {
    super(message);
    this.name = 'WebhookSecretError';
  }
}

/** Decodes a secret to its key bytes. */
export function decodeSecret(secret: WebhookSecret): Buffer {
  if (typeof secret !== 'string') {
    if (secret.length === 0) throw new WebhookSecretError('webhook secret is empty');
    return Buffer.from(secret);
  }
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  // Buffer.from silently skips bad characters; a typo in a secret must fail loudly instead.
  if (!BASE64.test(encoded) || encoded.length % 4 === 1) {
    throw new WebhookSecretError('webhook secret is not whsec_<base64> or base64');
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length === 0) throw new WebhookSecretError('webhook secret is empty');
  return key;
}

/** A new random secret, `whsec_` + 24 random bytes in base64. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(24).toString('base64');
}

function toSeconds(timestamp: Date | number): number {
  const seconds = timestamp instanceof Date ? Math.floor(timestamp.getTime() / 1000) : timestamp;
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new RangeError(`webhook timestamp must be whole non-negative unix seconds: ${timestamp}`);
  }
  return seconds;
}

// Decoded keys of the secrets in use, so that a worker signing thousands of
// deliveries a second decodes each secret once. Bounded: secrets come from
// configuration and endpoint rows, but nothing stops a caller from passing many.
const decodedKeys = new Map<string, Buffer>();
const MAX_DECODED_KEYS = 256;

function signingKey(secret: WebhookSecret): Buffer {
  if (typeof secret !== 'string') return decodeSecret(secret);
  let key = decodedKeys.get(secret);
  if (!key) {
    key = decodeSecret(secret);
    if (decodedKeys.size >= MAX_DECODED_KEYS) decodedKeys.clear();
    decodedKeys.set(secret, key);
  }
  return key;
}

function hmac(key: Buffer, id: string, seconds: number, body: string | Uint8Array): string {
  return createHmac('sha256', key).update(`${id}.${seconds}.`).update(body).digest('base64');
}

function asList<T>(value: T | readonly T[]): readonly T[] {
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

export interface SignInput {
  /** The message id, stable across retries so receivers can deduplicate. */
  id: string;
  /** When this attempt is sent: a Date or unix seconds. */
  timestamp: Date | number;
  body: string | Uint8Array;
}

/**
 * Signs one delivery. Several secrets (during a rotation) give several
 * space-separated signatures; a receiver accepts any of them.
 *
 * @example
 * const headers = signWebhook('whsec_...', { id: 'msg_1', timestamp: new Date(), body });
 */
export function signWebhook(
  secret: WebhookSecret | readonly WebhookSecret[],
  input: SignInput,
): WebhookHeaders {
  const seconds = toSeconds(input.timestamp);
  return {
    'webhook-id': input.id,
    'webhook-timestamp': String(seconds),
    'webhook-signature': signature(asList(secret), input.id, seconds, input.body),
  };
}

/** The `webhook-signature` value: one `v1,<signature>` per secret, space-separated. */
export function signature(
  secrets: readonly WebhookSecret[],
  id: string,
  seconds: number,
  body: string | Uint8Array,
): string {
  if (secrets.length === 0) throw new WebhookSecretError('no webhook secret given');
  let value = `v1,${hmac(signingKey(secrets[0]!), id, seconds, body)}`;
  for (let i = 1; i < secrets.length; i++) {
    value += ` v1,${hmac(signingKey(secrets[i]!), id, seconds, body)}`;
  }
  return value;
}

export type HeaderSource =
  | Headers
  | Readonly<Record<string, string | readonly string[] | undefined>>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') {
    return (headers as Headers).get(name) ?? undefined;
  }
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (key.toLowerCase() !== name) continue;
    if (typeof value === 'string') return value;
    if (Array.isArray(value)) return value.join(' ');
  }
  return undefined;
}

export interface VerifyOptions {
  /** Accepted clock difference, in seconds, either way. (Default: 300) */
  tolerance?: number;
  /** The current time, a Date or unix seconds. (Default: now) */
  now?: Date | number;
  /** Parse the body as JSON and return it; false returns the body as a string. (Default: true) */
  jsonParse?: boolean;
}

/**
 * Checks a delivery's signature and timestamp, then returns its body (parsed
 * as JSON unless `jsonParse: false`; `undefined` for an empty body). Throws a
 * WebhookVerificationError otherwise.
 *
 * @example
 * const event = verifyWebhook(secret, req.headers, rawBody);
 */
export function verifyWebhook(
  secret: WebhookSecret | readonly WebhookSecret[],
  headers: HeaderSource,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): unknown {
  const id = header(headers, 'webhook-id');
  const timestampHeader = header(headers, 'webhook-timestamp');
  const signatureHeader = header(headers, 'webhook-signature');
  if (!id || !timestampHeader || !signatureHeader) {
    throw new WebhookVerificationError(
      'WEBHOOK_MISSING_HEADERS',
      'missing required webhook headers',
    );
  }
  if (!/^\d{1,15}$/.test(timestampHeader.trim())) {
    throw new WebhookVerificationError(
      'WEBHOOK_INVALID_HEADERS',
      'invalid webhook-timestamp header',
    );
  }
  const timestamp = Number(timestampHeader.trim());
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE_SECONDS;
  const now = options.now === undefined ? Date.now() / 1000 : toNowSeconds(options.now);
  if (Math.floor(now) - timestamp > tolerance) {
    throw new WebhookVerificationError('WEBHOOK_TIMESTAMP_TOO_OLD', 'webhook timestamp too old');
  }
  if (timestamp > Math.floor(now) + tolerance) {
    throw new WebhookVerificationError('WEBHOOK_TIMESTAMP_TOO_NEW', 'webhook timestamp too new');
  }

  const secrets = asList(secret);
  if (secrets.length === 0) throw new WebhookSecretError('no webhook secret given');
  const passed = signatureHeader
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3)));
  let matched = false;
  for (const s of secrets) {
    const expected = Buffer.from(hmac(signingKey(s), id, timestamp, body));
    for (const candidate of passed) {
      // No early exit: the time taken must not tell which candidate came close.
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) {
        matched = true;
      }
    }
  }
  if (!matched) {
    throw new WebhookVerificationError(
      'WEBHOOK_INVALID_SIGNATURE',
      'no matching webhook signature',
    );
  }

  const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
  if (options.jsonParse === false) return text;
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new WebhookVerificationError('WEBHOOK_INVALID_PAYLOAD', 'webhook body is not JSON');
  }
}

function toNowSeconds(now: Date | number): number {
  return now instanceof Date ? now.getTime() / 1000 : now;
}
