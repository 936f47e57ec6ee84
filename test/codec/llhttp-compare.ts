// Replays one llhttp fixture through the codec and compares what a proxy acts on with what
// llhttp logged: accept/reject, method, url, version, status, reason, header names and values,
// Content-Length, chunk sizes, body bytes and where each message ends.
import type { Codec } from '../../src/wasm/codec.js';
import { describeCrash, drive, type Outcome, type RunOptions, whole, errorName } from './harness.js';
import { HeadFlag } from '../../asm/shared/constants.js';
import type { MdCase } from './markdown.js';
import {
  parseLlhttpLog, type LlResult, LL_PAUSED, LL_PAUSED_UPGRADE, LL_PAUSED_H2_UPGRADE, LL_CLOSED_CONNECTION,
} from './llhttp-log.js';

export const INJECTED_HOST = 'Host: llhttp.test\r\n';

/** `at`: offset in llhttp's input; `atNew`: the same place in the input with the inserts. */
export interface Insert { at: number; atNew: number; len: number }

/**
 * llhttp's fixtures mostly omit Host, which RFC 9112 §3.2 requires of an HTTP/1.1 request (the
 * codec answers MISSING_HOST). To compare everything else, `Host: llhttp.test` is inserted as the
 * last field line of every HTTP/1.1 head (found from llhttp's own `message begin` offsets) that
 * has none, provided the head is complete and CRLF-delimited up to its empty line (otherwise the
 * insertion could land in a body, or change which error comes first).
 */
export function injectHost(input: Buffer, ll: LlResult): { input: Buffer; inserts: Insert[] } {
  const s = input.toString('latin1');
  const inserts: Insert[] = [];
  for (const m of ll.messages) {
    let b = m.start;
    while (s.startsWith('\r\n', b)) b += 2;
    const eol = s.indexOf('\r\n', b);
    if (eol < 0 || !/ HTTP\/1\.1$/.test(s.slice(b, eol))) continue;
    const end = s.indexOf('\r\n\r\n', b);
    if (end < 0) continue;
    const head = s.slice(b, end + 2);
    if (/\r(?!\n)|(?<!\r)\n/.test(head)) continue; // bare CR or LF: the codec stops there anyway
    if (/\r\nhost[ \t]*:/i.test(head)) continue;
    inserts.push({ at: end + 2, atNew: end + 2 + inserts.length * INJECTED_HOST.length, len: INJECTED_HOST.length });
  }
  if (inserts.length === 0) return { input, inserts };
  const parts: string[] = [];
  let last = 0;
  for (const ins of inserts) {
    parts.push(s.slice(last, ins.at), INJECTED_HOST);
    last = ins.at;
  }
  parts.push(s.slice(last));
  return { input: Buffer.from(parts.join(''), 'latin1'), inserts };
}

/** Maps an offset in llhttp's input to the offset in the input with Host lines inserted. */
export function mapOffset(off: number, inserts: readonly Insert[]): number {
  let d = 0;
  for (const i of inserts) if (i.at <= off) d += i.len;
  return off + d;
}

/** llhttp's header_value span keeps trailing whitespace (Node strips it); RFC 9110 §5.5 excludes
 *  it from the field value, and the codec trims it by offsets. */
function trimValue([n, v]: [string, string]): [string, string] {
  return [n, v.replace(/[ \t]+$/, '')];
}

/** The codec's raw trailer lines as [name, value] pairs. */
export function trailerFields(raw: Buffer): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of raw.toString('latin1').split('\r\n')) {
    if (line === '') continue;
    const c = line.indexOf(':');
    out.push([line.slice(0, c), line.slice(c + 1).replace(/^[ \t]+|[ \t]+$/g, '')]);
  }
  return out;
}

export function runOptionsFor(c: MdCase): RunOptions {
  const type = String(c.meta.type);
  const kind = type.startsWith('response') ? 'response' : 'request';
  return { kind, headRequest: kind === 'response' && c.meta.skipBody === true };
}

/** Outcome at end of input when the caller also signals EOF (llhttp's `-finish` fixtures). */
export function finishAtEof(o: Outcome, total: number): Outcome {
  if (o.error || o.crash) return o;
  if (o.state === 'until-eof') {
    const last = o.messages.at(-1)!;
    last.end = total;
    return { ...o, state: 'idle' };
  }
  return o;
}

export interface Comparison {
  /** Differences found, empty when the codec agrees with llhttp. */
  diffs: string[];
  ours: Outcome;
  ll: LlResult;
  injected: Insert[];
}

