// The primary of `portico --workers N`: the control plane's view of N worker processes that run
// the data plane (src/worker/worker.ts) on shared listeners (node:cluster). It
//   - starts them with the configuration and the current route state, and waits until each listens;
//   - applies a route change on every live worker and resolves only when each has acknowledged
//     that revision (a worker that misses `timeouts.workerAckMs` is killed and replaced, so no
//     worker serves an older table once the admin API has answered);
//   - replaces a worker that dies at once, and backs off a crash loop (./backoff.ts);
//   - drains them all on close, and replaces them one at a time on a rolling restart.
// It runs no data path itself: no listener of its own, no codec, no upstream pools.
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { globalPolicy, type Config } from '../../src/config/config.js';
import { stateOf, type DataPlane, type DataPlaneStatus, type RollingRestartStatus, type TlsListenerView, type WorkerStatus } from '../../src/contract/data-plane.js';
import type { PrimaryRequest, ReadyReply, AppliedReply, WorkerStatusReply, WorkerReply, RouteCountDelta } from '../../src/contract/ipc-protocol.js';
import { isPorticoMessage } from '../../src/contract/ipc-protocol.js';
import type { ListenerInfo, ProxyStats, PoolStats } from '../../src/server/proxy-server.js';
import { planListeners } from '../../src/server/listener-plan.js';
import type { CertificateInfo, IssuedCertificates } from '../../src/tls/certificate-store.js';
import { AcmeChallengeAnswers, emptyChallengeSet, type AcmeChallengeSet } from '../../src/acme/challenge-answers.js';
import { CertificateWatcher } from '../../src/tls/certificate-watcher.js';
import type { KeyPair } from '../../src/tls/pem.js';
import type { TicketKeySet } from '../../src/tls/ticket-keys.js';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import { RouteTable, RouteTableHolder } from '../../src/routing/route-table.js';
import { ProxyError, ERROR_CODES, type PorticoErrorCode } from '../../src/errors.js';
import { STABLE_MS, restartDelayMs } from './backoff.js';
import { HealthChecker } from '../../src/health/health-checker.js';
import { healthStatus, type UpstreamHealthStatus } from '../../src/health/health-status.js';
import type { HealthReport } from '../../src/upstream/origin-health.js';
import { systemClock } from '../../src/clock.js';
import { readCaBundle } from '../../src/tls/pem.js';

/** A worker's start (fork, load, listen) on a busy machine can take seconds. */
const START_TIMEOUT_MS = 30_000;
/** Status, stats and metrics requests: a worker that does not answer is reported without numbers. */
const QUERY_TIMEOUT_MS = 2_000;

const WORKER_MAIN = fileURLToPath(new URL('./worker-main.js', import.meta.url));

type MemberState = 'starting' | 'ready' | 'draining';

interface Member {
  readonly worker: Worker;
  readonly slot: number;
  readonly startedAt: number;
  readonly exited: Promise<void>;
  /** Resolves when the worker listens for our messages (earlier ones would be lost). */
  readonly greeted: Promise<void>;
  state: MemberState;
  everReady: boolean;
  /** Last revision it acknowledged. */
  revision: number | null;
}

interface Slot {
  readonly index: number;
  member: Member | undefined;
  restarts: number;
  /** Early deaths in a row (crash loop when > 1). */
  crashes: number;
  timer: NodeJS.Timeout | undefined;
  nextStartAt: number | undefined;
  /** A rolling restart is replacing this slot's worker: its exit is not a crash. */
  replacing: boolean;
}

/** Why a request to a worker failed: it exited (not its fault for an ack) or it was too slow. */
class WorkerGone extends Error {}
class WorkerTimeout extends Error {}

interface Pending { worker: Worker; resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }

export interface SlotInfo { slot: number; state: WorkerStatus['state']; restarts: number; crashes: number; backoffMs: number }

export interface ClusterOptions {
  config: Config;
  /** Resolved worker count (> 1). */
  workers: number;
  logger: Logger;
}

