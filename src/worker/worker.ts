// A worker process of the cluster: the data plane only. It waits for the primary's `init`
// (configuration, route state and revision), opens the shared listeners (node:cluster hands them
// out), then applies every state the primary sends, in order, and answers status/stats requests.
// It never reads the config file and never serves the admin API.
import type { Logger } from 'pino';
import { ProxyServer } from '../server/proxy-server.js';
import { RouteTable } from '../routing/route-table.js';
import { createLogger } from '../log.js';
import { ProxyError } from '../errors.js';
import { isPorticoMessage, type PrimaryRequest, type WorkerReply, type ReadyReply, type WorkerStatusReply } from '../contract/ipc-protocol.js';
import type { ControlPlaneState } from '../contract/data-plane.js';
import type { KeyPair } from '../tls/pem.js';
import { sameChallengeSet } from '../acme/challenge-answers.js';
import { sameTicketKeys } from '../tls/ticket-keys.js';

export interface WorkerHooks {
  /** Called once the proxy exists (before it listens): e.g. to count its events. Returns what
   *  answers a `metrics` request (none: an empty list). */
  onProxy?(proxy: ProxyServer, slot: number): Promise<(() => Promise<unknown>) | undefined>;
}

function samePairs(a: KeyPair[], b: KeyPair[]): boolean {
  return a.length === b.length && a.every((p, i) => p.cert === b[i].cert && p.key === b[i].key && p.certFile === b[i].certFile && p.keyFile === b[i].keyFile);
}

export function runWorker(hooks: WorkerHooks = {}): void {
  if (!process.send) throw new Error('portico: a worker must be started by the primary (node:cluster)');
  const startedAt = Date.now();
  let proxy: ProxyServer | undefined;
  let logger: Logger | undefined;
  let metrics: (() => Promise<unknown>) | undefined;
  let stopping: Promise<void> | undefined;
  // messages are handled one at a time, in the order they were sent: an `apply` that arrives
  // while `init` is still opening the listeners runs after it
  let queue: Promise<unknown> = Promise.resolve();

  const reply = (m: WorkerReply) => {
    if (process.connected) process.send!(m);
  };

  /** The certificates the primary holds, where they differ from what runs (admin changes and
   *  renewed files, which the primary follows for every worker; at init, changes made since the
   *  files were read). */
  const applyCertificates = (p: ProxyServer, state: ControlPlaneState) => {
    for (const [id, pairs] of Object.entries(state.certificates)) {
      const store = p.certificateStore(id);
      if (store && !samePairs(store.pairs(), pairs)) store.replace(pairs, `/certificates/${id}`);
    }
    // ACME: issued certificates (and the names awaiting one), and the validations to answer
    for (const [id, issued] of Object.entries(state.issued)) {
      const store = p.certificateStore(id);
      const running = store?.issued();
      if (store && running && (!samePairs(running.pairs, issued.pairs) || running.names.join() !== issued.names.join())) store.replaceIssued(issued);
    }
    if (!sameChallengeSet(p.acmeChallenges(), state.acmeChallenges)) p.setAcmeChallenges(state.acmeChallenges);
    if (state.ticketKeys && !sameTicketKeys(p.ticketKeys(), state.ticketKeys)) p.setTicketKeys(state.ticketKeys);
  };

  const applyState = (revision: number, state: ControlPlaneState) => {
    const p = proxy!;
    // idempotent: a revision it already runs is acknowledged again
    if (revision > p.revision) p.applyTable(RouteTable.next(p.routes.current, state.routes, revision));
    applyCertificates(p, state);
    p.applyHealth(state.health ?? []);
    return { revision: p.revision };
  };

  const stop = (deadlineMs: number) => {
    stopping ??= (async () => {
      await proxy?.close(deadlineMs);
      logger?.flush();
      // let the flush and the last reply leave before exiting
      setTimeout(() => process.exit(0), 50).unref();
    })();
    return stopping;
  };

  const handle = async (m: PrimaryRequest): Promise<unknown> => {
    switch (m.type) {
      case 'portico:init': {
        logger = createLogger(m.config.logLevel).child({ worker: m.slot });
        // the primary runs the active health checks for every worker and sends their results
        proxy = new ProxyServer({ ...m.config, routes: m.state.routes }, logger, { revision: m.revision, activeChecks: false });
        applyCertificates(proxy, m.state);
        proxy.applyHealth(m.state.health ?? []);
        metrics = await hooks.onProxy?.(proxy, m.slot);
        await proxy.listen();
        return { revision: proxy.revision, listeners: proxy.listeners() } satisfies ReadyReply;
      }
      case 'portico:apply':
        return applyState(m.revision, m.state);
      case 'portico:status':
        return {
          pid: process.pid, revision: proxy?.revision ?? 0, uptimeS: Math.round((Date.now() - startedAt) / 100) / 10,
          connections: proxy?.stats().clientConnections ?? 0,
          upstreams: proxy?.upstreamHealth(),
        } satisfies WorkerStatusReply;
      case 'portico:health':
        proxy?.applyHealth(m.reports);
        return {};
      case 'portico:stats':
        return proxy?.stats() ?? { clientConnections: 0, pools: [] };
      case 'portico:metrics':
        return metrics ? metrics() : [];
      case 'portico:shutdown':
        await stop(m.deadlineMs);
        return {};
    }
  };

  process.on('message', (m: unknown) => {
    if (!isPorticoMessage(m)) return; // prom-client's and node:cluster's own messages
    const req = m as PrimaryRequest;
    const run = queue.then(() => handle(req));
    queue = run.catch(() => {});
    run.then(
      (body) => reply({ type: 'portico:reply', id: req.id, ok: true, body }),
      (e: unknown) => reply({ type: 'portico:reply', id: req.id, ok: false, error: (e as Error).message, ...(e instanceof ProxyError ? { code: e.code } : {}) }),
    );
  });
  reply({ type: 'portico:hello', id: 0 });
  // The primary tells workers when to stop. A terminal's Ctrl-C or a SIGTERM sent to the whole
  // process group reaches the workers too: drain the same way instead of dying mid-request.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void stop(proxy?.config.timeouts.shutdownMs ?? 10_000));
  process.on('SIGHUP', () => {}); // the primary's signal (rolling restart), not ours
}
