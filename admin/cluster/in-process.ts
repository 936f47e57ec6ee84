// One process (workers: 1, the default): the ProxyServer runs beside the admin API, as it always
// did; no cluster code is loaded.
import type { RouteSpec } from '../../src/routing/route-spec.js';
import type { RouteTable } from '../../src/routing/route-table.js';
import type { ProxyServer } from '../../src/server/proxy-server.js';
import type { CertificateInfo, IssuedCertificates } from '../../src/tls/certificate-store.js';
import type { AcmeChallengeSet } from '../../src/acme/challenge-answers.js';
import type { KeyPair } from '../../src/tls/pem.js';
import type { TicketKeySet } from '../../src/tls/ticket-keys.js';
import { ProxyError } from '../../src/errors.js';
import type { DataPlane, DataPlaneStatus } from '../../src/contract/data-plane.js';

export class InProcessDataPlane implements DataPlane {
  readonly proxy: ProxyServer;
  readonly #startedAt = Date.now();

  constructor(proxy: ProxyServer) {
    this.proxy = proxy;
  }

  get routes() {
    return this.proxy.routes;
  }

  get ready(): boolean {
    return this.proxy.ready;
  }

  validateRoutes(specs: RouteSpec[], revision?: number): RouteTable {
    return this.proxy.validateRoutes(specs, revision);
  }

  async apply(table: RouteTable): Promise<RouteTable> {
    return this.proxy.applyTable(table);
  }

  listen(): Promise<void> {
    return this.proxy.listen();
  }

  listeners() {
    return this.proxy.listeners();
  }

  tlsListeners() {
    return this.proxy.tlsListeners();
  }

  async replaceCertificates(listenerId: string, pairs: KeyPair[], where: string): Promise<CertificateInfo[]> {
    const store = this.proxy.certificateStore(listenerId);
    if (!store) throw new ProxyError('PRX_ERR_BAD_CONFIG', `no TLS listener ${JSON.stringify(listenerId)}`);
    return store.replace(pairs, where);
  }

  async replaceIssuedCertificates(listenerId: string, issued: IssuedCertificates): Promise<CertificateInfo[]> {
    const store = this.proxy.certificateStore(listenerId);
    if (!store) throw new ProxyError('PRX_ERR_BAD_CONFIG', `no TLS listener ${JSON.stringify(listenerId)}`);
    return store.replaceIssued(issued);
  }

  async setAcmeChallenges(set: AcmeChallengeSet): Promise<void> {
    this.proxy.setAcmeChallenges(set);
  }

  async setTicketKeys(set: TicketKeySet): Promise<void> {
    this.proxy.setTicketKeys(set);
  }

  async stats() {
    return this.proxy.stats();
  }

  async status(): Promise<DataPlaneStatus> {
    const revision = this.proxy.revision;
    return {
      revision,
      mode: 'single',
      workers: [{
        slot: 0, pid: process.pid, state: this.proxy.ready ? 'ready' : 'starting', revision,
        uptimeS: Math.round((Date.now() - this.#startedAt) / 1000), connections: this.proxy.stats().clientConnections, restarts: 0,
      }],
      upstreams: this.proxy.upstreamHealth(),
    };
  }

  close(deadlineMs?: number): Promise<void> {
    return this.proxy.close(deadlineMs);
  }
}
