// gRPC end to end through Portico (docs/http2.md, "gRPC"): a @grpc/grpc-js client to Portico's
// h2c listener, a route with upstreamProtocol "h2c" to a @grpc/grpc-js server. Unary and streaming
// calls, status codes, metadata and trailers compared with the same call made directly; the
// client's deadline (grpc-timeout) reaching the server; a cancelled call cancelling upstream;
// gRPC answers for what the proxy answers itself.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startProxy, deadPort, sleep, type Started } from '../helpers/harness.js';

interface Msg { text: string; n: number }
type Unary = (req: Msg, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Msg) => void) => grpc.ClientUnaryCall;
interface EchoClient extends grpc.Client {
  Unary: Unary;
  ServerStream(req: Msg, md?: grpc.Metadata): grpc.ClientReadableStream<Msg>;
  ClientStream(md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: Msg) => void): grpc.ClientWritableStream<Msg>;
  Bidi(md?: grpc.Metadata): grpc.ClientDuplexStream<Msg, Msg>;
}
type EchoCtor = new (address: string, credentials: grpc.ChannelCredentials) => EchoClient;

const definition = protoLoader.loadSync(join(import.meta.dirname, '../fixtures/grpc/echo.proto'), { defaults: true });
const echoPackage = grpc.loadPackageDefinition(definition).echo as unknown as { Echo: EchoCtor & { service: grpc.ServiceDefinition } };

let server: grpc.Server;
let serverPort = 0;
/** What the server saw of each call: its deadline and whether it was cancelled. */
const calls: Array<{ method: string; deadline: grpc.Deadline; cancelled: boolean; clientMd: string | undefined }> = [];
let proxy: Started & { h2cPort: number };
const clients: grpc.Client[] = [];

beforeAll(async () => {
  server = new grpc.Server();
  /** The part of a server call of any kind that is recorded. */
  interface AnyCall { getDeadline(): grpc.Deadline; metadata: grpc.Metadata; on(event: 'cancelled', listener: () => void): unknown }
  const record = (method: string, call: AnyCall) => {
    const c = { method, deadline: call.getDeadline(), cancelled: false, clientMd: call.metadata.get('x-client')[0] as string | undefined };
    call.on('cancelled', () => { c.cancelled = true; });
    calls.push(c);
  };
  const trailing = () => { const md = new grpc.Metadata(); md.set('x-trailer', 't'); md.set('x-bin-bin', Buffer.from([1, 2, 3])); return md; };
  server.addService(echoPackage.Echo.service, {
    Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      record('Unary', call);
      const initial = new grpc.Metadata();
      initial.set('x-initial', 'i');
      call.sendMetadata(initial);
      const { text } = call.request;
      if (text === 'fail') { const md = new grpc.Metadata(); md.set('x-err', 'e'); cb({ code: grpc.status.NOT_FOUND, details: 'no such thing', metadata: md }); return; }
      if (text === 'slow') { const t = setTimeout(() => cb(null, { text: 'late', n: 0 }), 3000); call.on('cancelled', () => clearTimeout(t)); return; }
      cb(null, { text: `echo ${text} ${String(call.metadata.get('x-client')[0])}`, n: call.request.n + 1 }, trailing());
    },
    ServerStream: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      record('ServerStream', call);
      const n = call.request.n;
      let i = 0;
      const next = () => {
        if (call.cancelled) return;
        if (i === n) { call.end(trailing()); return; }
        call.write({ text: `${call.request.text}-${i}`, n: i++ });
        setTimeout(next, n > 50 ? 20 : 1);
      };
      next();
    },
    ClientStream: (call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      record('ClientStream', call);
      const got: string[] = [];
      call.on('data', (m: Msg) => got.push(m.text));
      call.on('end', () => cb(null, { text: got.join(','), n: got.length }, trailing()));
    },
    Bidi: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      record('Bidi', call);
      call.on('data', (m: Msg) => call.write({ text: m.text.toUpperCase(), n: m.n * 2 }));
      call.on('end', () => call.end(trailing()));
    },
  });
  serverPort = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, port) => (e ? reject(e) : resolve(port))));
  const p = await startProxy({
    listen: false,
    listeners: [{ listen: '127.0.0.1:0', protocols: ['h2c'] }],
    // Via off: the comparison below is byte for byte (by default Portico adds Via, RFC 9110 §7.6.3,
    // which a gRPC client shows as one more metadata entry)
    routes: [{ id: 'grpc', pathPrefix: '/echo.Echo/', upstreams: [`http://127.0.0.1:${serverPort}`], upstreamProtocol: 'h2c', via: false }],
  });
  proxy = { ...p, h2cPort: p.port };
});

afterAll(async () => {
  for (const c of clients) c.close();
  await proxy.close();
  server.forceShutdown();
});

function client(port: number): EchoClient {
  const c = new echoPackage.Echo(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  clients.push(c);
  return c;
}

interface Outcome { code: number; details: string; metadata: Record<string, unknown>; trailers: Record<string, unknown>; value: unknown }

const mdMap = (md: grpc.Metadata | undefined) => Object.fromEntries(Object.entries(md?.getMap() ?? {}).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('hex') : v]));

/** One unary call, everything the client can observe of it. */
function unary(c: EchoClient, req: Msg, o: grpc.CallOptions = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const md = new grpc.Metadata();
    md.set('x-client', 'c1');
    const out: Outcome = { code: -1, details: '', metadata: {}, trailers: {}, value: undefined };
    let pending = 2; // the callback and the status
    const done = () => { if (--pending === 0) setTimeout(() => resolve(out), 10); };
    const call = c.Unary(req, md, o, (e, r) => { out.value = e ? undefined : r; done(); });
    call.on('metadata', (m) => { out.metadata = mdMap(m); });
    call.on('status', (s) => { out.code = s.code; out.details = s.details; out.trailers = mdMap(s.metadata); done(); });
  });
}

