/**
 * SSRF guard: decides which URLs and addresses a webhook may reach. Its
 * `lookup` plugs into net/tls/undici `connect.lookup`, so the check applies
 * to the very address the socket connects to (no DNS-rebinding gap between
 * a check and the connection). Literal IPs skip `lookup`: `checkUrl` covers them.
 */
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { OutcomeError } from '../core/outcome.js';
import { redactUrlsIn } from '../core/redact.js';
import {
  type AddressKind,
  type Cidr,
  classifyBytes,
  type IpBytes,
  inCidr,
  parseCidr,
  parseIp,
  unmapV4,
} from './ip.js';

export { type AddressKind, classifyAddress } from './ip.js';

export interface AddressGuardOptions {
  /**
   * Allow loopback, private, link-local, CGNAT and other non-public unicast
   * ranges (never multicast, broadcast or the unspecified address). (Default: false)
   */
  allowPrivateNetworks?: boolean;
  /**
   * Always allowed, whatever their class: CIDRs ('127.0.0.0/8'), single IPs,
   * or hostnames ('hooks.internal', '*.internal' for its subdomains). (Default: [])
   */
  allow?: readonly string[];
  /** Refuse plain http URLs. (Default: false) */
  httpsOnly?: boolean;
  /** Resolves a hostname to all its addresses. (Default: dns.lookup with `all: true`) */
  resolve?: ResolveFunction;
}

export type ResolveFunction = (
  hostname: string,
  options: Omit<LookupOptions, 'all'>,
) => Promise<LookupAddress[]>;

export type AddressRefusedCode = 'ADDRESS_REFUSED' | 'URL_REFUSED';

/** A URL or address the guard will not let a webhook reach. Outcome `invalid_argument`. */
export class AddressRefusedError extends OutcomeError {
  readonly code: AddressRefusedCode;
  readonly host: string;
  /** The refused address, when an address (not the URL itself) was refused. */
  readonly address: string | undefined;
  readonly kind: AddressKind | undefined;

  constructor(
    code: AddressRefusedCode,
    message: string,
    details: { host: string; address?: string; kind?: AddressKind },
  ) {
    super('invalid_argument', message);
    this.name = 'AddressRefusedError';
    this.code = code;
    this.host = details.host;
    this.address = details.address;
    this.kind = details.kind;
  }
}

/** Thrown by the constructor for an allow entry it cannot read. */
export class AddressGuardOptionError extends Error {
  readonly code = 'INVALID_CONFIG';

  constructor(message: string) {
    super(message);
    this.name = 'AddressGuardOptionError';
  }
}

const NEVER_BY_CLASS: ReadonlySet<AddressKind> = new Set<AddressKind>([
  'unspecified',
  'multicast',
  'broadcast',
  'invalid',
]);
const HOSTNAME =
  /^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

const defaultResolve: ResolveFunction = (hostname, options) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) reject(err);
      else resolve(addresses);
    });
  });

// Guards that share a resolver function share a key, hence a connection pool.
const resolverIds = new WeakMap<ResolveFunction, number>();
let lastResolverId = 0;
function resolverId(resolve: ResolveFunction | undefined): number {
  if (!resolve) return 0;
  let id = resolverIds.get(resolve);
  if (id === undefined) {
    id = ++lastResolverId;
    resolverIds.set(resolve, id);
  }
  return id;
}

function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

export class AddressGuard {
  /** Identifies the options, so that equal guards can share a connection pool. */
  readonly key: string;
  readonly #allowPrivate: boolean;
  readonly #httpsOnly: boolean;
  readonly #cidrs: Cidr[] = [];
  readonly #hosts = new Set<string>();
  readonly #suffixes: string[] = [];
  readonly #resolve: ResolveFunction;

  constructor(options: AddressGuardOptions = {}) {
    this.#allowPrivate = options.allowPrivateNetworks ?? false;
    this.#httpsOnly = options.httpsOnly ?? false;
    this.#resolve = options.resolve ?? defaultResolve;
    for (const entry of options.allow ?? []) {
      const range = parseCidr(entry.trim());
      if (range) {
        this.#cidrs.push(normalizeCidr(range));
        continue;
      }
      const host = normalizeHost(entry.trim());
      if (!HOSTNAME.test(host)) {
        throw new AddressGuardOptionError(`allow entry is not a CIDR, IP or hostname: ${entry}`);
      }
      if (host.startsWith('*.')) this.#suffixes.push(host.slice(1));
      else this.#hosts.add(host);
    }
    this.key = JSON.stringify([
      this.#allowPrivate,
      this.#httpsOnly,
      [...(options.allow ?? [])].sort(),
      resolverId(options.resolve),
    ]);
  }

