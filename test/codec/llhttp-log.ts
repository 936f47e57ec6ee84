// Reads the `log` blocks of llhttp's fixtures (the events its test binary prints) into messages:
// start-line parts, header fields, Content-Length, chunk sizes, body bytes, where each message
// ends, and the error that stopped the parser.

export interface LlMessage {
  start: number;
  method: string;
  url: string;
  protocol: string;
  version: string;
  status: number | undefined;
  reason: string;
  headers: Array<[string, string]>;
  /** Header fields llhttp reported after `headers complete`: the chunked trailer section. */
  trailers: Array<[string, string]>;
  headersComplete: { off: number; flags: number; contentLength: number; method?: number; status?: number; v: string } | undefined;
  body: string;
  chunks: number[];
  end: number | undefined;
}

export interface LlError {
  off: number;
  code: number;
  reason: string;
}

export interface LlResult {
  messages: LlMessage[];
  error: LlError | undefined;
  /** `reset` events etc. we do not model. */
  other: string[];
}

/** llhttp ERROR codes that are not parse errors: pauses and upgrades. */
export const LL_PAUSED = 21;
export const LL_PAUSED_UPGRADE = 22;
export const LL_PAUSED_H2_UPGRADE = 23;
export const LL_CLOSED_CONNECTION = 5;

/** Span text as llhttp's test binary prints it: raw bytes (UTF-8 in the file) except tabs and
 *  form feeds written `\t`, `\f` (md-test.ts expands them); CR and LF bytes are printed as
 *  separate unquoted `cr` / `lf` spans. Returned as a latin1 string of the bytes. */
function spanText(s: string): string {
  const v = s.replace(/\\t/g, '\t').replace(/\\f/g, '\f');
  return Buffer.from(v, 'utf8').toString('latin1');
}

export function parseLlhttpLog(lines: readonly string[]): LlResult {
  const res: LlResult = { messages: [], error: undefined, other: [] };
  let m: LlMessage | undefined;
  const spans: Record<string, string> = {};
  let field = '';
  for (const raw of lines) {
    const line = raw.trim();
    const head = /^off=(\d+) (.*)$/.exec(line);
    if (!head) { res.other.push(line); continue; }
    const off = Number(head[1]);
    const ev = head[2];
    let x: RegExpExecArray | null;
    if ((x = /^len=(\d+) span\[(\w+)\]=(?:"(.*)"|(cr|lf|crlf))$/.exec(ev))) {
      const v = x[3] !== undefined ? spanText(x[3]) : x[4] === 'cr' ? '\r' : x[4] === 'lf' ? '\n' : '\r\n';
      if (x[2] === 'body') { if (m) m.body += v; } else spans[x[2]] = (spans[x[2]] ?? '') + v;
      continue;
    }
    if (ev === 'message begin') {
      m = {
        start: off, method: '', url: '', protocol: '', version: '', status: undefined, reason: '', headers: [], trailers: [],
        headersComplete: undefined, body: '', chunks: [], end: undefined,
      };
      res.messages.push(m);
      continue;
    }
    if ((x = /^(\w+) complete$/.exec(ev)) && x[1] !== 'message' && x[1] !== 'chunk') {
      const kind = x[1];
      const v = spans[kind] ?? '';
      delete spans[kind];
      if (!m) continue;
      if (kind === 'method') m.method = v;
      else if (kind === 'url') m.url = v;
      else if (kind === 'protocol') m.protocol = v;
      else if (kind === 'version') m.version = v;
      else if (kind === 'status') m.reason = v;
      else if (kind === 'header_field') field = v;
      else if (kind === 'header_value') (m.headersComplete ? m.trailers : m.headers).push([field, v]);
      continue;
    }
    if ((x = /^headers complete (?:method=(\d+)|status=(\d+)) v=(\d+\/\d+) flags=([0-9a-f]+) content_length=(\d+)$/.exec(ev))) {
      if (m) {
        m.headersComplete = {
          off, v: x[3], flags: parseInt(x[4], 16), contentLength: Number(x[5]),
          ...(x[1] !== undefined ? { method: Number(x[1]) } : {}),
          ...(x[2] !== undefined ? { status: Number(x[2]) } : {}),
        };
        if (x[2] !== undefined) m.status = Number(x[2]);
      }
      continue;
    }
    if ((x = /^chunk header len=(\d+)$/.exec(ev))) { m?.chunks.push(Number(x[1])); continue; }
    if (ev === 'message complete') { if (m) m.end = off; continue; }
    if ((x = /^error code=(\d+) reason="(.*)"$/.exec(ev))) {
      res.error = { off, code: Number(x[1]), reason: x[2] };
      continue;
    }
    res.other.push(line);
  }
  return res;
}
