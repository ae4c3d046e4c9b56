import { Webhook, WebhookVerificationError as ReferenceVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  generateSecret,
  signWebhook,
  verifyWebhook,
  WebhookSecretError,
  WebhookVerificationError,
} from '../src/webhook/index.js';

// The example from the Standard Webhooks specification and its reference test suite.
const SPEC_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const SPEC_ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const SPEC_TIMESTAMP = 1614265330;
const SPEC_BODY = '{"test": 2432232314}';
const SPEC_SIGNATURE = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';

const now = Math.floor(Date.now() / 1000);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('signWebhook', () => {
  it('matches the signature of the specification example', () => {
    const headers = signWebhook(SPEC_SECRET, {
      id: SPEC_ID,
      timestamp: SPEC_TIMESTAMP,
      body: SPEC_BODY,
    });
    expect(headers).toEqual({
      'webhook-id': SPEC_ID,
      'webhook-timestamp': String(SPEC_TIMESTAMP),
      'webhook-signature': SPEC_SIGNATURE,
    });
  });

  it('accepts a Date, bare base64 secrets, raw key bytes and Buffer bodies', () => {
    const base = { id: SPEC_ID, timestamp: new Date(SPEC_TIMESTAMP * 1000 + 999), body: SPEC_BODY };
    const bare = SPEC_SECRET.slice('whsec_'.length);
    expect(signWebhook(bare, base)['webhook-signature']).toBe(SPEC_SIGNATURE);
    expect(signWebhook(Buffer.from(bare, 'base64'), base)['webhook-signature']).toBe(
      SPEC_SIGNATURE,
    );
    expect(
      signWebhook(SPEC_SECRET, { ...base, body: Buffer.from(SPEC_BODY) })['webhook-signature'],
    ).toBe(SPEC_SIGNATURE);
  });

  it('gives one signature per secret during a rotation', () => {
    const other = generateSecret();
    const headers = signWebhook([SPEC_SECRET, other], {
      id: SPEC_ID,
      timestamp: SPEC_TIMESTAMP,
      body: SPEC_BODY,
    });
    const [first, second] = headers['webhook-signature'].split(' ');
    expect(first).toBe(SPEC_SIGNATURE);
    expect(second).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
  });

  it('refuses malformed secrets and timestamps', () => {
    const input = { id: 'msg_1', timestamp: now, body: '{}' };
    expect(() => signWebhook('whsec_not base64!', input)).toThrow(WebhookSecretError);
    expect(codeOf(() => signWebhook('whsec_', input))).toBe('WEBHOOK_INVALID_SECRET');
    expect(() => signWebhook([], input)).toThrow(WebhookSecretError);
    expect(() => signWebhook(SPEC_SECRET, { ...input, timestamp: 1.5 })).toThrow(RangeError);
  });

  it('generates whsec_ secrets of 24 random bytes', () => {
    const a = generateSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(Buffer.from(a.slice(6), 'base64')).toHaveLength(24);
    expect(generateSecret()).not.toBe(a);
  });
});

