// A Server-Sent Events reader for GET /v1/changes (the event stream format of WHATWG HTML,
// https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
// used by bench/history.ts (npm run bench:history) and the history tests. Collects events, each
// with the moment it was received; close() ends the stream.

export interface SseEvent {
  /** The event's id field, when it had one. */
  id?: string;
  event: string;
  data: string;
  /** performance.now() when the blank line ending the event was read: what bench:history measures
   *  the feed's delivery latency with (write answered -> event received). */
  receivedAt: number;
}

export interface SseStream {
  readonly status: number;
  readonly headers: Headers;
  readonly events: SseEvent[];
  /** Comment lines received (heartbeats). */
  readonly comments: string[];
  /** Resolves once `n` events have arrived (rejects after `ms`, or if the stream ends first). */
  waitFor(n: number, ms?: number): Promise<SseEvent[]>;
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<void>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let waiters: Array<() => void> = [];
  let done = false;
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  let pending: { id?: string; event?: string; data: string[] } = { data: [] };
  const line = (l: string) => {
    if (l === '') {
      if (pending.data.length || pending.event) events.push({ ...(pending.id !== undefined ? { id: pending.id } : {}), event: pending.event ?? 'message', data: pending.data.join('\n'), receivedAt: performance.now() });
      pending = { data: [] };
      wake();
      return;
    }
    if (l.startsWith(':')) {
      comments.push(l.slice(1).trim());
      wake();
      return;
    }
    const i = l.indexOf(':');
    const field = i < 0 ? l : l.slice(0, i);
    const value = i < 0 ? '' : l.slice(i + 1).replace(/^ /, '');
    if (field === 'id') pending.id = value;
    else if (field === 'event') pending.event = value;
    else if (field === 'data') pending.data.push(value);
  };
  const ended = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buf = '';
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done: end, value } = await reader.read();
        if (end) break;
        buf += decoder.decode(value, { stream: true });
        let nl: number;
        while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
          const sep = buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1;
          line(buf.slice(0, nl));
          buf = buf.slice(nl + sep);
        }
      }
    } catch { /* aborted */ }
    done = true;
    wake();
  })();
  return {
    status: res.status,
    headers: res.headers,
    events,
    comments,
    ended,
    async waitFor(n, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (events.length < n) {
        if (done) throw new Error(`the stream ended after ${events.length} of ${n} events`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${events.length} of ${n} events after ${ms} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => { clearTimeout(t); resolve(); });
        });
      }
      return events.slice(0, n);
    },
    close: () => abort.abort(),
  };
}
