/**
 * IP address parsing, CIDR matching and classification (IANA special-purpose
 * registries), as pure functions. Anything an attacker could point a webhook
 * at inside our own network must come out as something other than 'public'.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type AddressKind =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'cgnat'
  | 'multicast'
  | 'broadcast'
  | 'unspecified'
  | 'documentation'
  | 'benchmarking'
  | 'reserved'
  | 'invalid';

/** An address as bytes: 4 for IPv4, 16 for IPv6. */
export type IpBytes = Uint8Array;

/** Parses an IPv4 or IPv6 literal (brackets and a `%zone` allowed); undefined if it is not one. */
export function parseIp(input: string): IpBytes | undefined {
  let text = input.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  if (isIPv4(text)) return parseV4(text);
  if (isIPv6(text)) return parseV6(text);
  return undefined;
}

// Only for text isIPv4 accepted: four decimal parts of 0-255.
function parseV4(text: string): IpBytes {
  const bytes = new Uint8Array(4);
  let part = 0;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      bytes[part++] = value;
      value = 0;
    } else value = value * 10 + (c - 48);
  }
  bytes[part] = value;
  return bytes;
}

function parseV6(text: string): IpBytes {
  // A trailing dotted quad (::ffff:1.2.3.4) is two more hex words.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  let hex = text;
  if (tail.includes('.')) {
    const [a = 0, b = 0, c = 0, d = 0] = parseV4(tail);
    hex = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = hex.split('::') as [string, string | undefined];
  const headWords = head === '' ? [] : head.split(':');
  const restWords = rest === undefined || rest === '' ? [] : rest.split(':');
  const zeros = new Array<string>(8 - headWords.length - restWords.length).fill('0');
  const words = rest === undefined ? headWords : [...headWords, ...zeros, ...restWords];
  const bytes = new Uint8Array(16);
  words.forEach((word, i) => {
    const value = Number.parseInt(word, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  return bytes;
}

export interface Cidr {
  bytes: IpBytes;
  prefix: number;
}

/** Parses `a.b.c.d/n`, `x::/n` or a single address (a /32 or /128). */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.lastIndexOf('/');
  const bytes = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (!bytes) return undefined;
  const max = bytes.length * 8;
  if (slash === -1) return { bytes, prefix: max };
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > max) return undefined;
  return { bytes, prefix };
}

/** Whether `bytes` lies in `cidr` (same family only). */
export function inCidr(bytes: IpBytes, cidr: Cidr): boolean {
  if (bytes.length !== cidr.bytes.length) return false;
  let bits = cidr.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((bytes[i] ?? 0) & mask) !== ((cidr.bytes[i] ?? 0) & mask)) return false;
  }
  return true;
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), if it is one. */
export function unmapV4(bytes: IpBytes): IpBytes {
  return bytes.length === 16 && inCidr(bytes, MAPPED) ? bytes.slice(12) : bytes;
}

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (!parsed) throw new Error(`bad built-in CIDR ${text}`);
  return parsed;
}

const MAPPED = cidr('::ffff:0:0/96');

// Most specific first: the first match wins.
const V4: ReadonlyArray<readonly [Cidr, AddressKind]> = [
  [cidr('0.0.0.0/32'), 'unspecified'],
  [cidr('0.0.0.0/8'), 'reserved'],
  [cidr('10.0.0.0/8'), 'private'],
  [cidr('100.64.0.0/10'), 'cgnat'],
  [cidr('127.0.0.0/8'), 'loopback'],
  [cidr('169.254.0.0/16'), 'link_local'],
  [cidr('172.16.0.0/12'), 'private'],
  [cidr('192.0.0.0/24'), 'reserved'],
  [cidr('192.0.2.0/24'), 'documentation'],
  [cidr('192.88.99.0/24'), 'reserved'],
  [cidr('192.168.0.0/16'), 'private'],
  [cidr('198.18.0.0/15'), 'benchmarking'],
  [cidr('198.51.100.0/24'), 'documentation'],
  [cidr('203.0.113.0/24'), 'documentation'],
  [cidr('224.0.0.0/4'), 'multicast'],
  [cidr('255.255.255.255/32'), 'broadcast'],
  [cidr('240.0.0.0/4'), 'reserved'],
];

/**
 * IPv6 ranges that carry an IPv4 address: the embedded address decides,
 * since a translator or tunnel may deliver the packet to it. `ifPublic` is
 * the kind when the embedded address is public.
 */
const V6_EMBEDDING: ReadonlyArray<{ range: Cidr; offset: number; ifPublic: AddressKind }> = [
  { range: MAPPED, offset: 12, ifPublic: 'public' },
  { range: cidr('::ffff:0:0:0/96'), offset: 12, ifPublic: 'reserved' }, // SIIT (RFC 2765)
  { range: cidr('64:ff9b::/96'), offset: 12, ifPublic: 'public' }, // NAT64 well-known
  { range: cidr('64:ff9b:1::/48'), offset: 12, ifPublic: 'private' }, // local-use NAT64
  { range: cidr('2002::/16'), offset: 2, ifPublic: 'public' }, // 6to4
];

const V6: ReadonlyArray<readonly [Cidr, AddressKind]> = [
  [cidr('::/128'), 'unspecified'],
  [cidr('::1/128'), 'loopback'],
  [cidr('100::/64'), 'reserved'], // discard-only
  [cidr('2001::/32'), 'reserved'], // Teredo: the client address is obfuscated, trust none
  [cidr('2001:2::/48'), 'benchmarking'],
  [cidr('2001::/23'), 'reserved'], // IETF protocol assignments
  [cidr('2001:db8::/32'), 'documentation'],
  [cidr('3fff::/20'), 'documentation'],
  [cidr('fc00::/7'), 'private'], // unique local
  [cidr('fe80::/10'), 'link_local'],
  [cidr('fec0::/10'), 'private'], // site-local, deprecated
  [cidr('ff00::/8'), 'multicast'],
];

const GLOBAL_UNICAST_V6 = cidr('2000::/3');
const COMPAT_V6 = cidr('::/96'); // IPv4-compatible, deprecated

/** Classifies an address; anything not `public` must not be reached by default. */
export function classifyAddress(ip: string): AddressKind {
  const bytes = parseIp(ip);
  return bytes ? classifyBytes(bytes) : 'invalid';
}

export function classifyBytes(bytes: IpBytes): AddressKind {
  if (bytes.length === 4) {
    for (const [range, kind] of V4) if (inCidr(bytes, range)) return kind;
    return 'public';
  }
  for (const [range, kind] of V6) if (inCidr(bytes, range)) return kind;
  for (const { range, offset, ifPublic } of V6_EMBEDDING) {
    if (!inCidr(bytes, range)) continue;
    const inner = classifyBytes(bytes.slice(offset, offset + 4));
    return inner === 'public' ? ifPublic : inner;
  }
  if (inCidr(bytes, COMPAT_V6)) {
    const inner = classifyBytes(bytes.slice(12));
    return inner === 'public' ? 'reserved' : inner;
  }
  return inCidr(bytes, GLOBAL_UNICAST_V6) ? 'public' : 'reserved';
}
