// The forward handler and its parts without the proxy around them: target parsing, destination
// rules, proxy auth, and the handler's decisions with an injected resolver/connector (DNS failure,
// timeouts, rebinding) and its denial log lines.
import { describe, it, expect, afterEach } from 'vitest';
import net from 'node:net';
import tls from 'node:tls';
import { Writable } from 'node:stream';
import pino from 'pino';
import { codec, DEFAULT_HEAD_LIMITS } from '../../src/wasm/codec.js';
import { HeadReader } from '../../src/wasm/head-reader.js';
import { HeadKind } from '../../asm/shared/constants.js';
import { resolveConfig } from '../../src/config/config.js';
import { createForwardHandler, type ForwardDeps } from '../../src/forward/forward-proxy.js';
import { parseAbsoluteTarget, parseConnectTarget } from '../../src/forward/target.js';
import { DestinationPolicy, canonicalAddress, ipv6Bytes } from '../../src/forward/destination-policy.js';
import { ProxyAuth } from '../../src/forward/proxy-auth.js';
import type { ForwardRequest } from '../../src/forward/forward-request.js';
import type { Origin } from '../../src/upstream/origin-url.js';
import { makeCert } from '../helpers/certs.js';
import { startEcho, close, LOOPBACK } from './helpers.js';

describe('target parsing', () => {
  it('absolute-form', () => {
    expect(parseAbsoluteTarget('http://Example.COM/a?b')).toEqual({ ok: true, target: { host: 'example.com', family: 0, port: 80, hostField: 'example.com', path: '/a?b' } });
    expect(parseAbsoluteTarget('http://example.com:8080')).toMatchObject({ target: { port: 8080, hostField: 'example.com:8080', path: '/' } });
    expect(parseAbsoluteTarget('http://example.com:80/x')).toMatchObject({ target: { hostField: 'example.com' } });
    expect(parseAbsoluteTarget('http://example.com:/x')).toMatchObject({ target: { port: 80 } });
    expect(parseAbsoluteTarget('http://[::1]:8080/p')).toMatchObject({ target: { host: '::1', family: 6, hostField: '[::1]:8080' } });
    expect(parseAbsoluteTarget('http://[2001:DB8::1]/')).toMatchObject({ target: { host: '2001:db8::1', hostField: '[2001:db8::1]' } });
    expect(parseAbsoluteTarget('http://10.0.0.1/')).toMatchObject({ target: { family: 4 } });
    expect(parseAbsoluteTarget('http://example.com./')).toMatchObject({ target: { host: 'example.com' } });
    expect(parseAbsoluteTarget('http://a/%2e%2e/x;p?q=%20')).toMatchObject({ target: { path: '/%2e%2e/x;p?q=%20' } });
  });

  it('absolute-form errors', () => {
    const reason = (t: string) => { const r = parseAbsoluteTarget(t); return r.ok ? 'ok' : r.reason; };
    expect(reason('http://h:abc/')).toMatch(/invalid port/);
    expect(reason('http://h:0/')).toMatch(/out of range/);
    expect(reason('http://h:65536/')).toMatch(/out of range/);
    expect(reason('http:///x')).toMatch(/empty host/);
    expect(reason('http://u@h/')).toMatch(/userinfo/);
    expect(reason('ftp://h/')).toMatch(/unsupported scheme/);
    expect(reason('http://h/#frag')).toMatch(/fragment/);
    expect(reason('http://[::1]x/')).toMatch(/after the IPv6 literal/);
    expect(reason('http://[1.2.3.4]/')).toMatch(/IPv6/);
    expect(reason('http://' + 'a'.repeat(64) + '.com/')).toMatch(/invalid host name/);
    expect(reason('http://-a.com/')).toMatch(/invalid host name/);
    expect(reason('http://a..com/')).toMatch(/invalid host name/);
    const https = parseAbsoluteTarget('HTTPS://example.com/');
    expect(https).toMatchObject({ ok: false, useConnect: true });
  });

  it('CONNECT authority-form', () => {
    expect(parseConnectTarget('example.com:443')).toMatchObject({ ok: true, target: { host: 'example.com', port: 443 } });
    expect(parseConnectTarget('[::1]:8443')).toMatchObject({ ok: true, target: { host: '::1', port: 8443, family: 6 } });
    for (const bad of ['example.com', 'example.com:', ':443', 'http://example.com:443', 'example.com:443/x', 'u:p@example.com:443', '[::1]']) {
      expect(parseConnectTarget(bad).ok, bad).toBe(false);
    }
  });
});

