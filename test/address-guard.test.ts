import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import {
  AddressGuard,
  AddressGuardOptionError,
  AddressRefusedError,
  type AddressKind,
  classifyAddress,
} from '../src/webhook/index.js';

const CASES: ReadonlyArray<readonly [string, AddressKind]> = [
  // IPv4
  ['8.8.8.8', 'public'],
  ['1.1.1.1', 'public'],
  ['93.184.216.34', 'public'],
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'reserved'],
  ['10.0.0.1', 'private'],
  ['10.255.255.255', 'private'],
  ['100.63.255.255', 'public'],
  ['100.64.0.1', 'cgnat'],
  ['100.127.255.255', 'cgnat'],
  ['100.128.0.0', 'public'],
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['169.254.169.254', 'link_local'],
  ['169.254.0.1', 'link_local'],
  ['172.15.255.255', 'public'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['172.32.0.0', 'public'],
  ['192.0.0.8', 'reserved'],
  ['192.0.2.1', 'documentation'],
  ['192.88.99.1', 'reserved'],
  ['192.168.1.1', 'private'],
  ['198.18.0.1', 'benchmarking'],
  ['198.19.255.255', 'benchmarking'],
  ['198.20.0.0', 'public'],
  ['198.51.100.7', 'documentation'],
  ['203.0.113.9', 'documentation'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['240.0.0.1', 'reserved'],
  ['255.255.255.254', 'reserved'],
  ['255.255.255.255', 'broadcast'],
  // IPv6
  ['::', 'unspecified'],
  ['::1', 'loopback'],
  ['[::1]', 'loopback'],
  ['2606:4700:4700::1111', 'public'],
  ['2a00:1450:4001:82b::200e', 'public'],
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['::ffff:169.254.169.254', 'link_local'],
  ['::ffff:10.0.0.1', 'private'],
  ['::ffff:8.8.8.8', 'public'],
  ['::ffff:0:127.0.0.1', 'loopback'],
  ['::127.0.0.1', 'loopback'],
  ['::8.8.8.8', 'reserved'],
  ['64:ff9b::8.8.8.8', 'public'],
  ['64:ff9b::a9fe:a9fe', 'link_local'],
  ['64:ff9b:1::10.0.0.1', 'private'],
  ['2002:7f00:1::1', 'loopback'],
  ['2002:c0a8:101::1', 'private'],
  ['2002:808:808::1', 'public'],
  ['2001:0:4136:e378::1', 'reserved'],
  ['2001:2::1', 'benchmarking'],
  ['2001:db8::1', 'documentation'],
  ['3fff::1', 'documentation'],
  ['100::1', 'reserved'],
  ['fc00::1', 'private'],
  ['fd12:3456:789a::1', 'private'],
  ['fe80::1', 'link_local'],
  ['fe80::1%eth0', 'link_local'],
  ['febf::1', 'link_local'],
  ['fec0::1', 'private'],
  ['ff02::1', 'multicast'],
  ['4000::1', 'reserved'],
  ['1:2:3:4:5:6:7:8', 'reserved'],
  // Not addresses
  ['localhost', 'invalid'],
  ['', 'invalid'],
  ['127.1', 'invalid'],
  ['1.2.3.256', 'invalid'],
  ['::ffff:1.2.3', 'invalid'],
];

describe('classifyAddress', () => {
  it.each(CASES)('%s is %s', (ip, kind) => {
    expect(classifyAddress(ip)).toBe(kind);
  });
});

function refusalCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('AddressGuard.checkUrl', () => {
  const guard = new AddressGuard();

  it('lets public http and https URLs through, parsed', () => {
    expect(guard.checkUrl('https://example.com/hook').hostname).toBe('example.com');
    expect(guard.checkUrl('http://8.8.8.8:8080/x').port).toBe('8080');
  });

  it('refuses other schemes, credentials, bad URLs and plain http when httpsOnly', () => {
    for (const url of [
      'ftp://example.com/',
      'file:///etc/passwd',
      'gopher://example.com',
      'not a url',
    ]) {
      expect(refusalCode(() => guard.checkUrl(url))).toBe('URL_REFUSED');
    }
    expect(() => guard.checkUrl('https://user:pw@example.com/')).toThrow(/credentials/);
    expect(() => guard.checkUrl('https://user:pw@example.com/')).not.toThrow(/pw/);
    const httpsOnly = new AddressGuard({ httpsOnly: true });
    expect(refusalCode(() => httpsOnly.checkUrl('http://example.com/'))).toBe(
      'URL_REFUSED',
    );
    expect(httpsOnly.checkUrl('https://example.com/').protocol).toBe('https:');
  });

  it('checks literal IP hosts, in every spelling the URL parser accepts', () => {
    for (const url of [
      'http://127.0.0.1/',
      'http://2130706433/',
      'http://0x7f.1/',
      'http://0177.0.0.1/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://[::ffff:169.254.169.254]/latest/meta-data',
      'http://169.254.169.254/',
      'http://0.0.0.0:8080/',
      'http://[fe80::1]/',
      'http://10.1.2.3/',
    ]) {
      expect(
        refusalCode(() => guard.checkUrl(url)),
        url,
      ).toBe('ADDRESS_REFUSED');
    }
  });

  it('refusals are invalid_argument outcomes naming host, address and reason', () => {
    try {
      guard.checkUrl('http://169.254.169.254/');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(AddressRefusedError);
      const refused = err as AddressRefusedError;
      expect(refused.status).toBe('invalid_argument');
      expect(refused.kind).toBe('link_local');
      expect(refused.message).toContain('169.254.169.254');
      expect(refused.message).toContain('link_local');
    }
  });
});

describe('AddressGuard allow rules', () => {
  it('allows listed CIDRs and single IPs only', () => {
    const guard = new AddressGuard({ allow: ['127.0.0.0/8', '10.1.2.3', 'fd00::/8'] });
    expect(guard.refusal('127.0.0.1')).toBeUndefined();
    expect(guard.refusal('::ffff:127.0.0.1')).toBeUndefined();
    expect(guard.refusal('10.1.2.3')).toBeUndefined();
    expect(guard.refusal('10.1.2.4')).toBeInstanceOf(AddressRefusedError);
    expect(guard.refusal('fd12::1')).toBeUndefined();
    expect(guard.refusal('::1')).toBeInstanceOf(AddressRefusedError);
    expect(guard.refusal('169.254.169.254')).toBeInstanceOf(AddressRefusedError);
  });

  it('allowPrivateNetworks allows non-public unicast but not multicast, broadcast or 0.0.0.0', () => {
    const guard = new AddressGuard({ allowPrivateNetworks: true });
    for (const ip of [
      '127.0.0.1',
      '::1',
      '10.0.0.1',
      '192.168.0.1',
      '100.64.0.1',
      'fd00::1',
      'fe80::1',
    ]) {
      expect(guard.refusal(ip), ip).toBeUndefined();
    }
    for (const ip of ['224.0.0.1', '255.255.255.255', '0.0.0.0', '::', 'ff02::1']) {
      expect(guard.refusal(ip), ip).toBeInstanceOf(AddressRefusedError);
    }
  });

  it('allows listed hostnames and their wildcard subdomains, whatever they resolve to', () => {
    const guard = new AddressGuard({ allow: ['hooks.internal', '*.svc.local'] });
    expect(guard.refusal('10.0.0.5', 'hooks.internal')).toBeUndefined();
    expect(guard.refusal('10.0.0.5', 'HOOKS.internal.')).toBeUndefined();
    expect(guard.refusal('10.0.0.5', 'a.b.svc.local')).toBeUndefined();
    expect(guard.refusal('10.0.0.5', 'svc.local')).toBeInstanceOf(AddressRefusedError);
    expect(guard.refusal('10.0.0.5', 'evilhooks.internal')).toBeInstanceOf(AddressRefusedError);
  });

  it('rejects allow entries it cannot read', () => {
    expect(() => new AddressGuard({ allow: ['10.0.0.0/33'] })).toThrow(AddressGuardOptionError);
    expect(() => new AddressGuard({ allow: ['http://x'] })).toThrow(AddressGuardOptionError);
  });
});

type LookupResult = { err: NodeJS.ErrnoException | null; address: unknown; family?: number };

function lookup(guard: AddressGuard, host: string, all: boolean): Promise<LookupResult> {
  return new Promise((resolve) => {
    guard.lookup(host, { all }, (err, address, family) => resolve({ err, address, family }));
  });
}

function staticResolver(table: Record<string, LookupAddress[]>) {
  return async (hostname: string): Promise<LookupAddress[]> => {
    const found = table[hostname];
    if (found) return found;
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  };
}

describe('AddressGuard.lookup', () => {
  it('refuses a hostname that resolves to loopback (real DNS: localhost)', async () => {
    const { err } = await lookup(new AddressGuard(), 'localhost', true);
    expect(err).toBeInstanceOf(AddressRefusedError);
    expect(err?.code).toBe('ADDRESS_REFUSED');
    expect(err?.message).toMatch(/localhost at (127\.0\.0\.1|::1): address is loopback/);
  });

  it('answers in both the all and the single-address forms', async () => {
    const guard = new AddressGuard({ allow: ['127.0.0.0/8', '::1'] });
    const many = await lookup(guard, 'localhost', true);
    expect(many.err).toBeNull();
    expect(Array.isArray(many.address)).toBe(true);
    const one = await lookup(guard, 'localhost', false);
    expect(one.err).toBeNull();
    expect(typeof one.address).toBe('string');
    expect([4, 6]).toContain(one.family);
  });

  it('refuses the whole host when any one record is internal', async () => {
    const resolve = staticResolver({
      'mixed.test': [
        { address: '93.184.216.34', family: 4 },
        { address: '169.254.169.254', family: 4 },
      ],
      'public.test': [{ address: '93.184.216.34', family: 4 }],
    });
    const guard = new AddressGuard({ resolve });
    const mixed = await lookup(guard, 'mixed.test', true);
    expect(mixed.err?.message).toContain('mixed.test at 169.254.169.254');
    const ok = await lookup(guard, 'public.test', false);
    expect(ok).toEqual({ err: null, address: '93.184.216.34', family: 4 });
  });

  it('passes DNS failures through unchanged', async () => {
    const guard = new AddressGuard({ resolve: staticResolver({}) });
    const { err } = await lookup(guard, 'missing.test', true);
    expect(err?.code).toBe('ENOTFOUND');
  });
});