export class ClusterDataPlane implements DataPlane {
  readonly proxy = undefined;
  readonly routes: RouteTableHolder;
  readonly #config: Config;
  readonly #count: number;
  readonly #logger: Logger;
  readonly #slots: Slot[] = [];
  /** Every worker process alive, draining ones included. */
  readonly #members = new Map<Worker, Member>();
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #listeners: ListenerInfo[] = [];
  /** The TLS listeners' certificates as the workers run them (the primary serves none itself):
   *  what GET /v1/tls shows and what a new worker is given. */
  readonly #tls: TlsListenerView[];
  /** The ACME validations every worker answers. */
  #acmeChallenges: AcmeChallengeSet = emptyChallengeSet();
  /** The session ticket keys every worker uses (set before listen: workers start with them). */
  #ticketKeys: TicketKeySet | undefined;
  /** Follow the certificate files for the workers (which do not). */
  readonly #watchers: CertificateWatcher[] = [];
  /** The broadcast of the last certificate change. */
  #certificatesSent: Promise<void> = Promise.resolve();
  /** The configuration the workers get: no file watching of their own. */
  readonly #workerConfig: Config;
  #started = false;
  #closing: Promise<void> | undefined;
  #rolling: Promise<DataPlaneStatus> | undefined;
  #lastRoll: RollingRestartStatus | undefined;
  #ackTimeouts = 0;
  /** The routes' active health checks, run here once for every worker (from listen()). */
  #checker: HealthChecker | undefined;
  /** Probe results by upstream, for the metrics. */
  readonly #healthChecks = new Map<string, { pass: number; fail: number }>();
  /** Who follows the workers' per-route counts (guarded changes: admin/guard/). */
  readonly #routeCountListeners = new Set<(counts: RouteCountDelta[]) => void>();