describe('destination rules', () => {
  const defaults = new DestinationPolicy({ allowDestinations: [], denyDestinations: [], denyHosts: [] });

  it('parses IPv6 to bytes', () => {
    expect([...ipv6Bytes('::1')!]).toEqual([...new Array<number>(15).fill(0), 1]);
    expect([...ipv6Bytes('::ffff:127.0.0.1')!.subarray(10)]).toEqual([0xff, 0xff, 127, 0, 0, 1]);
    expect([...ipv6Bytes('2001:db8::8:800:200c:417a')!]).toEqual([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 8, 8, 0, 0x20, 0x0c, 0x41, 0x7a]);
    expect(ipv6Bytes('1.2.3.4')).toBeUndefined();
    expect(canonicalAddress('::ffff:7f00:1')).toBe('127.0.0.1');
    expect(canonicalAddress('::FFFF:10.0.0.1')).toBe('10.0.0.1');
    expect(canonicalAddress('2001:db8::1')).toBe('2001:db8::1');
  });

  it('denies special-purpose ranges by default and allows public addresses', () => {
    for (const a of ['127.0.0.1', '127.255.0.9', '10.2.3.4', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', '169.254.169.254',
      '0.0.0.0', '224.0.0.1', '255.255.255.255', '::', '::1', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '2001:db8::1', '::127.0.0.1',
      '2002:7f00:1::1', '2002:a00:1::', '64:ff9b::10.0.0.1', '64:ff9b::7f00:1']) {
      expect(defaults.checkAddress(canonicalAddress(a)), a).toBeTypeOf('string');
    }
    for (const a of ['93.184.215.14', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '2002:808:808::1', '64:ff9b::8.8.8.8']) {
      expect(defaults.checkAddress(canonicalAddress(a)), a).toBeUndefined();
    }
    expect(defaults.checkAddress('127.0.0.1')).toMatch(/loopback/);
    expect(defaults.checkAddress('10.0.0.1')).toMatch(/private/);
    expect(defaults.checkAddress('100.64.1.1')).toMatch(/CGNAT/);
    expect(defaults.checkAddress('fd00::1')).toMatch(/unique-local/);
  });

  it('judges IPv4-translated addresses (::ffff:0:a.b.c.d, RFC 2765) by the IPv4 address they embed', () => {
    for (const a of ['::ffff:0:127.0.0.1', '::ffff:0:7f00:1', '::FFFF:0:10.0.0.1', '::ffff:0:169.254.169.254', '::ffff:0:0.0.0.0']) {
      expect(defaults.checkAddress(canonicalAddress(a)), a).toMatch(/embeds/);
    }
    expect(defaults.checkAddress('::ffff:0:8.8.8.8')).toBeUndefined();
    const p = new DestinationPolicy({ allowDestinations: ['10.0.0.0/8'], denyDestinations: ['8.8.8.8/32'], denyHosts: [] });
    expect(p.checkAddress('::ffff:0:10.1.1.1')).toBeUndefined();
    expect(p.checkAddress('::ffff:0:8.8.8.8')).toMatch(/denyDestinations/);
  });

  it('allowDestinations opens a range; denyDestinations wins over it', () => {
    const p = new DestinationPolicy({ allowDestinations: ['10.0.0.0/8', '::1/128'], denyDestinations: ['10.9.0.0/16', '8.8.8.8/32'], denyHosts: [] });
    expect(p.checkAddress('10.1.1.1')).toBeUndefined();
    expect(p.checkAddress('::1')).toBeUndefined();
    expect(p.checkAddress('10.9.1.1')).toMatch(/denyDestinations/);
    expect(p.checkAddress('8.8.8.8')).toMatch(/denyDestinations/);
    expect(p.checkAddress('2002:a01:101::')).toBeUndefined(); // 6to4 of an allowed 10.1.1.1
    expect(p.checkAddress('2002:808:808::')).toMatch(/denyDestinations/);
  });

  it('denyHosts: exact names, .domain (with apex), *.domain (subdomains only)', () => {
    const p = new DestinationPolicy({ allowDestinations: [], denyDestinations: [], denyHosts: ['Exact.Test.', '.corp.test', '*.wild.test', '[::1]'] });
    expect(p.checkHost('exact.test')).toBeTypeOf('string');
    expect(p.checkHost('sub.exact.test')).toBeUndefined();
    expect(p.checkHost('corp.test')).toBeTypeOf('string');
    expect(p.checkHost('a.b.corp.test')).toBeTypeOf('string');
    expect(p.checkHost('notcorp.test')).toBeUndefined();
    expect(p.checkHost('wild.test')).toBeUndefined();
    expect(p.checkHost('x.wild.test')).toBeTypeOf('string');
    expect(p.checkHost('::1')).toBeTypeOf('string');
  });
});

