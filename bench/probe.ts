// One raw request before a forward-proxy or CONNECT workload: does the target support it at all?
// Answers the status code, or throws on a network error.
import { connect } from 'node:net';

export function rawStatus(host: string, port: number, request: string, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('connect', () => s.write(request));
    s.on('data', (b: Buffer) => {
      buf += b.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf);
      if (m) {
        clearTimeout(timer);
        s.destroy();
        resolve(Number(m[1]));
      } else if (buf.length > 12) {
        clearTimeout(timer);
        s.destroy();
        reject(new Error(`not an HTTP response: ${JSON.stringify(buf.slice(0, 40))}`));
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      reject(new Error('connection closed without a response'));
    });
  });
}

/** undefined when an absolute-form GET through host:port answers 2xx; otherwise why not. */
export async function probeForward(host: string, port: number, origin: string): Promise<string | undefined> {
  try {
    const st = await rawStatus(host, port, `GET http://${origin}/small HTTP/1.1\r\nHost: ${origin}\r\nConnection: close\r\n\r\n`);
    return st >= 200 && st < 300 ? undefined : `absolute-form GET answered ${st}`;
  } catch (e) {
    return `absolute-form GET failed: ${(e as Error).message}`;
  }
}

/** undefined when CONNECT origin through host:port answers 2xx; otherwise why not. */
export async function probeConnect(host: string, port: number, origin: string): Promise<string | undefined> {
  try {
    const st = await rawStatus(host, port, `CONNECT ${origin} HTTP/1.1\r\nHost: ${origin}\r\n\r\n`);
    return st >= 200 && st < 300 ? undefined : `CONNECT answered ${st}`;
  } catch (e) {
    return `CONNECT failed: ${(e as Error).message}`;
  }
}
