// GET /v1/changes: the route history as a feed of Server-Sent Events (WHATWG HTML, "Server-sent
// events", https://html.spec.whatwg.org/multipage/server-sent-events.html).
//   event `revision`, id = revision: one applied revision, its metadata and its diff from the
//     previous one; in order, none left out (each names its `previous`).
//   event `reset`, id = revision: the whole current route set. First when no Last-Event-ID is
//     given, when the one given is older than the history keeps (or unknown), or when the history
//     restarted; a follower then replaces what it holds.
//   event `guard` (no id, so Last-Event-ID is not moved): a guarded change started, passed or was
//     rolled back (admin/guard/).
// Last-Event-ID (the header an EventSource sends when it reconnects, or ?lastEventId=) resumes
// after that revision: across a disconnect and across an admin restart, as long as the history
// still keeps it. A comment line every history.heartbeatMs keeps idle connections (and proxies
// between) open; at most history.maxSubscribers followers at once (503 beyond); a follower that
// does not read is disconnected once 16 MiB wait for it (it resumes with Last-Event-ID).
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { RouteStore } from '../stores/route-store.js';
import { routesHash, type LogEvent, type RevisionRecord } from '../history/revision-log.js';
import { AdminProblem, methodNotAllowed } from '../protocol/problem.js';
import { problemResponses } from '../protocol/schemas.js';

export interface ChangesPluginOptions {
  store: RouteStore;
  heartbeatMs: number;
  maxSubscribers: number;
  /** Guard notices to pass on as `guard` events. */
  guardEvents?: (listener: (data: unknown) => void) => () => void;
}

/** Unsent bytes past which a follower is dropped. */
const MAX_BACKLOG = 16 * 1024 * 1024;
/** What an EventSource waits before reconnecting (SSE `retry:`). */
const RETRY_MS = 1000;

/** One SSE event; data is JSON on one line. */
function sseEvent(event: string, data: unknown, id?: number): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The event of a record (serialised once, whatever the number of followers). */
const serialised = new WeakMap<RevisionRecord, string>();
function revisionEvent(r: RevisionRecord): string {
  let text = serialised.get(r);
  if (text === undefined) serialised.set(r, (text = sseEvent('revision', r, r.revision)));
  return text;
}

function lastEventId(request: FastifyRequest<{ Querystring: { lastEventId?: string } }>): number | undefined {
  const raw = request.headers['last-event-id'] ?? request.query.lastEventId;
  if (raw === undefined || raw === '') return undefined;
  const text = Array.isArray(raw) ? raw[0] : raw;
  if (!/^[0-9]{1,15}$/.test(text.trim())) {
    throw new AdminProblem(400, 'bad-request', `Last-Event-ID must be a revision number (as sent in an event's id), not ${JSON.stringify(text)}`, { in: 'headers', pointer: '/last-event-id' });
  }
  return Number(text.trim());
}

export const changesPlugin: FastifyPluginAsync<ChangesPluginOptions> = async (app: FastifyInstance, { store, heartbeatMs, maxSubscribers, guardEvents }) => {
  const log = store.history;
  const followers = new Set<ServerResponse>();

  // app.close() waits for open connections: end the streams first
  app.addHook('preClose', async () => {
    for (const res of followers) res.end();
  });

  app.get<{ Querystring: { lastEventId?: string } }>('/changes', {
    schema: {
      tags: ['history'],
      summary: 'The route history as Server-Sent Events: one event per applied revision, in order',
      description: 'text/event-stream. Events: `revision` (id = revision; data: ChangeEvent, the revision\'s metadata and diff), `reset` (id = revision; data: ResetEvent, the whole route set), `guard` (no id; data: the guard as GET /v1/status shows it, when it starts (state watching) and when it ends: passed, rolled-back, superseded, abandoned or failed). Last-Event-ID (or ?lastEventId=) resumes after that revision, across reconnects and admin restarts, while the history keeps it; else a `reset` comes first. A comment line is sent every history.heartbeatMs. 503 when history.maxSubscribers follow already.',
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { lastEventId: { type: 'string', description: 'as the Last-Event-ID header (for clients that cannot set it)' } },
      },
      headers: { type: 'object', properties: { 'last-event-id': { type: 'string', description: 'the id of the last event received: resume after it' } } },
      response: {
        200: {
          description: 'A stream of events (text/event-stream); the data of each is JSON: ChangeEvent, ResetEvent, or a guard notice',
          content: { 'text/event-stream': { schema: { type: 'string' } } },
        },
        ...problemResponses,
      },
    },
  }, async (request, reply) => {
    const after = lastEventId(request);
    const head = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' };
    if (request.method === 'HEAD') return reply.code(200).headers(head).send();
    if (followers.size >= maxSubscribers) {
      throw new AdminProblem(503, 'too-many-followers', `${maxSubscribers} followers are connected already (history.maxSubscribers); retry later`, {}, { 'retry-after': '5' });
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { ...head, connection: 'keep-alive' });
    res.socket?.setNoDelay(true);
    res.socket?.setTimeout(0);
    followers.add(res);

    const send = (text: string) => {
      if (res.writableEnded) return;
      res.write(text);
      // a follower that does not read is dropped rather than buffered without bound
      if (res.writableLength > MAX_BACKLOG) res.end();
    };
    const reset = (reason: 'start' | 'behind' | 'history-restarted') => {
      const s = store.snapshot();
      const h = log.head;
      // the history's head is what runs (the store appends a revision once it runs)
      const revision = h?.revision ?? s.revision;
      const routes = h?.specs ?? s.specs;
      send(sseEvent('reset', { revision, hash: log.find(revision)?.hash ?? routesHash(routes), reason, routes }, revision));
    };

    // replay and subscribe in the same turn: nothing can be appended in between
    send(`retry: ${RETRY_MS}\n\n`);
    const missed = after === undefined ? undefined : log.after(after);
    if (missed === undefined) reset(after === undefined ? 'start' : 'behind');
    else for (const r of missed) send(revisionEvent(r));
    const unsubscribe = log.on((e: LogEvent) => {
      if (e.type === 'revision') send(revisionEvent(e.record));
      else reset('history-restarted');
    });
    const unsubscribeGuards = guardEvents?.((data) => send(sseEvent('guard', data)));
    const heartbeat = setInterval(() => send(`: heartbeat ${new Date().toISOString()}\n\n`), heartbeatMs);
    heartbeat.unref();
    res.on('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
      unsubscribeGuards?.();
      followers.delete(res);
    });
  });

  methodNotAllowed(app, '/changes', ['GET']);
};
