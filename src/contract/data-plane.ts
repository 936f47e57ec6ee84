// The data plane as the control plane sees it: where the route table runs. One process
// (InProcessDataPlane: the ProxyServer in this process) or a cluster of worker processes
// (admin/cluster/primary.ts). The admin API's store validates and persists a change, then calls
// `apply`, the one function every table change goes through; it resolves when the table runs
// everywhere (with workers: when every live worker has acknowledged that revision).
import type { RouteSpec } from '../routing/route-spec.js';
import type { RouteTable, RouteTableHolder } from '../routing/route-table.js';
import type { ListenerInfo, ProxyServer, ProxyStats } from '../server/proxy-server.js';
import type { CertificateInfo, CertificateStore, IssuedCertificates } from '../tls/certificate-store.js';
import type { KeyPair } from '../tls/pem.js';
import type { HealthReport } from '../upstream/origin-health.js';
import type { UpstreamHealthStatus } from '../health/health-status.js';
import type { AcmeChallengeSet } from '../acme/challenge-answers.js';
import type { RouteCountDelta } from './ipc-protocol.js';
import type { TicketKeySet } from '../tls/ticket-keys.js';

/** Control-plane state the data plane runs, as sent to workers (`init` and every `apply`): the
 *  routes and, per TLS listener id, the certificates it serves (PEM text, so a worker started
 *  after an admin change starts with the changed certificates): the configured ones and those
 *  issued by the ACME CA; and the ACME validations to answer. */
export interface ControlPlaneState {
  routes: RouteSpec[];
  certificates: Record<string, KeyPair[]>;
  /** Active health check states (the primary probes for every worker): the latest result of each
   *  (upstream, check) pair; later results follow as `portico:health` messages. */
  health?: HealthReport[];
  issued: Record<string, IssuedCertificates>;
  acmeChallenges: AcmeChallengeSet;
  /** The TLS session ticket keys every worker uses (the primary makes and rotates them, or reads
   *  them from the fleet's etcd): a client resumes its session on whichever worker it reaches. */
  ticketKeys?: TicketKeySet;
}

/** A TLS listener as the control plane sees it; `acmeNames` only on a listener with `tls.acme`. */
export interface TlsListenerView { id: string; listen: string; store: CertificateStore; acmeNames?: string[] }

export type WorkerState = 'starting' | 'ready' | 'draining' | 'backoff';

export interface WorkerStatus {
  /** Worker slot (0..N-1); a replaced worker takes its slot. */
  slot: number;
  /** null while the slot waits (backoff) for its next start. */
  pid: number | null;
  state: WorkerState;
  /** Revision of the route table it runs (null: not known). */
  revision: number | null;
  uptimeS: number;
  /** Open client connections (null: the worker did not answer). */
  connections: number | null;
  /** Times this slot's worker was replaced after dying. */
  restarts: number;
  /** Crash loop: consecutive early deaths and when the next start is due. */
  crashes?: number;
  nextStartInMs?: number;
}

export interface RollingRestartStatus {
  state: 'running' | 'done' | 'failed';
  startedAt: string;
  finishedAt?: string;
  error?: string;
}

/** GET /v1/status (an object so that other members can be added). */
export interface DataPlaneStatus {
  revision: number;
  mode: 'single' | 'cluster';
  workers: WorkerStatus[];
  /** The last rolling restart, if any. */
  rollingRestart?: RollingRestartStatus;
  /** Each route's upstreams: available or not, active check, outlier ejection. */
  upstreams?: UpstreamHealthStatus[];
}

export interface DataPlane {
  /** The running table (with workers: the primary's copy, which every live worker runs or is
   *  being given). */
  readonly routes: Pick<RouteTableHolder, 'current' | 'onReplace'>;
  /** The in-process proxy (one-process mode only): its events feed the metrics directly. */
  readonly proxy: ProxyServer | undefined;
  /** Builds the next table from specs without applying it; throws ProxyError on a semantic error.
   *  `revision`: default the next one (a shared store numbers tables with its own revisions). */
  validateRoutes(specs: RouteSpec[], revision?: number): RouteTable;
  /** Swaps `table` in everywhere; resolves once it runs in every live process. In-flight
   *  requests keep the table they started with. */
  apply(table: RouteTable): Promise<RouteTable>;
  /** Opens the listeners (with workers: starts them and waits until each listens). */
  listen(): Promise<void>;
  listeners(): ListenerInfo[];
  /** The TLS listeners and their certificates (with workers: the primary's copy, which every
   *  live worker runs). */
  tlsListeners(): TlsListenerView[];
  /** Replaces a TLS listener's certificates everywhere (CertificateStore.replace: all checked
   *  first; throws ProxyError and changes nothing on a bad pair); resolves once every live
   *  process serves them to new handshakes. */
  replaceCertificates(listenerId: string, pairs: KeyPair[], where: string): Promise<CertificateInfo[]>;
  /** Replaces a `tls.acme` listener's ACME-issued certificates and the names it looks after
   *  everywhere (CertificateStore.replaceIssued); resolves once every live process serves them. */
  replaceIssuedCertificates(listenerId: string, issued: IssuedCertificates): Promise<CertificateInfo[]>;
  /** Replaces the ACME validations answered (HTTP-01 tokens, TLS-ALPN-01 certificates);
   *  resolves once every live process answers them (then the CA may be told to validate). */
  setAcmeChallenges(set: AcmeChallengeSet): Promise<void>;
  /** Replaces the TLS session ticket keys everywhere (src/tls/ticket-keys.ts); resolves once
   *  every live process uses them for new tickets. */
  setTicketKeys(set: TicketKeySet): Promise<void>;
  readonly ready: boolean;
  /** Pool state, summed over workers. */
  stats(): Promise<ProxyStats>;
  status(): Promise<DataPlaneStatus>;
  /** Replaces the workers one at a time without refusing a connection (cluster only); resolves
   *  when done. A call while one runs joins it. */
  restartWorkers?(): Promise<DataPlaneStatus>;
  /** Graceful shutdown: in-flight requests finish, the rest is closed after `deadlineMs`. */
  close(deadlineMs?: number): Promise<void>;
  /** With workers: the per-route request counts each worker pushes (one-process mode has none:
   *  its `proxy` is observed directly). Returns the function that stops listening. */
  onRouteCounts?(listener: (counts: RouteCountDelta[]) => void): () => void;
}

export function stateOf(table: RouteTable, tls: TlsListenerView[], acmeChallenges: AcmeChallengeSet, ticketKeys?: TicketKeySet): ControlPlaneState {
  return {
    ...(ticketKeys ? { ticketKeys } : {}),
    routes: table.routes.map((r) => r.spec as RouteSpec),
    certificates: Object.fromEntries(tls.map((l) => [l.id, l.store.pairs()])),
    health: table.health.reports(),
    issued: Object.fromEntries(tls.filter((l) => l.store.acme).map((l) => [l.id, l.store.issued()])),
    acmeChallenges,
  };
}
