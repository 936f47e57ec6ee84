// The IPC messages between the primary (control plane) and its workers (data plane). JSON over
// node:cluster's channel; every request the primary sends carries an id the worker's reply echoes.
import type { ListenerInfo } from '../server/proxy-server.js';
import type { Config } from '../config/config.js';
import type { ControlPlaneState } from './data-plane.js';
import type { HealthReport } from '../upstream/origin-health.js';
import type { UpstreamHealthStatus } from '../health/health-status.js';

/** Prefix of our message types (prom-client and node:cluster use the same channel). */
export const MSG = 'portico:';

export type PrimaryRequest =
  /** First message: the configuration and the state to serve; the worker answers `ready`. */
  | { type: 'portico:init'; id: number; slot: number; config: Config; revision: number; state: ControlPlaneState }
  /** Run this state: its routes as `revision` (unless already), and any certificates that differ
   *  from the running ones; acknowledged once it runs. */
  | { type: 'portico:apply'; id: number; revision: number; state: ControlPlaneState }
  | { type: 'portico:status'; id: number }
  /** Active health check results (the primary probes for all workers). */
  | { type: 'portico:health'; id: number; reports: HealthReport[] }
  | { type: 'portico:stats'; id: number }
  | { type: 'portico:metrics'; id: number }
  /** Stop accepting, finish in-flight requests (up to deadlineMs), exit. */
  | { type: 'portico:shutdown'; id: number; deadlineMs: number };

export interface WorkerStatusReply { pid: number; revision: number; uptimeS: number; connections: number; upstreams?: UpstreamHealthStatus[] }
export interface ReadyReply { revision: number; listeners: ListenerInfo[] }
export interface AppliedReply { revision: number }

/** One route's requests and failed requests (5xx, retried connect failures) counted by a worker
 *  since its last push: [route id, requests, errors] (admin/guard/route-counts.ts). */
export type RouteCountDelta = [route: string, requests: number, errors: number];

export type WorkerReply =
  /** The worker listens for messages now (node:cluster drops those sent before). */
  | { type: 'portico:hello'; id: 0 }
  /** Unasked, every WORKER_PUSH_MS while it has served requests: its per-route counts since the
   *  last push, which the primary adds up for guarded changes. */
  | { type: 'portico:routeCounts'; id: 0; counts: RouteCountDelta[] }
  | { type: 'portico:reply'; id: number; ok: true; body: unknown }
  /** code: a PorticoErrorCode when the error was one (e.g. PRX_ERR_LISTEN). */
  | { type: 'portico:reply'; id: number; ok: false; error: string; code?: string };

export function isPorticoMessage(m: unknown): m is { type: string; id: number } {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' && (m as { type: string }).type.startsWith(MSG);
}