describe('proxy auth', () => {
  const auth = new ProxyAuth('r', { alice: 'pw:x', 'bö b': 'ünï' });
  const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
  it('accepts the right credentials only', () => {
    expect(auth.check([basic('alice:pw:x')])).toEqual({ ok: true, user: 'alice' });
    expect(auth.check([basic('bö b:ünï')])).toEqual({ ok: true, user: 'bö b' });
    expect(auth.check([`basic  ${Buffer.from('alice:pw:x').toString('base64')}`])).toMatchObject({ ok: true });
    expect(auth.check([])).toMatchObject({ ok: false, missing: true });
    expect(auth.check([basic('alice:pw')])).toMatchObject({ ok: false, missing: false });
    expect(auth.check([basic('nobody:pw:x')])).toMatchObject({ ok: false });
    expect(auth.check([basic('alicepw')])).toMatchObject({ ok: false });
    expect(auth.check(['Bearer abc'])).toMatchObject({ ok: false });
    expect(auth.check([basic('alice:pw:x'), basic('alice:pw:x')])).toMatchObject({ ok: false });
  });
  it('the challenge is one safe field line', () => {
    expect(new ProxyAuth('a"b\\c\r\nX-Evil: 1', {}).challenge).toBe('Proxy-Authenticate: Basic realm="a\\"b\\\\cX-Evil: 1", charset="UTF-8"\r\n');
  });
});

// --- the handler with a fake request ----------------------------------------------------------

type Outcome =
  | { kind: 'respond'; status: number; detail: string; code: string; extra?: string }
  | { kind: 'relay'; origin: Origin; target: string; host: string }
  | { kind: 'tunnel'; remote: string | undefined; socket: net.Socket };

function parse(raw: string) {
  const reader = new HeadReader(codec(), HeadKind.REQUEST, DEFAULT_HEAD_LIMITS);
  try {
    const b = Buffer.from(raw, 'latin1');
    expect(reader.feed(b, 0, b.length)).toBeGreaterThan(0);
    return reader.head!;
  } finally {
    reader.release();
  }
}

function run(handler: ReturnType<typeof createForwardHandler>, raw: string, peer = '127.0.0.1'): Promise<Outcome> {
  return new Promise((resolve) => {
    const req: ForwardRequest = {
      head: parse(raw), peerAddress: peer, requestId: 'req-1', closed: false,
      respond: ({ status, detail = '', code = '', fields }) => resolve({ kind: 'respond', status, detail, code, extra: fields }),
      relay: (origin, target, host) => resolve({ kind: 'relay', origin, target, host }),
      tunnel: (socket) => resolve({ kind: 'tunnel', remote: socket.remoteAddress, socket }),
    };
    handler.handle(req);
  });
}

function make(forwardProxy: Record<string, unknown>, deps: Partial<ForwardDeps> = {}, timeouts: Record<string, number> = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); cb(); } });
  const config = resolveConfig({ admin: false, timeouts, forwardProxy: { enabled: true, ...forwardProxy } });
  const handler = createForwardHandler({ config, logger: pino({ level: 'debug' }, stream), ...deps });
  return { handler, lines };
}

