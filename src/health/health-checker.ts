// Active health checks: a GET of the route's healthCheck.path on each of its upstreams every
// intervalMs, on a connection of its own (a probe also proves the upstream accepts connections);
// healthyThreshold consecutive passes make an upstream healthy, unhealthyThreshold consecutive
// failures unhealthy (a pass: a response head within timeoutMs with an expected status).
//
// One probe per distinct (upstream, check) per interval, whatever the number of routes that share
// them: routes with the same check settings share a check key (route-table.ts healthCheckKey),
// and the checker follows the whole route table. Who probes: this process when it runs alone;
// with workers, the primary, which sends each result to every worker (src/worker/worker.ts), so
// probes do not multiply with the number of workers either.
//
// Probes go through node:http / node:https: they are not on the proxy path (DESIGN.md: the proxy
// path never parses with llhttp), and a probe is one small request every few seconds.
import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import type { Clock, Deadline } from '../clock.js';
import type { Origin } from '../upstream/origin-url.js';
import { originKey } from '../upstream/upstream-tls.js';
import type { HealthReport } from '../upstream/origin-health.js';
import { expectedStatus, type Policy } from '../upstream/policy.js';
import type { RouteTable } from '../routing/route-table.js';

export interface HealthCheckerOptions {
  clock: Clock;
  logger: Logger;
  /** Every probe result. */
  report(r: HealthReport, authority: string, pass: boolean): void;
  /** The CA bundle of https:// upstreams whose route names none (upstream.caFile). */
  caBundle?: string;
}

class Probe {
  readonly origin: Origin;
  readonly check: Policy['healthCheck'];
  readonly originKey: string;
  readonly checkKey: string;
  readonly timer: Deadline;
  healthy = true;
  passes = 0;
  fails = 0;
  inFlight: http.ClientRequest | undefined;
  constructor(origin: Origin, check: Policy['healthCheck'], checkKey: string, timer: (p: Probe) => Deadline) {
    this.origin = origin;
    this.check = check;
    this.originKey = originKey(origin);
    this.checkKey = checkKey;
    this.timer = timer(this);
  }
}

export class HealthChecker {
  readonly #o: HealthCheckerOptions;
  readonly #probes = new Map<string, Probe>();
  #closed = false;

  constructor(options: HealthCheckerOptions) {
    this.#o = options;
  }

  /** Probes exactly the (upstream, check) pairs `table` asks for: new ones start (their first
   *  probe at once), gone ones stop. */
  follow(table: RouteTable): void {
    if (this.#closed) return;
    const wanted = new Map<string, { origin: Origin; check: Policy['healthCheck']; checkKey: string }>();
    for (const r of table.routes) {
      if (r.checkKey === undefined) continue;
      for (const t of r.balancer.targets) wanted.set(`${originKey(t.origin)} ${r.checkKey}`, { origin: t.origin, check: r.policy.healthCheck, checkKey: r.checkKey });
    }
    for (const [k, p] of this.#probes) {
      if (wanted.has(k)) continue;
      p.timer.cancel();
      p.inFlight?.destroy();
      this.#probes.delete(k);
    }
    for (const [k, w] of wanted) {
      if (this.#probes.has(k)) continue;
      const p = new Probe(w.origin, w.check, w.checkKey, (probe) => this.#o.clock.deadline(() => this.#probe(probe)));
      this.#probes.set(k, p);
      this.#probe(p);
    }
  }

  /** Distinct (upstream, check) pairs being probed. */
  get size(): number { return this.#probes.size; }

  close(): void {
    this.#closed = true;
    for (const p of this.#probes.values()) {
      p.timer.cancel();
      p.inFlight?.destroy();
    }
    this.#probes.clear();
  }

  #probe(p: Probe): void {
    if (this.#closed || this.#probes.get(`${p.originKey} ${p.checkKey}`) !== p) return;
    const { origin, check } = p;
    const t = origin.tls;
    let settled = false;
    const done = (outcome: string, pass: boolean) => {
      if (settled) return;
      settled = true;
      p.inFlight = undefined;
      this.#result(p, outcome, pass);
      if (!this.#closed && this.#probes.get(`${p.originKey} ${p.checkKey}`) === p) p.timer.arm(check.intervalMs);
    };
    const options: https.RequestOptions = {
      host: origin.host,
      port: origin.port,
      method: 'GET',
      path: `${origin.basePath}${check.path ?? '/'}`,
      headers: { host: check.host ?? origin.authority, 'user-agent': 'portico-health-check', connection: 'close' },
      agent: false,
      timeout: check.timeoutMs,
      ...(t ? {
        servername: t.servername, ca: t.ca ?? this.#o.caBundle, cert: t.clientPair?.cert, key: t.clientPair?.key,
        rejectUnauthorized: !t.insecureSkipVerify, minVersion: 'TLSv1.2',
      } : {}),
    };
    let req: http.ClientRequest;
    try {
      req = (t ? https : http).request(options, (res) => {
        res.resume();
        done(String(res.statusCode), expectedStatus(check, res.statusCode ?? 0));
        req.destroy();
      });
    } catch (e) {
      done((e as Error).message, false);
      return;
    }
    p.inFlight = req;
    req.on('timeout', () => { done('timeout', false); req.destroy(); });
    req.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message, false));
    req.end();
  }

  #result(p: Probe, outcome: string, pass: boolean): void {
    const check = p.check;
    if (pass) {
      p.passes++;
      p.fails = 0;
    } else {
      p.fails++;
      p.passes = 0;
    }
    let why: string | undefined;
    if (p.healthy && !pass && p.fails >= check.unhealthyThreshold) {
      p.healthy = false;
      why = `${check.path}: ${outcome} (${p.fails} failed probes in a row)`;
      this.#o.logger.warn({ upstream: p.origin.authority, check: check.path, outcome }, 'upstream unhealthy (active health check)');
    } else if (!p.healthy && pass && p.passes >= check.healthyThreshold) {
      p.healthy = true;
      this.#o.logger.info({ upstream: p.origin.authority, check: check.path }, 'upstream healthy again (active health check)');
    } else if (!p.healthy) {
      why = `${check.path}: ${outcome}`;
    }
    this.#o.report({ originKey: p.originKey, checkKey: p.checkKey, healthy: p.healthy, outcome, ...(why ? { why } : {}) }, p.origin.authority, pass);
  }
}