function serverStream(c: EchoClient, n: number): Promise<{ msgs: Msg[]; status: grpc.StatusObject }> {
  return new Promise((resolve) => {
    const msgs: Msg[] = [];
    const call = c.ServerStream({ text: 's', n });
    call.on('data', (m: Msg) => msgs.push(m));
    call.on('error', () => {});
    call.on('status', (status) => resolve({ msgs, status }));
  });
}

describe('gRPC through Portico', () => {
  it('unary: response, status, metadata and trailers identical to a direct call', async () => {
    const direct = await unary(client(serverPort), { text: 'hi', n: 1 });
    const proxied = await unary(client(proxy.h2cPort), { text: 'hi', n: 1 });
    expect(direct.code).toBe(grpc.status.OK);
    expect(direct.value).toEqual({ text: 'echo hi c1', n: 2 });
    expect(direct.trailers).toMatchObject({ 'x-trailer': 't', 'x-bin-bin': '010203' });
    expect(proxied, JSON.stringify({ direct, proxied })).toEqual(direct);
  });

  it('an error status: code, details and trailing metadata identical to a direct call', async () => {
    const direct = await unary(client(serverPort), { text: 'fail', n: 0 });
    const proxied = await unary(client(proxy.h2cPort), { text: 'fail', n: 0 });
    expect(direct.code).toBe(grpc.status.NOT_FOUND);
    expect(direct.details).toBe('no such thing');
    expect(direct.trailers).toMatchObject({ 'x-err': 'e' });
    expect(proxied, JSON.stringify({ direct, proxied })).toEqual(direct);
  });

  it('server streaming, client streaming and bidirectional calls', async () => {
    const s = await serverStream(client(proxy.h2cPort), 20);
    expect(s.status.code).toBe(grpc.status.OK);
    expect(s.msgs.map((m) => m.text)).toEqual(Array.from({ length: 20 }, (_, i) => `s-${i}`));
    expect(mdMap(s.status.metadata)).toMatchObject({ 'x-trailer': 't' });

    const summed = await new Promise<Msg | undefined>((resolve) => {
      const call = client(proxy.h2cPort).ClientStream(new grpc.Metadata(), (e, r) => resolve(e ? undefined : r));
      for (const t of ['a', 'b', 'c']) call.write({ text: t, n: 0 });
      call.end();
    });
    expect(summed).toEqual({ text: 'a,b,c', n: 3 });

    const bidi = client(proxy.h2cPort).Bidi();
    const got: Msg[] = [];
    bidi.on('data', (m: Msg) => got.push(m));
    const ended = new Promise<grpc.StatusObject>((r) => bidi.on('status', r));
    for (let i = 1; i <= 5; i++) {
      bidi.write({ text: `m${i}`, n: i });
      await sleep(10);
    }
    bidi.end();
    expect((await ended).code).toBe(grpc.status.OK);
    expect(got).toEqual([1, 2, 3, 4, 5].map((i) => ({ text: `M${i}`, n: 2 * i })));
  });

  it('the client\'s deadline reaches the server (grpc-timeout) and ends the call as a direct call ends: DEADLINE_EXCEEDED, the upstream call cancelled', async () => {
    calls.length = 0;
    const deadline = () => Date.now() + 400;
    const direct = await unary(client(serverPort), { text: 'slow', n: 0 }, { deadline: deadline() });
    const proxied = await unary(client(proxy.h2cPort), { text: 'slow', n: 0 }, { deadline: deadline() });
    expect(direct.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(proxied.code).toBe(direct.code);
    expect(calls).toHaveLength(2);
    for (const c of calls) expect(c.deadline).not.toBe(Infinity);
    for (let i = 0; i < 100 && !calls[1].cancelled; i++) await sleep(20);
    expect(calls[1].cancelled).toBe(true);
  });

  it('a cancelled call cancels the upstream call', async () => {
    calls.length = 0;
    const call = client(proxy.h2cPort).ServerStream({ text: 'long', n: 1000 });
    call.on('error', () => {});
    await new Promise<void>((r) => call.once('data', () => r()));
    call.cancel();
    for (let i = 0; i < 100 && !(calls[0]?.cancelled); i++) await sleep(20);
    expect(calls[0]).toMatchObject({ method: 'ServerStream', cancelled: true });
  });

  it('what Portico answers itself reaches a gRPC client as a gRPC status: no route UNIMPLEMENTED, upstream down UNAVAILABLE', async () => {
    const p = await startProxy({
      listen: false,
      listeners: [{ listen: '127.0.0.1:0', protocols: ['h2c'] }],
      routes: [{ id: 'dead', pathPrefix: '/echo.Echo/Unary', upstreams: [`http://127.0.0.1:${await deadPort()}`], upstreamProtocol: 'h2c' }],
    });
    try {
      const c = client(p.port);
      const down = await unary(c, { text: 'x', n: 0 });
      expect(down.code).toBe(grpc.status.UNAVAILABLE);
      expect(down.details).toContain('PRX_ERR_UPSTREAM_CONNECT');
      const stream = await serverStream(c, 1);
      expect(stream.status.code).toBe(grpc.status.UNIMPLEMENTED);
      expect(stream.status.details).toContain('PRX_NO_ROUTE');
    } finally {
      await p.close();
    }
  });
});
