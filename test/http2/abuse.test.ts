// HTTP/2 abuse stays bounded (docs/http2.md, "Abuse"): each case sent as raw frames
// (test/helpers/h2-frames.ts) over h2c or TLS, and the answer RFC 9113 names checked on the wire:
// rapid reset (CVE-2023-44487), CONTINUATION floods (CVE-2024-27316), oversized header lists,
// SETTINGS / PING / WINDOW_UPDATE floods, a zero window held forever, streams past the limit,
// malformed requests. Each is logged at debug.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { pino } from 'pino';
import { TestPki, type IssuedCert } from '../helpers/certs.js';
import { startProxy, startHttpOrigin, useCleanups, sleep } from '../helpers/harness.js';
import {
  RawH2Client, ErrorCode, FrameType, Flag, Setting, continuationFrame, dataFrame, errorCodeOf, headerBlock, headersFrame, lastStreamIdOf,
  pingFrame, requestFields, rstStreamFrame, settingsFrame, windowUpdateFrame,
} from '../helpers/h2-frames.js';

const cleanups = useCleanups();

let pki: TestPki;
let cert: IssuedCert;
let origin: Awaited<ReturnType<typeof startHttpOrigin>>;
let requests = 0;

beforeAll(async () => {
  pki = new TestPki();
  cert = pki.issue({ names: ['a.test'], ips: ['127.0.0.1'] });
  origin = await startHttpOrigin((req, res) => {
    requests++;
    if (req.url === '/big') {
      res.setHeader('content-length', 1024 * 1024);
      res.end(Buffer.alloc(1024 * 1024, 0x62));
      return;
    }
    res.end('ok');
  });
});

afterAll(async () => {
  await origin.close();
  pki.close();
});

/** A proxy with an h2c listener (and a TLS one), its debug log captured. */
async function proxy(extra: Record<string, unknown> = {}) {
  requests = 0;
  const log: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { log.push(JSON.parse(s) as Record<string, unknown>); } });
  const p = await startProxy({
    listen: false,
    listeners: [{ listen: '127.0.0.1:0', protocols: ['h2c'] }, { listen: '127.0.0.1:0', tls: { certificates: [{ cert: cert.cert, key: cert.key }] } }],
    routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] }],
    ...extra,
  }, { logger });
  cleanups.push(() => p.close());
  const [h2cPort, tlsPort] = p.proxy.addresses().map((a) => a.port);
  return { ...p, h2cPort, tlsPort, log };
}

async function client(port: number, o: Parameters<typeof RawH2Client.connect>[1] = {}): Promise<RawH2Client> {
  const c = await RawH2Client.connect(port, o);
  cleanups.push(() => c.destroy());
  return c;
}

const get = (id: number, path = '/') => headersFrame(id, headerBlock(requestFields(path, { scheme: 'http' })), { endStream: true });
const debugLines = (log: Array<Record<string, unknown>>) => log.filter((l) => l.level === 20);
/** The server's SETTINGS ACK: our SETTINGS are in force from then on. */
const settled = (c: RawH2Client) => c.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0);

