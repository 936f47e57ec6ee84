// node:http2 as a test client: a session to a proxy's HTTP/2 port (h2 over TLS, or h2c with prior
// knowledge), and one request on it collected whole: response head, informational heads, body,
// trailers, and the RST_STREAM code when the stream was reset.
import http2 from 'node:http2';

export interface H2Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  /** 1xx heads received before the final one. */
  informational: http2.IncomingHttpHeaders[];
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
  /** The stream's RST_STREAM code (0 when it ended normally). */
  rstCode: number;
  /** Raw header list of the final head, [name, value, ...] in order. */
  rawHeaders: string[];
}

/** A session to `authority` ('http://127.0.0.1:PORT' for h2c, 'https://...' for TLS). */
export function connectH2(authority: string, options: http2.SecureClientSessionOptions = {}): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(authority, options);
    s.once('connect', () => { s.off('error', reject); resolve(s); });
    s.once('error', reject);
  });
}

export interface H2RequestOptions {
  /** Request body: written whole, then the stream ends. */
  body?: Buffer | string;
  /** Trailers to send after the body (waitForTrailers). */
  trailers?: http2.OutgoingHttpHeaders;
  /** Give up after this long (the stream is reset and the promise rejects). */
  ms?: number;
}

/** One request; resolves when the stream closes (normally or reset). */
export function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, o: H2RequestOptions = {}): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const endStream = o.body === undefined && o.trailers === undefined;
    const req = session.request(headers, { endStream, waitForTrailers: o.trailers !== undefined });
    const out: H2Response = { status: 0, headers: {}, informational: [], body: Buffer.alloc(0), trailers: undefined, rstCode: 0, rawHeaders: [] };
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { req.close(http2.constants.NGHTTP2_CANCEL); reject(new Error('h2Request timed out')); }, o.ms ?? 10_000);
    req.on('headers', (h) => out.informational.push(h));
    req.on('response', (h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader, _flags: number, raw: string[]) => { out.headers = h; out.status = Number(h[':status']); out.rawHeaders = raw; });
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('trailers', (t: http2.IncomingHttpHeaders) => { out.trailers = t; });
    req.on('wantTrailers', () => req.sendTrailers(o.trailers ?? {}));
    req.on('error', () => {});
    req.on('close', () => {
      clearTimeout(timer);
      out.body = Buffer.concat(chunks);
      out.rstCode = req.rstCode ?? 0;
      resolve(out);
    });
    if (!endStream) {
      if (o.body !== undefined) req.write(o.body);
      req.end();
    }
  });
}

/** A GET of `path` on `session`. */
export const h2Get = (session: http2.ClientHttp2Session, path: string, extra: http2.OutgoingHttpHeaders = {}): Promise<H2Response> =>
  h2Request(session, { ':method': 'GET', ':path': path, ...extra });