  constructor(opts: ClusterOptions) {
    this.#config = opts.config;
    this.#count = opts.workers;
    this.#logger = opts.logger.child({ component: 'primary' });
    this.routes = new RouteTableHolder(RouteTable.build(opts.config.routes, 1, globalPolicy(opts.config)));
    this.routes.onReplace((next) => {
      next.health.prune(next.authorities());
      this.#checker?.follow(next);
    });
    this.#tls = [];
    for (const p of planListeners(opts.config)) {
      if (!p.tls) continue;
      this.#tls.push({ id: p.id, listen: p.listen, store: p.tls.store, ...(p.tls.acme ? { acmeNames: p.tls.acmeNames } : {}) });
      if (p.tls.watchFiles) this.#watchers.push(new CertificateWatcher(p.tls.store, p.tls.watchIntervalMs, this.#logger));
      // every change (admin API or renewed files) goes to every worker
      p.tls.store.onChange(() => { this.#certificatesSent = this.#broadcast(); });
    }
    // The primary alone follows the certificate files: were each worker to poll them as well, one
    // that saw a renewal before the primary would be set back to the old pair by the next `apply`.
    this.#workerConfig = { ...opts.config, listeners: opts.config.listeners.map((l) => (l.tls ? { ...l, tls: { ...l.tls, watchFiles: false } } : l)) };
    // Scheduling: the workers share the listening socket and the kernel hands each accept to one
    // of them (SCHED_NONE), as nginx workers do. node:cluster's default on Linux, SCHED_RR, makes
    // the primary accept every connection and pass it on: the primary would be on the data path,
    // it spends more CPU per new connection, and a connection passed to a worker that dies before
    // taking it stays open in the primary, unanswered, forever (node's RoundRobinHandle only
    // closes or re-sends it on the worker's reply). RR balances more evenly (bench/RESULTS.md,
    // "Workers"). NODE_CLUSTER_SCHED_POLICY=rr still selects it.
    if (!process.env.NODE_CLUSTER_SCHED_POLICY) cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: WORKER_MAIN, args: [] });
    cluster.on('exit', (worker, code, signal) => this.#onExit(worker, code, signal));
  }

  get ready(): boolean {
    return this.#started && !this.#closing && [...this.#members.values()].some((m) => m.state === 'ready');
  }

  listeners(): ListenerInfo[] {
    return this.#listeners;
  }

  tlsListeners() {
    return this.#tls;
  }

  validateRoutes(specs: RouteSpec[], revision = this.routes.current.revision + 1): RouteTable {
    return RouteTable.next(this.routes.current, specs, revision);
  }

  async listen(): Promise<void> {
    this.#checker = new HealthChecker({
      clock: systemClock, logger: this.#logger, caBundle: this.#config.upstream.caFile ? readCaBundle(this.#config.upstream.caFile, '/upstream/caFile') : undefined,
      report: (r, authority, pass) => this.#healthReported(r, authority, pass),
    });
    this.#checker.follow(this.routes.current);
    for (let i = 0; i < this.#count; i++) {
      this.#slots.push({ index: i, member: undefined, restarts: 0, crashes: 0, timer: undefined, nextStartAt: undefined, replacing: false });
    }
    const results = await Promise.allSettled(this.#slots.map((s) => this.#start((s.member = this.#fork(s)))));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.close(0);
      throw failed.reason;
    }
    this.#started = true;
  }

  async apply(table: RouteTable): Promise<RouteTable> {
    if (table.revision <= this.routes.current.revision) throw new Error('portico: stale route table (built against an older revision)');
    this.routes.replace(table);
    await this.#broadcast();
    return table;
  }

  async replaceCertificates(listenerId: string, pairs: KeyPair[], where: string): Promise<CertificateInfo[]> {
    const store = this.#tls.find((l) => l.id === listenerId)?.store;
    if (!store) throw new ProxyError('PRX_ERR_BAD_CONFIG', `no TLS listener ${JSON.stringify(listenerId)}`);
    const infos = store.replace(pairs, where); // checks every pair first: a bad one changes nothing
    await this.#certificatesSent; // sent by the store's change listener
    return infos;
  }

  async replaceIssuedCertificates(listenerId: string, issued: IssuedCertificates): Promise<CertificateInfo[]> {
    const store = this.#tls.find((l) => l.id === listenerId)?.store;
    if (!store) throw new ProxyError('PRX_ERR_BAD_CONFIG', `no TLS listener ${JSON.stringify(listenerId)}`);
    const infos = store.replaceIssued(issued); // checks every pair first: a bad one changes nothing
    await this.#certificatesSent; // sent by the store's change listener
    return infos;
  }

  async setAcmeChallenges(set: AcmeChallengeSet): Promise<void> {
    new AcmeChallengeAnswers().replace(set); // a bad challenge certificate throws here, not in a worker
    this.#acmeChallenges = structuredClone(set);
    await this.#broadcast();
  }

  async setTicketKeys(set: TicketKeySet): Promise<void> {
    this.#ticketKeys = set;
    // workers starting now get it after their init (messages reach a worker in order)
    if (this.#members.size > 0) await this.#broadcast();
  }

  #state() {
    return stateOf(this.routes.current, this.#tls, this.#acmeChallenges, this.#ticketKeys);
  }

  /** A probe result: the primary's own view (status), then every live worker's (not awaited:
   *  a worker that misses one gets the next, and a new worker starts with them all). */
  #healthReported(r: HealthReport, authority: string, pass: boolean): void {
    this.routes.current.health.apply(r, systemClock.now());
    let n = this.#healthChecks.get(authority);
    if (n === undefined) this.#healthChecks.set(authority, (n = { pass: 0, fail: 0 }));
    if (pass) n.pass++;
    else n.fail++;
    for (const m of this.#members.values()) {
      if (m.state !== 'draining') this.#request(m, { type: 'portico:health', reports: [r] }, QUERY_TIMEOUT_MS).catch(() => {});
    }
  }

  /** Sends the current state to every live worker; resolves when each has acknowledged it (a
   *  worker that does not in time is killed: it must not outlive the answer with the old state;
   *  its replacement starts with the current one). Messages reach a worker in order. */
  async #broadcast(): Promise<void> {
    const table = this.routes.current;
    const msg = { type: 'portico:apply', revision: table.revision, state: this.#state() } as const;
    const live = [...this.#members.values()].filter((m) => m.state !== 'draining');
    await Promise.all(live.map(async (m) => {
      try {
        const r = await this.#request<AppliedReply>(m, msg, this.#config.timeouts.workerAckMs);
        m.revision = Math.max(m.revision ?? 0, r.revision);
      } catch (e) {
        if (e instanceof WorkerGone) return; // its replacement starts with the current table
        // it may still serve the old table: it must not outlive this answer
        this.#ackTimeouts++;
        this.#logger.error({ slot: m.slot, pid: m.worker.process.pid, revision: table.revision, err: (e as Error).message }, 'worker did not apply the change in time; replacing it');
        m.worker.process.kill('SIGKILL');
        await m.exited;
      }
    }));
  }

  async stats(): Promise<ProxyStats> {
    const replies = await this.#ask<ProxyStats>('portico:stats', (m) => m.state === 'ready');
    const pools = new Map<string, PoolStats>();
    let clientConnections = 0;
    for (const r of replies) {
      if (!r) continue;
      clientConnections += r.clientConnections;
      for (const p of r.pools) {
        const sum = pools.get(p.authority);
        if (!sum) pools.set(p.authority, { ...p });
        else for (const k of ['active', 'idle', 'waiting', 'created', 'reused', 'resumed'] as const) sum[k] += p[k];
      }
    }
    return { clientConnections, pools: [...pools.values()] };
  }

  async status(): Promise<DataPlaneStatus> {
    const members = [...this.#members.values()];
    const replies = await Promise.all(members.map((m) => this.#request<WorkerStatusReply>(m, { type: 'portico:status' }, QUERY_TIMEOUT_MS).catch(() => undefined)));
    const now = Date.now();
    const workers: WorkerStatus[] = members.map((m, i) => {
      const r = replies[i];
      const slot = this.#slots[m.slot];
      return {
        slot: m.slot, pid: m.worker.process.pid ?? null, state: m.state,
        revision: r?.revision ?? m.revision,
        uptimeS: r?.uptimeS ?? Math.round((now - m.startedAt) / 100) / 10,
        connections: r?.connections ?? null,
        restarts: slot.restarts,
        ...(slot.crashes > 1 && slot.member === m ? { crashes: slot.crashes } : {}),
      };
    });
    for (const s of this.#slots) {
      if (s.member || s.nextStartAt === undefined) continue;
      workers.push({ slot: s.index, pid: null, state: 'backoff', revision: null, uptimeS: 0, connections: null, restarts: s.restarts, crashes: s.crashes, nextStartInMs: Math.max(0, s.nextStartAt - now) });
    }
    workers.sort((a, b) => a.slot - b.slot || (a.state === 'draining' ? -1 : 1));
    return {
      revision: this.routes.current.revision, mode: 'cluster', workers, ...(this.#lastRoll ? { rollingRestart: { ...this.#lastRoll } } : {}),
      upstreams: this.#upstreamHealth(members.map((m, i) => ({ slot: m.slot, upstreams: replies[i]?.upstreams }))),
    };
  }

  /** The active checks as the primary knows them, with each worker's outlier ejections. */
  #upstreamHealth(fromWorkers: Array<{ slot: number; upstreams: UpstreamHealthStatus[] | undefined }>): UpstreamHealthStatus[] {
    return healthStatus(this.routes.current, systemClock.now()).map((u) => {
      let ejected: UpstreamHealthStatus['ejected'];
      for (const w of fromWorkers) {
        const e = w.upstreams?.find((x) => x.route === u.route && x.upstream === u.upstream)?.ejected;
        if (e === undefined) continue;
        ejected = { until: ejected === undefined || e.until > ejected.until ? e.until : ejected.until, ...(e.why ?? ejected?.why ? { why: e.why ?? ejected?.why } : {}), workers: [...(ejected?.workers ?? []), w.slot] };
      }
      return ejected === undefined ? u : { ...u, available: false, ejected };
    });
  }

  /** Per-worker metric registries as JSON (prom-client's getMetricsAsJSON), for aggregation. */
  async workerMetrics(): Promise<unknown[]> {
    return (await this.#ask<unknown>('portico:metrics', () => true)).filter((r) => Array.isArray(r));
  }

  /** Supervision state for the metrics (no IPC). */
  supervision(): { slots: SlotInfo[]; ackTimeouts: number; healthChecks: ReadonlyMap<string, { pass: number; fail: number }> } {
    const now = Date.now();
    return {
      ackTimeouts: this.#ackTimeouts,
      healthChecks: this.#healthChecks,
      slots: this.#slots.map((s) => ({
        slot: s.index,
        state: s.member?.state ?? (s.nextStartAt !== undefined ? 'backoff' : 'starting'),
        restarts: s.restarts,
        crashes: s.crashes,
        backoffMs: !s.member && s.nextStartAt !== undefined ? Math.max(0, s.nextStartAt - now) : 0,
      })),
    };
  }

  /** Rolling restart: per slot, start a new worker, wait until it listens, then drain the old
   *  one. The listening socket stays open throughout (another worker always holds it), so no
   *  connection is refused. A second call while one runs joins it. */
  restartWorkers(): Promise<DataPlaneStatus> {
    if (this.#closing) return Promise.reject(new ProxyError('PRX_ERR_WORKER', 'shutting down'));
    if (!this.#rolling) {
      const info: RollingRestartStatus = (this.#lastRoll = { state: 'running', startedAt: new Date().toISOString() });
      this.#rolling = this.#roll().then(
        (status) => {
          Object.assign(info, { state: 'done', finishedAt: new Date().toISOString() });
          return { ...status, rollingRestart: { ...info } };
        },
        (e: Error) => {
          Object.assign(info, { state: 'failed', finishedAt: new Date().toISOString(), error: e.message });
          this.#logger.error({ err: e.message }, 'rolling restart failed');
          throw e;
        },
      ).finally(() => { this.#rolling = undefined; });
    }
    return this.#rolling;
  }

  async #roll(): Promise<DataPlaneStatus> {
    this.#logger.info({ workers: this.#count }, 'rolling restart of the workers');
    for (const slot of this.#slots) {
      if (this.#closing) break;
      if (slot.timer) clearTimeout(slot.timer); // a slot waiting in backoff is started now
      slot.timer = undefined;
      slot.nextStartAt = undefined;
      const old = slot.member;
      slot.replacing = true;
      const fresh = this.#fork(slot);
      try {
        await this.#start(fresh);
      } catch (e) {
        fresh.worker.process.kill('SIGKILL');
        slot.replacing = false;
        if (!slot.member) this.#schedule(slot, 0);
        throw new ProxyError('PRX_ERR_WORKER', `worker ${slot.index}: its replacement did not start (${(e as Error).message}); the old one keeps serving`);
      }
      slot.member = fresh;
      slot.crashes = 0;
      slot.replacing = false;
      if (old && this.#members.has(old.worker)) await this.#drain(old, this.#config.timeouts.shutdownMs);
    }
    this.#logger.info('rolling restart done');
    return this.status();
  }

  close(deadlineMs = this.#config.timeouts.shutdownMs): Promise<void> {
    this.#closing ??= (async () => {
      this.#checker?.close();
      for (const w of this.#watchers.splice(0)) w.close();
      for (const s of this.#slots) {
        if (s.timer) clearTimeout(s.timer);
        s.timer = undefined;
      }
      await Promise.all([...this.#members.values()].map((m) => this.#drain(m, deadlineMs)));
    })();
    return this.#closing;
  }

  #fork(slot: Slot): Member {
    const worker = cluster.fork();
    let greet!: () => void;
    const member: Member = {
      worker, slot: slot.index, startedAt: Date.now(), state: 'starting', everReady: false, revision: null,
      exited: new Promise((resolve) => worker.once('exit', () => resolve())),
      greeted: new Promise((resolve) => { greet = resolve; }),
    };
    this.#members.set(worker, member);
    worker.on('message', (m: unknown) => {
      if (isPorticoMessage(m) && m.type === 'portico:hello') greet();
      else this.#onMessage(m);
    });
    worker.on('error', (e) => this.#logger.debug({ err: e, slot: slot.index }, 'worker channel error'));
    return member;
  }

  /** Sends `init` (current configuration and table) and waits until the worker listens. */
  async #start(m: Member): Promise<void> {
    const table = this.routes.current;
    const ready = await this.#request<ReadyReply>(m, {
      type: 'portico:init', slot: m.slot, config: this.#workerConfig, revision: table.revision, state: this.#state(),
    }, START_TIMEOUT_MS);
    if (m.state === 'starting') m.state = 'ready';
    m.everReady = true;
    m.revision = Math.max(m.revision ?? 0, ready.revision);
    this.#listeners = ready.listeners;
  }

  /** Asks the worker to finish in-flight requests and exit; kills it if it has not by the deadline. */
  async #drain(m: Member, deadlineMs: number): Promise<void> {
    m.state = 'draining';
    this.#request(m, { type: 'portico:shutdown', deadlineMs }, deadlineMs + 5_000).catch(() => {});
    const timer = setTimeout(() => m.worker.process.kill('SIGKILL'), deadlineMs + 5_000);
    await m.exited;
    clearTimeout(timer);
  }

  #schedule(slot: Slot, delayMs: number): void {
    const start = () => {
      slot.timer = undefined;
      slot.nextStartAt = undefined;
      if (this.#closing) return;
      const m = (slot.member = this.#fork(slot));
      this.#start(m).catch((e: Error) => {
        this.#logger.error({ slot: slot.index, err: e.message }, 'replacement worker did not start');
        m.worker.process.kill('SIGKILL'); // its exit counts as a crash: the next start backs off
      });
    };
    if (delayMs === 0) return start();
    slot.nextStartAt = Date.now() + delayMs;
    slot.timer = setTimeout(start, delayMs);
  }

  #onExit(worker: Worker, code: number | null, signal: string | null): void {
    const m = this.#members.get(worker);
    if (!m) return;
    this.#members.delete(worker);
    for (const [id, p] of this.#pending) {
      if (p.worker !== worker) continue;
      clearTimeout(p.timer);
      this.#pending.delete(id);
      p.reject(new WorkerGone(`worker ${m.slot} exited (${signal ?? `code ${code}`})`));
    }
    const slot = this.#slots[m.slot];
    if (slot.member !== m) return; // replaced by a rolling restart, or given up at start
    slot.member = undefined;
    if (!this.#started || this.#closing || m.state === 'draining') return;
    if (slot.replacing) return; // the rolling restart's new worker takes the slot
    slot.restarts++;
    const lived = Date.now() - m.startedAt;
    slot.crashes = !m.everReady || lived < STABLE_MS ? slot.crashes + 1 : 1;
    const delay = restartDelayMs(slot.crashes);
    const info = { slot: slot.index, pid: worker.process.pid, code, signal, livedMs: lived, restarts: slot.restarts, crashes: slot.crashes, nextStartInMs: delay };
    if (delay === 0) this.#logger.warn(info, 'worker died; replacing it');
    else this.#logger.error(info, 'worker keeps dying (crash loop); backing off before the next start');
    this.#logger.flush(); // rare and important: do not leave it in the log's buffer
    this.#schedule(slot, delay);
  }

  onRouteCounts(listener: (counts: RouteCountDelta[]) => void): () => void {
    this.#routeCountListeners.add(listener);
    return () => this.#routeCountListeners.delete(listener);
  }

  #onMessage(raw: unknown): void {
    if (!isPorticoMessage(raw)) return;
    const m = raw as WorkerReply;
    if (m.type === 'portico:routeCounts') {
      for (const l of this.#routeCountListeners) l(m.counts);
      return;
    }
    if (m.type !== 'portico:reply') return;
    const p = this.#pending.get(m.id);
    if (!p) return;
    clearTimeout(p.timer);
    this.#pending.delete(m.id);
    if (m.ok) p.resolve(m.body);
    else p.reject(new ProxyError(m.code && m.code in ERROR_CODES ? (m.code as PorticoErrorCode) : 'PRX_ERR_WORKER', m.error));
  }

  #request<T>(m: Member, msg: DistributiveOmit<PrimaryRequest, 'id'>, timeoutMs: number): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      if (!this.#members.has(m.worker)) return reject(new WorkerGone(`worker ${m.slot} has exited`));
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new WorkerTimeout(`worker ${m.slot} (pid ${m.worker.process.pid}) did not answer ${msg.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { worker: m.worker, resolve, reject, timer });
      void m.greeted.then(() => m.worker.send({ ...msg, id }, (err: Error | null) => {
        if (!err || !this.#pending.has(id)) return;
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(new WorkerGone(`worker ${m.slot}: ${err.message}`));
      }));
    });
  }

  /** The same query to every member that `which` selects; undefined for those that did not answer. */
  #ask<T>(type: 'portico:stats' | 'portico:metrics', which: (m: Member) => boolean): Promise<Array<T | undefined>> {
    const members = [...this.#members.values()].filter(which);
    return Promise.all(members.map((m) => this.#request<T>(m, { type }, QUERY_TIMEOUT_MS).catch(() => undefined)));
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export const startCluster = async (opts: ClusterOptions): Promise<DataPlane> => new ClusterDataPlane(opts);