describe('verifyWebhook', () => {
  const secret = generateSecret();
  const body = JSON.stringify({ type: 'order.paid', id: 42 });
  const signed = signWebhook(secret, { id: 'msg_42', timestamp: now, body });

  it('returns the parsed body of a valid delivery', () => {
    expect(verifyWebhook(secret, signed, body)).toEqual({ type: 'order.paid', id: 42 });
    expect(verifyWebhook(secret, signed, Buffer.from(body))).toEqual({
      type: 'order.paid',
      id: 42,
    });
    expect(verifyWebhook(secret, signed, body, { jsonParse: false })).toBe(body);
  });

  it('reads headers case-insensitively, from objects and Headers', () => {
    const upper = Object.fromEntries(Object.entries(signed).map(([k, v]) => [k.toUpperCase(), v]));
    expect(verifyWebhook(secret, upper, body)).toEqual({ type: 'order.paid', id: 42 });
    expect(verifyWebhook(secret, new Headers(signed), body)).toEqual({
      type: 'order.paid',
      id: 42,
    });
  });

  it('accepts any of several secrets and any of several signatures', () => {
    const old = generateSecret();
    const rotated = signWebhook([old, secret], { id: 'msg_42', timestamp: now, body });
    expect(verifyWebhook(secret, rotated, body)).toBeTruthy();
    expect(verifyWebhook([generateSecret(), secret], signed, body)).toBeTruthy();
    const withForeign = {
      ...signed,
      'webhook-signature': `v1a,abc ${signed['webhook-signature']}`,
    };
    expect(verifyWebhook(secret, withForeign, body)).toBeTruthy();
  });

  it('fails with a stable code for each reason', () => {
    const { 'webhook-signature': _, ...missing } = signed;
    expect(codeOf(() => verifyWebhook(secret, missing, body))).toBe('WEBHOOK_MISSING_HEADERS');
    expect(
      codeOf(() => verifyWebhook(secret, { ...signed, 'webhook-timestamp': 'soon' }, body)),
    ).toBe('WEBHOOK_INVALID_HEADERS');
    expect(codeOf(() => verifyWebhook(secret, signed, `${body} `))).toBe(
      'WEBHOOK_INVALID_SIGNATURE',
    );
    expect(codeOf(() => verifyWebhook(generateSecret(), signed, body))).toBe(
      'WEBHOOK_INVALID_SIGNATURE',
    );
    expect(codeOf(() => verifyWebhook(secret, { ...signed, 'webhook-id': 'msg_43' }, body))).toBe(
      'WEBHOOK_INVALID_SIGNATURE',
    );
    const v2 = {
      ...signed,
      'webhook-signature': signed['webhook-signature'].replace('v1,', 'v2,'),
    };
    expect(codeOf(() => verifyWebhook(secret, v2, body))).toBe('WEBHOOK_INVALID_SIGNATURE');
    const notJson = signWebhook(secret, { id: 'm', timestamp: now, body: 'plain' });
    expect(codeOf(() => verifyWebhook(secret, notJson, 'plain'))).toBe('WEBHOOK_INVALID_PAYLOAD');
    expect(() => verifyWebhook(secret, missing, body)).toThrow(WebhookVerificationError);
  });

  it('enforces the timestamp tolerance both ways', () => {
    expect(codeOf(() => verifyWebhook(secret, signed, body, { now: now + 301 }))).toBe(
      'WEBHOOK_TIMESTAMP_TOO_OLD',
    );
    expect(codeOf(() => verifyWebhook(secret, signed, body, { now: now - 301 }))).toBe(
      'WEBHOOK_TIMESTAMP_TOO_NEW',
    );
    expect(verifyWebhook(secret, signed, body, { now: new Date((now + 299) * 1000) })).toBeTruthy();
    expect(
      codeOf(() => verifyWebhook(secret, signed, body, { now: now + 11, tolerance: 10 })),
    ).toBe('WEBHOOK_TIMESTAMP_TOO_OLD');
  });

  it('returns undefined for an empty body', () => {
    const empty = signWebhook(secret, { id: 'm', timestamp: now, body: '' });
    expect(verifyWebhook(secret, empty, '')).toBeUndefined();
  });
});

describe('interoperability with the standardwebhooks package', () => {
  const secret = generateSecret();
  const body = JSON.stringify({ hello: 'wörld', n: [1, 2, 3] });

  it('the reference library verifies what we sign', () => {
    const headers = signWebhook(secret, { id: 'msg_ref_1', timestamp: new Date(), body });
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(new Webhook(secret).verify(Buffer.from(body), headers)).toEqual(JSON.parse(body));
  });

  it('the reference library verifies a rotation header when it knows only the new secret', () => {
    const headers = signWebhook([generateSecret(), secret], {
      id: 'msg_ref_2',
      timestamp: now,
      body,
    });
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('the reference library rejects what we sign with another secret', () => {
    const headers = signWebhook(generateSecret(), { id: 'msg_ref_3', timestamp: now, body });
    expect(() => new Webhook(secret).verify(body, headers)).toThrow(ReferenceVerificationError);
  });

  it('we verify what the reference library signs, and produce the same signature', () => {
    const wh = new Webhook(secret);
    const timestamp = new Date();
    const signature = wh.sign('msg_ref_4', timestamp, body);
    const headers = {
      'webhook-id': 'msg_ref_4',
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': signature,
    };
    expect(verifyWebhook(secret, headers, body)).toEqual(JSON.parse(body));
    expect(signWebhook(secret, { id: 'msg_ref_4', timestamp, body })['webhook-signature']).toBe(
      signature,
    );
  });
});
