// What each admin endpoint needs (docs/admin-security.md has the table), whether reads are open,
// and what to tell the operator at start-up about a listener that others can reach.
//   public   /healthz, /readyz: probes answer anyone (orchestrators probe without credentials)
//   metrics  /metrics: as a read, or public with admin.metricsAuth: false
//   read     every other GET and HEAD (a read or an admin credential), or anyone with open reads
//   admin    everything else (an admin credential)
// Beyond loopback the route table, configuration, status and certificates are a map of the
// network behind the proxy, so reads need a credential there unless the operator says otherwise
// (as APISIX's admin API and HAProxy's Data Plane API authenticate reads; Caddy keeps its admin
// API on loopback for this reason).
// No Fastify here: run.ts prints the notices before Fastify is loaded.
import type { AdminConfig } from '../../src/config/admin-schema.js';
import { parseHostPort } from '../../src/config/config.js';
import { isLoopbackHost } from '../../src/net/loopback.js';

export type Access = 'public' | 'metrics' | 'read' | 'admin';

/** Set on a route (`config: { access }`) whose access is not decided by its method. */
export interface AccessRouteConfig {
  access?: Access;
}

const READ_METHODS = new Set(['GET', 'HEAD']);

/** The access a request needs: the route's own, else read for GET/HEAD, admin for the rest
 *  (also for paths that match no route, so a 404 tells an outsider nothing). */
export function accessOf(method: string, routeConfig: AccessRouteConfig | undefined): Access {
  return routeConfig?.access ?? (READ_METHODS.has(method) ? 'read' : 'admin');
}

/** admin.openReads, or its default: open on a loopback listener, closed elsewhere. */
export function resolveOpenReads(setting: boolean | undefined, listenHost: string): boolean {
  return setting ?? isLoopbackHost(listenHost);
}

/**
 * Sentences for the start-up (stderr, also with --check) about an admin listener beyond
 * loopback: reads that now need a credential (said until admin.openReads is set either way, for
 * those who upgrade from a version where reads were open), reads left open, tokens in clear text.
 */
export function exposureNotices(admin: Pick<AdminConfig, 'listen' | 'openReads' | 'tls'>): string[] {
  const { host } = parseHostPort(admin.listen, '/admin/listen (--admin)');
  if (isLoopbackHost(host)) return [];
  const at = `the admin API on ${admin.listen} (not a loopback address)`;
  const notices: string[] = [];
  if (admin.openReads === undefined) {
    notices.push(`warning: ${at} answers only requests with a token, reads included (all but /healthz and /readyz). `
      + 'Before this version anyone who could reach it could read the routes, configuration, status, certificates, /metrics and /docs/json: '
      + 'dashboards and scrapers without a token now get 401. Give them a read token (admin.tokens with "role": "read"), '
      + 'open /metrics alone (admin.metricsAuth: false), or keep reads open (admin.openReads: true). '
      + 'Setting admin.openReads silences this warning. See docs/admin-security.md.');
  } else if (admin.openReads) {
    notices.push(`warning: admin.openReads is true: ${at} lets anyone who can reach it read the routes (internal upstream addresses), configuration, status and certificates without a token`);
  }
  if (!admin.tls) {
    notices.push(`warning: ${at} is plain HTTP: bearer tokens cross the network in clear text (set admin.tls, see docs/admin-security.md)`);
  }
  return notices;
}
