// The targets of `npm run bench:deploy` (bench/deploy.ts): Portico, nginx and HAProxy in front of
// several upstreams, configured as the issue that asked for this bench (issue 20) says they are
// equivalent, per scenario:
//   deploy  rolling restarts. Portico with its defaults (nothing configured); nginx `max_fails=1
//           fail_timeout=1s` with its default `proxy_next_upstream error timeout`; HAProxy `retries 3`,
//           `option redispatch`, `check inter 1s` (TCP checks, rise 2 fall 3).
//   outage  every upstream answers 503: Portico `retries.onStatus: [503]`, nginx `proxy_next_upstream
//           error timeout http_503`, HAProxy `retry-on conn-failure empty-response 503`.
//   slow    one upstream 200 ms slower: Portico `loadBalancing.algorithm: "least-request"`, nginx
//           `least_conn`, HAProxy `balance leastconn`.
// Every one a single process (one nginx worker, one HAProxy thread, Portico without --workers), keep-alive
// to the upstreams, logs off (Portico at warn: ejections and panic mode are counted).
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from './ports.js';
import {
  firstLine,
  haproxy,
  haproxyHead,
  nginx,
  nginxConf,
  porticoEntry,
  shebangNodeFlags,
  startListening,
  startNginx,
  type Running,
  type TargetContext,
} from './targets.js';
import type { PolicySpec } from '../src/upstream/policy.js';

export type Scenario = 'deploy' | 'outage' | 'slow';

/** The Portico that runs: a built checkout (this one, or --portico-root) and whether it accepts a
 *  route `policy` (porticoAcceptsPolicy); without, Portico runs with none. */
export interface PorticoBuild {
  root: string;
  policy: boolean;
}

export interface DeployTarget {
  name: string;
  product: 'portico' | 'nginx' | 'haproxy';
  scenarios: Scenario[];
  /** The Portico route policy it runs with (undefined: none, Portico's defaults). */
  policy?: (scenario: Scenario) => PolicySpec | undefined;
  /** How it is configured for a scenario, one line for the report. */
  describe(scenario: Scenario): string;
  /** Runs on the default list (others only when named in --targets). */
  byDefault: boolean;
  start(ctx: TargetContext, upstreams: number[], scenario: Scenario, portico: PorticoBuild): Promise<Running>;
}

/** A Portico configuration file: one route to the upstreams, with `policy` when given. */
function porticoConfig(upstreams: number[], policy: PolicySpec | undefined): object {
  return {
    routes: [
      {
        id: 'deploy',
        pathPrefix: '/',
        upstreams: upstreams.map((p) => `http://127.0.0.1:${p}`),
        ...(policy !== undefined ? { policy } : {}),
      },
    ],
  };
}

/** Whether the built Portico accepts a route `policy` (issue 20): `portico --check` on a config with
 *  one. Before it lands on main the scenarios that need it run Portico without it (and say so). */