describe('HTTP/2 abuse', () => {
  it('rapid reset in one read (CVE-2023-44487): GOAWAY ENHANCE_YOUR_CALM, and no stream reached the upstream', async () => {
    const p = await proxy();
    // a warm pool: a stream started at once would find an idle upstream connection and write
    const warm = await client(p.h2cPort);
    warm.send(get(1));
    expect(await warm.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 1)).toBeDefined();
    requests = 0;
    const c = await client(p.h2cPort);
    await settled(c); // the flood comes in reads of its own, after the preface's
    const frames: Buffer[] = [];
    for (let i = 0; i < 1000; i++) frames.push(get(1 + 2 * i), rstStreamFrame(1 + 2 * i, ErrorCode.CANCEL));
    c.send(...frames);
    const goaway = await c.goaway();
    expect(goaway && errorCodeOf(goaway)).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(await c.waitClose()).toBe(true);
    expect(requests).toBe(0);
    expect(debugLines(p.log).some((l) => String(l.what).startsWith('rapid reset'))).toBe(true);
  });

  it('rapid reset over TLS, each reset after its request started: GOAWAY ENHANCE_YOUR_CALM past the budget (2 x maxConcurrentStreams)', async () => {
    const p = await proxy({ http2: { maxConcurrentStreams: 10 } });
    const c = await client(p.tlsPort, { tls: { ca: pki.caPem, servername: 'a.test' } });
    await settled(c);
    let id = 1;
    for (; id < 200 && !c.closed; id += 2) {
      c.send(headersFrame(id, headerBlock(requestFields('/slow')), { endStream: true }));
      await sleep(2); // the stream starts before its reset arrives
      c.send(rstStreamFrame(id, ErrorCode.CANCEL));
    }
    const goaway = await c.goaway();
    expect(goaway && errorCodeOf(goaway)).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    // the burst is 20 resets (plus what 100/s added back meanwhile)
    expect(lastStreamIdOf(goaway!)).toBeLessThan(2 * 60);
  });

  it('CONTINUATION flood (CVE-2024-27316): a header block that never ends draws GOAWAY ENHANCE_YOUR_CALM', async () => {
    const p = await proxy();
    const c = await client(p.h2cPort);
    const frames = [headersFrame(1, headerBlock(requestFields()), { endHeaders: false })];
    for (let i = 0; i < 200; i++) frames.push(continuationFrame(1, headerBlock([[`x-c${i}`, 'v']]), false));
    c.send(...frames);
    const goaway = await c.goaway();
    expect(goaway && errorCodeOf(goaway)).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(await c.waitClose()).toBe(true);
    expect(debugLines(p.log).some((l) => l.nghttp2 === -905)).toBe(true);
  });

  it('a header list past the advertised SETTINGS_MAX_HEADER_LIST_SIZE: RST_STREAM ENHANCE_YOUR_CALM for that stream only', async () => {
    const p = await proxy({ limits: { maxHeadBytes: 1024, maxHeaderFields: 16 } });
    const c = await client(p.h2cPort);
    await settled(c);
    const settings = c.frames.find((f) => f.type === FrameType.SETTINGS && f.flags === 0)!;
    const advertised = new Map<number, number>();
    for (let o = 0; o < settings.payload.length; o += 6) advertised.set(settings.payload.readUInt16BE(o), settings.payload.readUInt32BE(o + 2));
    expect(advertised.get(Setting.MAX_HEADER_LIST_SIZE)).toBe(2 * 1024 + 32 * (2 * 16 + 8));
    const block = headerBlock([...requestFields('/', { scheme: 'http' }), ['x-huge', 'h'.repeat(16 * 1024 - 100)]]);
    c.send(headersFrame(1, block.subarray(0, 16_000), { endHeaders: false }), continuationFrame(1, block.subarray(16_000), true));
    expect(errorCodeOf((await c.reset(1))!)).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    c.send(get(3));
    expect(await c.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 3)).toBeDefined();
    expect(c.closed).toBe(false);
  });

  it.each([
    ['SETTINGS flood', () => settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 65535]])],
    ['PING flood', () => pingFrame()],
  ])('%s: GOAWAY ENHANCE_YOUR_CALM', async (what, make) => {
    const p = await proxy();
    const c = await client(p.h2cPort);
    c.send(...Array.from({ length: 500 }, make));
    const goaway = await c.goaway();
    expect(goaway && errorCodeOf(goaway)).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(debugLines(p.log).some((l) => l.what === what)).toBe(true);
  });

  it('a PING flood from a client that reads nothing: node\'s queue of unsent ACKs is bounded, and answered ENHANCE_YOUR_CALM', async () => {
    const p = await proxy();
    const c = await client(p.h2cPort);
    c.socket.pause();
    const frames: Buffer[] = [];
    for (let i = 0; i < 5000; i++) frames.push(pingFrame());
    c.send(...frames);
    await sleep(300);
    c.socket.resume();
    expect(await c.waitClose()).toBe(true);
    const goaway = c.frames.find((f) => f.type === FrameType.GOAWAY);
    if (goaway) expect(errorCodeOf(goaway)).toBe(ErrorCode.ENHANCE_YOUR_CALM);
  });

  it('WINDOW_UPDATE past 2^31-1: FLOW_CONTROL_ERROR, a stream error on a stream (the connection goes on), a connection error on the connection', async () => {
    const p = await proxy();
    const c = await client(p.h2cPort);
    await settled(c);
    c.send(headersFrame(1, headerBlock(requestFields('/', { scheme: 'http' }))), windowUpdateFrame(1, 0x7fffffff));
    expect(errorCodeOf((await c.reset(1))!)).toBe(ErrorCode.FLOW_CONTROL_ERROR);
    c.send(get(3));
    expect(await c.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 3)).toBeDefined();
    c.send(windowUpdateFrame(0, 0x7fffffff));
    const goaway = await c.goaway();
    expect(goaway && errorCodeOf(goaway)).toBe(ErrorCode.FLOW_CONTROL_ERROR);
    expect(await c.waitClose()).toBe(true);
  });

  it('a WINDOW_UPDATE of 0 is a PROTOCOL_ERROR', async () => {
    const p = await proxy();
    const c = await client(p.h2cPort);
    c.send(windowUpdateFrame(0, 0));
    const goaway = await c.goaway();
    expect(goaway && errorCodeOf(goaway)).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(await c.waitClose()).toBe(true);
  });

  it('a WINDOW_UPDATE flood costs no memory and ends with the connection\'s idle timeout', async () => {
    const p = await proxy({ timeouts: { idleMs: 1500 } });
    const c = await client(p.h2cPort);
    await settled(c);
    const frames: Buffer[] = [];
    for (let i = 0; i < 20_000; i++) frames.push(windowUpdateFrame(0, 1));
    const before = process.memoryUsage().rss;
    const started = Date.now();
    while (!c.closed && Date.now() - started < 10_000) {
      c.send(...frames);
      await sleep(50);
    }
    expect(c.closed).toBe(true);
    const goaway = c.frames.find((f) => f.type === FrameType.GOAWAY);
    expect(goaway && errorCodeOf(goaway)).toBe(ErrorCode.NO_ERROR);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('a zero window held forever: the stream is reset (CANCEL) after http2.sendStallMs, and the connection then closes when idle', async () => {
    const p = await proxy({ http2: { sendStallMs: 500 }, timeouts: { idleMs: 1000 } });
    const c = await client(p.h2cPort, { settings: settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 0]]) });
    c.send(get(1, '/big'));
    expect(await c.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 1)).toBeDefined();
    expect(errorCodeOf((await c.reset(1))!)).toBe(ErrorCode.CANCEL);
    expect(c.frames.some((f) => f.type === FrameType.DATA && f.payload.length > 0)).toBe(false);
    const goaway = await c.goaway(5000);
    expect(goaway && errorCodeOf(goaway)).toBe(ErrorCode.NO_ERROR);
    expect(debugLines(p.log).some((l) => String(l.msg).includes('flow-control window held closed'))).toBe(true);
  });

  it('streams past SETTINGS_MAX_CONCURRENT_STREAMS: refused (REFUSED_STREAM) before the client acknowledged the setting, a connection error (PROTOCOL_ERROR) after', async () => {
    const slow = await startHttpOrigin((_req, res) => { setTimeout(() => res.end('slow'), 2000); });
    cleanups.push(() => slow.close());
    const p = await proxy({ http2: { maxConcurrentStreams: 2 }, routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${slow.port}`] }] });
    const early = await client(p.h2cPort);
    early.ackSettings = false;
    early.send(get(1), get(3), get(5));
    // before the ACK, nghttp2 holds the limit it is about to apply
    expect(errorCodeOf((await early.reset(5))!)).toBe(ErrorCode.REFUSED_STREAM);
    const c = await client(p.h2cPort);
    await settled(c);
    await sleep(100); // our ACK of the server's SETTINGS has arrived
    c.send(get(1), get(3), get(5));
    const goaway = await c.goaway();
    expect(goaway && errorCodeOf(goaway)).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  it('malformed requests are stream errors (PROTOCOL_ERROR) and the connection goes on: connection-specific fields, TE other than trailers, upper-case names, missing pseudo-header fields', async () => {
    const p = await proxy();
    const c = await client(p.h2cPort);
    const bad: Array<Array<[string, string]>> = [
      [...requestFields('/', { scheme: 'http' }), ['connection', 'keep-alive']],
      [...requestFields('/', { scheme: 'http' }), ['transfer-encoding', 'chunked']],
      [...requestFields('/', { scheme: 'http' }), ['upgrade', 'websocket']],
      [...requestFields('/', { scheme: 'http' }), ['te', 'gzip']],
      [...requestFields('/', { scheme: 'http' }), ['X-Upper', 'x']],
      [[':method', 'GET'], [':path', '/']],
    ];
    bad.forEach((fields, i) => c.send(headersFrame(1 + 2 * i, headerBlock(fields), { endStream: true })));
    for (let i = 0; i < bad.length; i++) expect(errorCodeOf((await c.reset(1 + 2 * i))!)).toBe(ErrorCode.PROTOCOL_ERROR);
    c.send(headersFrame(99, headerBlock([...requestFields('/', { scheme: 'http' }), ['te', 'trailers']]), { endStream: true }));
    expect(await c.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 99)).toBeDefined();
    expect(requests).toBe(1);
    void dataFrame;
  });

  it('a field with characters HTTP forbids (NUL, CR LF, a space in its name...) never reaches the upstream: node:http2 drops it (docs/http2.md, deviations)', async () => {
    const seen: Array<Record<string, unknown>> = [];
    const echo = await startHttpOrigin((req, res) => { seen.push(req.headers); res.end('ok'); });
    cleanups.push(() => echo.close());
    const p = await proxy({ routes: [{ id: 'r', pathPrefix: '/', upstreams: [`http://127.0.0.1:${echo.port}`] }] });
    const c = await client(p.h2cPort);
    const cases: Array<[string, string]> = [['x-nul', 'a\x00b'], ['x-crlf', 'a\r\nx-injected: 1'], ['x sp', 'v'], ['x-lead', ' v']];
    cases.forEach(([n, v], i) => c.send(headersFrame(1 + 2 * i, headerBlock([...requestFields(`/${i}`, { scheme: 'http' }), [n, v]]), { endStream: true })));
    for (let i = 0; i < cases.length; i++) await c.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 1 + 2 * i);
    expect(seen).toHaveLength(cases.length);
    for (const h of seen) expect(Object.keys(h).filter((k) => k.startsWith('x-'))).toEqual(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);
  });
});
