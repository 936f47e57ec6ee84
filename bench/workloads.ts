// The workloads. Paths are understood by bench/origin.ts: /small (13-byte body), /big (1 MiB), POST
// bodies are read in full. Smoke mode uses a,c,d with fewer connections.
import type { Role } from './targets.js';

export type WorkloadKind = 'load' | 'idle' | 'churn' | 'tunnel';

export interface Workload {
  id: string;
  title: string;
  kind: WorkloadKind;
  role: Role;
  method: 'GET' | 'POST';
  path: string;
  bodyBytes: number;
  connections: number;
  smokeConnections: number;
  /** `Connection: close` on every request (new connection, new TLS handshake each time). */
  closeEach?: boolean;
  /** A new TLS connection per request from bench/tls-handshake-client.ts: 'full' handshakes
   *  (no session offered) or 'resumed' ones (the latest session offered). */
  handshake?: 'full' | 'resumed';
}

export const WORKLOADS: Workload[] = [
  { id: 'a', title: 'small GET, 50 keep-alive connections', kind: 'load', role: 'reverse', method: 'GET', path: '/small', bodyBytes: 0, connections: 50, smokeConnections: 8 },
  { id: 'b', title: 'small GET, 1 connection (latency)', kind: 'load', role: 'reverse', method: 'GET', path: '/small', bodyBytes: 0, connections: 1, smokeConnections: 1 },
  { id: 'c', title: '1 MiB GET, 8 connections', kind: 'load', role: 'reverse', method: 'GET', path: '/big', bodyBytes: 0, connections: 8, smokeConnections: 2 },
  { id: 'd', title: 'POST 64 KiB, 16 connections (origin reads the body)', kind: 'load', role: 'reverse', method: 'POST', path: '/post', bodyBytes: 64 * 1024, connections: 16, smokeConnections: 4 },
  { id: 'e', title: 'idle keep-alive client connections: proxy RSS per connection', kind: 'idle', role: 'reverse', method: 'GET', path: '/small', bodyBytes: 0, connections: 10_000, smokeConnections: 200 },
  { id: 'f', title: 'route changes through the admin API during (a)', kind: 'churn', role: 'reverse', method: 'GET', path: '/small', bodyBytes: 0, connections: 50, smokeConnections: 8 },
  { id: 'fwd', title: 'forward proxy: absolute-form small GET, 50 connections', kind: 'load', role: 'forward', method: 'GET', path: '/small', bodyBytes: 0, connections: 50, smokeConnections: 8 },
  { id: 'tls', title: 'HTTPS termination: small GET, 50 keep-alive TLS connections', kind: 'load', role: 'tls', method: 'GET', path: '/small', bodyBytes: 0, connections: 50, smokeConnections: 8 },
  { id: 'tls-new', title: 'new TLS connections: small GET + Connection: close, a full handshake per request, 50 at a time', kind: 'load', role: 'tls', method: 'GET', path: '/small', bodyBytes: 0, connections: 50, smokeConnections: 8, closeEach: true, handshake: 'full' },
  { id: 'tls-resume', title: 'new TLS connections: small GET + Connection: close, a resumed handshake per request (session tickets), 50 at a time', kind: 'load', role: 'tls', method: 'GET', path: '/small', bodyBytes: 0, connections: 50, smokeConnections: 8, closeEach: true, handshake: 'resumed' },
  { id: 'connect', title: 'CONNECT tunnel: 1 MiB GETs through 8 tunnels', kind: 'tunnel', role: 'tunnel', method: 'GET', path: '/big', bodyBytes: 0, connections: 8, smokeConnections: 2 },
];

export const DEFAULT_WORKLOADS = WORKLOADS.map((w) => w.id);
export const SMOKE_WORKLOADS = ['a', 'c', 'd'];