const GET = (url: string) => `GET ${url} HTTP/1.1\r\nHost: x\r\n\r\n`;
const CONNECT = (authority: string) => `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;

describe('forward handler decisions', () => {
  const sockets: net.Socket[] = [];
  afterEach(() => { for (const s of sockets.splice(0)) s.destroy(); });

  it('relays to the resolved, checked address with Host from the target; resolves once', async () => {
    const asked: string[] = [];
    const { handler } = make({ allowDestinations: LOOPBACK, httpPorts: [8080] }, { resolver: async (h) => { asked.push(h); return ['10.0.0.7', '127.0.0.9', '::ffff:127.0.0.9']; } });
    const o = await run(handler, GET('http://app.test:8080/x?y'));
    expect(o).toMatchObject({ kind: 'relay', target: '/x?y', host: 'app.test:8080', origin: { host: '127.0.0.9', port: 8080, authority: '127.0.0.9:8080', basePath: '' } });
    expect(asked).toEqual(['app.test']);
  });

  it('IP literals are not resolved', async () => {
    const { handler } = make({ allowDestinations: LOOPBACK }, { resolver: async () => { throw new Error('must not resolve'); } });
    expect(await run(handler, GET('http://[::1]/'))).toMatchObject({ kind: 'relay', origin: { host: '::1', authority: '[::1]:80' }, host: '[::1]' });
  });

  it('a name that resolves only to denied addresses is 403, logged with id, client, target and reason', async () => {
    const { handler, lines } = make({}, { resolver: async () => ['192.168.1.20', 'fd00::20'] });
    const o = await run(handler, GET('http://rebind.test/'), '::ffff:127.0.0.1');
    expect(o).toMatchObject({ kind: 'respond', status: 403, code: 'PRX_FORWARD_DESTINATION_DENIED' });
    expect((o as { detail: string }).detail).toMatch(/rebind\.test resolves only to denied addresses: 192\.168\.1\.20 is a private/);
    const warn = lines.find((l) => l.level === 40)!;
    expect(warn).toMatchObject({ req: 'req-1', client: '127.0.0.1', target: 'http://rebind.test/', msg: 'forward proxy request denied' });
    expect(warn.reason).toMatch(/private/);
  });

  it('unresolvable: 502; resolver too slow: 504', async () => {
    const nx = Object.assign(new Error('getaddrinfo ENOTFOUND nx.invalid'), { code: 'ENOTFOUND' });
    const a = make({}, { resolver: async () => { throw nx; } });
    expect(await run(a.handler, CONNECT('nx.invalid:443'))).toMatchObject({ kind: 'respond', status: 502, code: 'PRX_FORWARD_RESOLVE_FAILED', detail: 'cannot resolve nx.invalid: ENOTFOUND' });
    const b = make({}, { resolver: () => new Promise(() => {}) }, { upstreamConnectMs: 50 });
    expect(await run(b.handler, GET('http://slow.test/'))).toMatchObject({ kind: 'respond', status: 504, code: 'PRX_FORWARD_TIMEOUT' });
  });

  it('the system resolver: an .invalid name is 502 (or 504 where DNS is unreachable)', async () => {
    const { handler } = make({}, {}, { upstreamConnectMs: 5000 });
    const o = await run(handler, CONNECT('no-such-host.invalid:443'));
    expect(o.kind).toBe('respond');
    expect([502, 504]).toContain((o as { status: number }).status);
  });

  it('CONNECT: connect timeout is 504; refused is 502; connects to the next address after a refusal', async () => {
    const t = make({ allowDestinations: LOOPBACK }, { connector: () => { const s = new net.Socket(); sockets.push(s); return s; } }, { upstreamConnectMs: 50 });
    const o = await run(t.handler, CONNECT('127.0.0.1:443'));
    expect(o).toMatchObject({ kind: 'respond', status: 504, code: 'PRX_FORWARD_TIMEOUT' });
    expect((o as { detail: string }).detail).toMatch(/connect to 127\.0\.0\.1:443 timed out/);

    const echo = await startEcho();
    try {
      const tried: string[] = [];
      const r = make({ allowDestinations: LOOPBACK, connectPorts: [443] }, {
        resolver: async () => ['127.0.0.1', '127.0.0.2'],
        connector: (address, port) => {
          tried.push(`${address}:${port}`);
          // the first address refuses (nothing listens on port 1), the second reaches the echo server
          return net.connect({ host: '127.0.0.1', port: address === '127.0.0.1' ? 1 : echo.port });
        },
      });
      const ok = await run(r.handler, CONNECT('two.test:443'));
      expect(ok).toMatchObject({ kind: 'tunnel' });
      expect(tried).toEqual(['127.0.0.1:443', '127.0.0.2:443']);
      (ok as { socket: net.Socket }).socket.destroy();
      const all = make({ allowDestinations: LOOPBACK, connectPorts: [1] });
      const refused = await run(all.handler, CONNECT('127.0.0.1:1'));
      expect(refused).toMatchObject({ kind: 'respond', status: 502, code: 'PRX_FORWARD_CONNECT_FAILED' });
    } finally {
      await close(echo.server);
    }
  });

  it('checks run in order: client, auth, target, port, host, destination', async () => {
    const { handler } = make({ allowClients: ['10.0.0.0/8'], auth: { users: { u: 'p' } } });
    expect(await run(handler, GET('ftp://x/'), '127.0.0.1')).toMatchObject({ status: 403, code: 'PRX_FORWARD_CLIENT_DENIED' });
    expect(await run(handler, GET('ftp://x/'), '10.1.1.1')).toMatchObject({ status: 407, extra: 'Proxy-Authenticate: Basic realm="portico", charset="UTF-8"\r\n' });
    const authed = (t: string) => `GET ${t} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic ${Buffer.from('u:p').toString('base64')}\r\n\r\n`;
    expect(await run(handler, authed('ftp://x/'), '10.1.1.1')).toMatchObject({ status: 400, code: 'PRX_FORWARD_BAD_TARGET' });
    expect(await run(handler, authed('http://x:81/'), '10.1.1.1')).toMatchObject({ status: 403, code: 'PRX_FORWARD_PORT_DENIED' });
    expect(await run(handler, authed('http://127.0.0.1:8080/'), '10.1.1.1')).toMatchObject({ status: 403, code: 'PRX_FORWARD_DESTINATION_DENIED' });
  });

  it('a client that leaves while the name resolves gets nothing, and no connection is made', async () => {
    let closed = false;
    let answered = false;
    let connects = 0;
    let release!: (a: string[]) => void;
    const { handler } = make({ allowDestinations: LOOPBACK }, {
      resolver: () => new Promise((r) => { release = r; }),
      connector: () => { connects++; return new net.Socket(); },
    });
    handler.handle({
      head: parse(CONNECT('late.test:443')), peerAddress: '127.0.0.1', requestId: 'r', get closed() { return closed; },
      respond: () => { answered = true; }, relay: () => { answered = true; }, tunnel: () => { answered = true; },
    });
    await new Promise((r) => setTimeout(r, 10));
    closed = true;
    release(['127.0.0.1']);
    await new Promise((r) => setTimeout(r, 20));
    expect(answered).toBe(false);
    expect(connects).toBe(0);
  });

  it('an unexpected resolver result (no addresses) is 502, never a hang', async () => {
    const { handler } = make({}, { resolver: async () => [] });
    expect(await run(handler, GET('http://empty.test/'))).toMatchObject({ status: 502 });
  });
});

describe('test certificates', () => {
  it('the built-in generator (used when openssl is missing) makes a certificate TLS accepts', async () => {
    const cert = makeCert('node');
    expect(cert.source).toBe('node');
    const server = tls.createServer({ key: cert.key, cert: cert.cert }, (s) => s.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (server.address() as net.AddressInfo).port;
      for (const servername of ['localhost', undefined]) {
        const got = await new Promise<string>((resolve, reject) => {
          const c = tls.connect({ host: '127.0.0.1', port, ca: cert.cert, servername }, () => {});
          let data = '';
          c.on('data', (d) => { data += d; });
          c.on('end', () => resolve(data));
          c.on('error', reject);
        });
        expect(got).toBe('ok');
      }
    } finally {
      server.close();
    }
  });
});