export function porticoAcceptsPolicy(root: string, tmp: string): boolean {
  const file = join(tmp, 'policy-check.json');
  writeFileSync(file, JSON.stringify(porticoConfig([1], { retries: { onStatus: [503] }, loadBalancing: { algorithm: 'least-request' } })));
  const entry = porticoEntry(root);
  try {
    execFileSync(process.execPath, [...shebangNodeFlags(entry), entry, '--config', file, '--check'], { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

export function porticoVersion(root: string): string {
  const v = firstLine(process.execPath, [porticoEntry(root), '--version']).replace(/^portico\s+/, '');
  let commit = '';
  try {
    commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    /* not a checkout */
  }
  return `${v || '?'}${commit ? `, commit ${commit}` : ''}`;
}

function describePolicy(policy: PolicySpec | undefined): string {
  return policy === undefined ? 'defaults (no policy configured)' : `route policy ${JSON.stringify(policy)}`;
}

function porticoTarget(name: string, byDefault: boolean, scenarios: Scenario[], policy: (s: Scenario) => PolicySpec | undefined): DeployTarget {
  return {
    name,
    product: 'portico',
    scenarios,
    byDefault,
    policy,
    describe: (s) => `portico --config (one route, ${describePolicy(policy(s))}) --admin off --log-level warn`,
    async start(ctx, upstreams, scenario, build) {
      const port = await freePort();
      const file = join(ctx.tmp, `portico-${name}-${port}.json`);
      writeFileSync(file, JSON.stringify(porticoConfig(upstreams, build.policy ? policy(scenario) : undefined)));
      const entry = porticoEntry(build.root);
      const args = [...shebangNodeFlags(entry), entry, '--config', file, '--listen', `127.0.0.1:${port}`, '--admin', 'off', '--log-level', 'warn'];
      return startListening(ctx, name, 'reverse', process.execPath, args, { port, line: /listening/i });
    },
  };
}

/** Portico as a user who configures nothing runs it; the outage and slow scenarios set the one policy
 *  member they are about. */
export const porticoDefaults = porticoTarget('portico', true, ['deploy', 'outage', 'slow'], (s): PolicySpec | undefined => {
  if (s === 'outage') return { retries: { onStatus: [503] } };
  if (s === 'slow') return { loadBalancing: { algorithm: 'least-request' } };
  return undefined;
});

/** Portico with an active health check every second (HAProxy's `check inter 1s`, with the same
 *  thresholds as HAProxy's defaults: 2 passes, 3 failures). */
export const porticoHealthChecked = porticoTarget('portico-hc1s', true, ['deploy'], () => ({
  healthCheck: { path: '/health', intervalMs: 1000, timeoutMs: 1000, healthyThreshold: 2, unhealthyThreshold: 3 },
}));

/** Portico's default round robin beside least-request in the slow scenario: what least-request changes. */
export const porticoRoundRobin = porticoTarget('portico-rr', true, ['slow'], () => undefined);

/** Portico without retries (maxTries 1): what the retries change in a deploy. */
export const porticoNoRetries = porticoTarget('portico-noretry', false, ['deploy'], () => ({ retries: { maxTries: 1 } }));

export const nginxDeploy: DeployTarget = {
  name: 'nginx',
  product: 'nginx',
  scenarios: ['deploy', 'outage', 'slow'],
  byDefault: true,
  describe: (s) =>
    `upstream { server ... max_fails=1 fail_timeout=1s; ${s === 'slow' ? 'least_conn; ' : ''}keepalive 32; }, proxy_http_version 1.1, proxy_set_header Connection "", ` +
    (s === 'outage' ? 'proxy_next_upstream error timeout http_503' : 'default proxy_next_upstream (error timeout)'),
  async start(ctx, upstreams, scenario) {
    const port = await freePort();
    const dir = join(ctx.tmp, `nginx-${port}`);
    const servers = upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=1s;\n`).join('');
    const conf = nginxConf(
      dir,
      ctx.fdLimit,
      `  upstream backends {
${scenario === 'slow' ? '    least_conn;\n' : ''}${servers}    keepalive 32;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
${scenario === 'outage' ? '      proxy_next_upstream error timeout http_503;\n' : ''}    }
  }
`,
    );
    return startNginx(ctx, 'reverse', dir, conf, port);
  },
};

export const haproxyDeploy: DeployTarget = {
  name: 'haproxy',
  product: 'haproxy',
  scenarios: ['deploy', 'outage', 'slow'],
  byDefault: true,
  describe: (s) =>
    `retries 3, option redispatch, server ... check inter 1s (TCP), keep-alive (no http-server-close), timeout connect 1s / client 30s / server 30s, balance ${s === 'slow' ? 'leastconn' : 'roundrobin'}` +
    (s === 'outage' ? ', retry-on conn-failure empty-response 503' : ' (default retry-on conn-failure)'),
  async start(ctx, upstreams, scenario) {
    const port = await freePort();
    const file = join(ctx.tmp, `haproxy-${port}.cfg`);
    writeFileSync(
      file,
      `${haproxyHead(ctx.fdLimit)}  timeout connect 1s
  timeout client 30s
  timeout server 30s
  timeout http-request 10s
  timeout http-keep-alive 30s
  option http-keep-alive
  retries 3
  option redispatch
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  balance ${scenario === 'slow' ? 'leastconn' : 'roundrobin'}
${scenario === 'outage' ? '  retry-on conn-failure empty-response 503\n' : ''}${upstreams.map((p, i) => `  server s${i + 1} 127.0.0.1:${p} check inter 1s\n`).join('')}`,
    );
    return startListening(ctx, 'haproxy', 'reverse', 'haproxy', ['-db', '-f', file], { port });
  },
};

export const DEPLOY_TARGETS: DeployTarget[] = [porticoDefaults, porticoHealthChecked, porticoNoRetries, porticoRoundRobin, nginxDeploy, haproxyDeploy];

/** Why a target cannot run here (a peer not installed, Portico not built), else undefined. */
export function unavailable(t: DeployTarget, ctx: TargetContext): string | undefined {
  if (t.product === 'nginx') return nginx.check(ctx);
  if (t.product === 'haproxy') return haproxy.check(ctx);
  return undefined;
}

/** Version line of a target's product. */
export function productVersion(t: DeployTarget, ctx: TargetContext, portico: PorticoBuild): string {
  if (t.product === 'nginx') return nginx.version(ctx);
  if (t.product === 'haproxy') return haproxy.version(ctx);
  return porticoVersion(portico.root);
}
