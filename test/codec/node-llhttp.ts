// Node's own llhttp (the C parser behind node:http) driven through its internal HTTPParser
// binding, strict mode (no lenient flags), as an oracle for the differential and property tests.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface HTTPParserCtor {
  new (): HTTPParserInstance;
  REQUEST: number;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
}

interface HTTPParserInstance {
  [key: number]: unknown;
  initialize(type: number, resource: object, maxHeaderSize?: number, lenient?: number): void;
  execute(buf: Buffer): number | (Error & { code?: string; reason?: string; bytesParsed?: number });
  finish(): number | Error | undefined;
  close(): void;
  free(): void;
}

/** `node:_http_common` exports HTTPParser on Node 20; `process.binding('http_parser')` is the
 *  deprecated fallback. */
export const HTTPParser: HTTPParserCtor = (() => {
  try {
    return (require('node:_http_common') as { HTTPParser: HTTPParserCtor }).HTTPParser;
  } catch {
    return (process as unknown as { binding(n: string): { HTTPParser: HTTPParserCtor } }).binding('http_parser').HTTPParser;
  }
})();

export const METHODS: readonly string[] = (require('node:http') as { METHODS: string[] }).METHODS;

/** llhttp's method numbers (its `METHODS` enum, as undici ships it) to names: Node's binding
 *  reports the number, and the numbering has gaps (QUERY is 46), so `_http_common.methods[n]`
 *  is not the name. */
export const LLHTTP_METHOD_NAMES: readonly string[] = (() => {
  const table = (require('undici/lib/llhttp/constants.js') as { METHODS: Record<string, number> }).METHODS;
  const names: string[] = [];
  for (const [name, n] of Object.entries(table)) names[n] ??= name;
  return names;
})();

export interface NodeMessage {
  versionMajor: number;
  versionMinor: number;
  headers: Array<[string, string]>;
  method: string | undefined;
  url: string;
  status: number | undefined;
  reason: string | undefined;
  upgrade: boolean;
  keepAlive: boolean;
  body: Buffer;
  complete: boolean;
}

export interface NodeResult {
  messages: NodeMessage[];
  error: { code: string; reason: string; bytesParsed: number } | undefined;
}

/** Parses `reads` with Node's llhttp (strict). maxHeaderSize 0 means Node's default (16 KiB). */
export function nodeParse(kind: 'request' | 'response', reads: readonly Buffer[], maxHeaderSize = 0): NodeResult {
  const p = new HTTPParser();
  p.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, maxHeaderSize, 0);
  const res: NodeResult = { messages: [], error: undefined };
  let pendingHeaders: string[] = [];
  let pendingUrl = '';
  let cur: NodeMessage | undefined;
  let bodyParts: Buffer[] = [];
  p[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
    pendingHeaders = pendingHeaders.concat(headers);
    pendingUrl += url;
  };
  p[HTTPParser.kOnHeadersComplete] = (
    major: number, minor: number, headers: string[] | undefined, method: number | undefined, url: string | undefined,
    status: number | undefined, reason: string | undefined, upgrade: boolean, keepAlive: boolean,
  ) => {
    const all = headers ? pendingHeaders.concat(headers) : pendingHeaders;
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < all.length; i += 2) pairs.push([all[i], all[i + 1]]);
    cur = {
      versionMajor: major, versionMinor: minor, headers: pairs,
      method: method === undefined ? undefined : LLHTTP_METHOD_NAMES[method],
      url: url ?? pendingUrl, status, reason, upgrade, keepAlive, body: Buffer.alloc(0), complete: false,
    };
    res.messages.push(cur);
    pendingHeaders = [];
    pendingUrl = '';
    bodyParts = [];
    return 0;
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => { bodyParts.push(Buffer.from(b)); };
  p[HTTPParser.kOnMessageComplete] = () => {
    if (cur) { cur.body = Buffer.concat(bodyParts); cur.complete = true; }
  };
  try {
    for (const r of reads) {
      const ret = p.execute(r);
      if (ret instanceof Error) {
        res.error = { code: ret.code ?? 'ERR', reason: ret.reason ?? ret.message, bytesParsed: ret.bytesParsed ?? -1 };
        break;
      }
    }
    if (cur && !cur.complete) cur.body = Buffer.concat(bodyParts);
  } finally {
    p.close();
  }
  return res;
}