  /** Whether every address of `host` is allowed because the host itself is listed. */
  isHostAllowed(host: string): boolean {
    const h = normalizeHost(host);
    return this.#hosts.has(h) || this.#suffixes.some((s) => h.endsWith(s));
  }

  /** Why `address` is refused for `host`, or undefined when it is allowed. */
  refusal(address: string, host = address): AddressRefusedError | undefined {
    return this.#refusal(address, parseIp(address), host);
  }

  #refusal(
    address: string,
    parsed: IpBytes | undefined,
    host: string,
  ): AddressRefusedError | undefined {
    if (this.isHostAllowed(host)) return undefined;
    const kind = parsed ? classifyBytes(parsed) : 'invalid';
    if (kind === 'public') return undefined;
    if (parsed && this.#cidrs.some((c) => inCidr(unmapV4(parsed), c))) return undefined;
    if (this.#allowPrivate && !NEVER_BY_CLASS.has(kind)) return undefined;
    const why =
      this.#allowPrivate || kind === 'invalid'
        ? kind
        : `${kind}; allow it with allow or allowPrivateNetworks`;
    return new AddressRefusedError(
      'ADDRESS_REFUSED',
      `refused to connect to ${host} at ${address}: address is ${why}`,
      { host, address, kind },
    );
  }

  /** Throws an AddressRefusedError if `address` is not allowed. */
  checkAddress(address: string, host = address): void {
    const refusal = this.refusal(address, host);
    if (refusal) throw refusal;
  }

  /**
   * Checks a URL before any connection: scheme, credentials, and the address
   * when the host is a literal IP (which `lookup` never sees). Returns it parsed.
   */
  checkUrl(input: string | URL): URL {
    let url: URL;
    try {
      // A URL object is checked as it is: the caller parsed it already.
      url = typeof input === 'string' ? new URL(input) : input;
    } catch {
      throw this.#urlRefused(String(input), 'is not a valid URL', '');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw this.#urlRefused(
        url.href,
        `has scheme ${url.protocol}, only http: and https: are sent`,
        url.hostname,
      );
    }
    if (this.#httpsOnly && url.protocol !== 'https:') {
      throw this.#urlRefused(url.href, 'is not https and httpsOnly is set', url.hostname);
    }
    if (url.username !== '' || url.password !== '') {
      throw this.#urlRefused(redactUrlsIn(url.href), 'carries credentials', url.hostname);
    }
    const host = normalizeHost(url.hostname);
    if (host === '') throw this.#urlRefused(url.href, 'has no host', host);
    const ip = parseIp(host);
    if (ip) {
      const refusal = this.#refusal(host, ip, host);
      if (refusal) throw refusal;
    }
    return url;
  }

  #urlRefused(href: string, why: string, host: string): AddressRefusedError {
    return new AddressRefusedError('URL_REFUSED', `refused URL ${href}: ${why}`, {
      host,
    });
  }

  /** Resolves `hostname` and checks every address it gives. */
  async resolve(
    hostname: string,
    options: Omit<LookupOptions, 'all'> = {},
  ): Promise<LookupAddress[]> {
    const addresses = parseIp(hostname)
      ? [{ address: normalizeHost(hostname), family: hostname.includes(':') ? 6 : 4 }]
      : await this.#resolve(hostname, options);
    // One bad record refuses the host: an attacker who controls the zone
    // would otherwise mix a public address with an internal one.
    for (const { address } of addresses) this.checkAddress(address, hostname);
    return addresses;
  }

  /** A drop-in for dns.lookup, for `net.connect`, `tls.connect` and undici's `connect.lookup`. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    const { all, ...rest } =
      typeof options === 'object' && options !== null ? options : ({} as LookupOptions);
    this.resolve(hostname, rest).then(
      (addresses) => {
        if (all) return callback(null, addresses);
        const first = addresses[0];
        if (!first) return callback(notFound(hostname), '', 0);
        callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, all ? [] : '', 0),
    );
  };
}

// '::ffff:127.0.0.0/104' is written for IPv4 peers; compare it as '127.0.0.0/8'.
function normalizeCidr(range: Cidr): Cidr {
  const v4 = unmapV4(range.bytes);
  if (v4.length === 4 && range.bytes.length === 16 && range.prefix >= 96) {
    return { bytes: v4, prefix: range.prefix - 96 };
  }
  return range;
}

function notFound(hostname: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
  err.code = 'ENOTFOUND';
  return err;
}