export function compareCase(c: Codec, kase: MdCase, inject: boolean): Comparison {
  const ll = parseLlhttpLog(kase.log);
  const opts = runOptionsFor(kase);
  const { input, inserts } = inject && opts.kind === 'request' ? injectHost(kase.input, ll) : { input: kase.input, inserts: [] };
  let ours = drive(c, whole(input), opts);
  const finish = String(kase.meta.type).endsWith('-finish');
  if (finish) ours = finishAtEof(ours, input.length);
  const diffs: string[] = [];
  const d = (s: string) => diffs.push(s);
  if (ours.crash) d(`crash: ${describeCrash(ours.crash)}`);

  // llhttp's verdict: an error that is not a pause/upgrade and not "data after close"
  const llErr = ll.error;
  const llRejects = llErr !== undefined && ![LL_PAUSED, LL_PAUSED_UPGRADE, LL_PAUSED_H2_UPGRADE, LL_CLOSED_CONNECTION].includes(llErr.code);
  const llUpgrade = llErr !== undefined && (llErr.code === LL_PAUSED_UPGRADE || llErr.code === LL_PAUSED_H2_UPGRADE);
  const weReject = ours.error !== undefined;
  if (llRejects !== weReject) {
    d(llRejects
      ? `llhttp rejects (code=${llErr.code} "${llErr.reason}" at ${llErr.off}) but the codec ${ours.state === 'head' ? 'waits for more head bytes' : 'accepts'}`
      : `codec rejects ${errorName(ours.error!.code)} at ${ours.error!.offset} but llhttp accepts`);
  }
  if (llUpgrade && !weReject && ours.state !== 'upgrade') d(`llhttp stops for an upgrade, the codec is in state ${ours.state}`);

  // messages that llhttp completed the head of
  const llMsgs = ll.messages.filter((m) => m.headersComplete !== undefined);
  const n = Math.min(llMsgs.length, ours.messages.length);
  if (!weReject && !llRejects && llMsgs.length !== ours.messages.length) {
    d(`llhttp parsed ${llMsgs.length} heads, the codec ${ours.messages.length}`);
  }
  for (let i = 0; i < n; i++) {
    const l = llMsgs[i];
    const o = ours.messages[i];
    const h = o.head;
    const p = `message ${i}:`;
    const dropInjected = inserts.some((x) => x.atNew > o.start && x.atNew < o.headEnd);
    if (opts.kind === 'request') {
      if (h.method !== l.method) d(`${p} method ${JSON.stringify(h.method)} vs llhttp ${JSON.stringify(l.method)}`);
      if (h.target !== l.url) d(`${p} target ${JSON.stringify(h.target)} vs llhttp ${JSON.stringify(l.url)}`);
    } else {
      if (h.status !== l.status) d(`${p} status ${h.status} vs llhttp ${l.status}`);
      if (h.reason !== l.reason) d(`${p} reason ${JSON.stringify(h.reason)} vs llhttp ${JSON.stringify(l.reason)}`);
    }
    const v = `${h.version / 10 | 0}.${h.version % 10}`;
    if (l.protocol !== 'HTTP' || v !== l.version) d(`${p} version HTTP/${v} vs llhttp ${l.protocol}/${l.version}`);
    const fields = h.entries();
    if (dropInjected && JSON.stringify(fields.at(-1)) === '["Host","llhttp.test"]') fields.pop();
    const llFields = l.headers.map(trimValue);
    if (JSON.stringify(fields) !== JSON.stringify(llFields)) d(`${p} fields ${JSON.stringify(fields)} vs llhttp ${JSON.stringify(llFields)}`);
    const trailers = trailerFields(Buffer.concat(o.trailers));
    const llTrailers = l.trailers.map(trimValue);
    if (JSON.stringify(trailers) !== JSON.stringify(llTrailers)) d(`${p} trailers ${JSON.stringify(trailers)} vs llhttp ${JSON.stringify(llTrailers)}`);
    const llHasCl = (l.headersComplete!.flags & 0x20) !== 0;
    if (llHasCl !== h.has(HeadFlag.HAS_CONTENT_LENGTH)) d(`${p} Content-Length presence differs`);
    else if (llHasCl && l.headersComplete!.contentLength !== h.contentLength) d(`${p} content-length ${h.contentLength} vs llhttp ${l.headersComplete!.contentLength}`);
    if (mapOffset(l.headersComplete!.off, inserts) !== o.headEnd) d(`${p} head ends at ${o.headEnd} vs llhttp ${mapOffset(l.headersComplete!.off, inserts)}`);
    const body = Buffer.concat(o.body).toString('latin1');
    if (body !== l.body) d(`${p} body ${JSON.stringify(body)} vs llhttp ${JSON.stringify(l.body)}`);
    const llChunks = l.chunks.filter((x) => x > 0);
    if (l.chunks.length > 0 && JSON.stringify(o.spans) !== JSON.stringify(llChunks)) d(`${p} chunk sizes ${JSON.stringify(o.spans)} vs llhttp ${JSON.stringify(llChunks)}`);
    const llEnd = l.end === undefined ? undefined : mapOffset(l.end, inserts);
    if (llEnd !== o.end && !(llRejects || weReject)) d(`${p} ends at ${o.end} vs llhttp ${llEnd}`);
  }
  return { diffs, ours, ll, injected: inserts };
}
