// How to start each target: Portico, the peers and "direct" (no proxy). Every target runs as its own
// process on loopback, single-threaded (one event loop, one nginx worker, one HAProxy thread), with its
// access log off. Native peers are used when installed (command -v) and skipped with a note otherwise;
// their config files are generated into the run's temp dir.
import { existsSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { basename, dirname, join } from 'node:path';
import { spawnTracked, waitForPort, type Tracked } from './procs.js';
import { freePort } from './ports.js';

/** tls: a reverse proxy that terminates TLS (same certificate for every target). */
/** tls: HTTPS with ALPN http/1.1 (wrk); h2: HTTPS with ALPN h2 (h2load, bench/h2.ts). */
export type Role = 'reverse' | 'forward' | 'tunnel' | 'tls' | 'h2';

export interface TargetContext {
  /** Repository root (where package.json is). */
  root: string;
  /** Scratch directory for generated configs, removed at the end. */
  tmp: string;
  originHost: string;
  originPort: number;
  /** CPUs the target is pinned to (taskset -c), if pinning. */
  cpus: string | undefined;
  /** Open-file limit to raise to before exec. */
  nofile: number;
  /** The open-file limit children actually get (nofile, or the hard limit when it cannot be raised). */
  fdLimit: number;
  /** Portico's --log-level (default silent: access logs off, like every peer). */
  porticoLogLevel?: string;
  /** Portico only: run it under `node --cpu-prof` writing this .cpuprofile file (bench --profile). */
  cpuProfile?: string;
  /** Certificate for the tls role: PEM files, and both in one file (HAProxy's crt). */
  tls?: { cert: string; key: string; combined: string };
}

function tlsFiles(ctx: TargetContext): { cert: string; key: string; combined: string } {
  if (!ctx.tls) throw new Error('no bench certificate (ctx.tls)');
  return ctx.tls;
}

export interface StartOptions {
  /** Portico only: enable the admin API with this bearer token. */
  adminToken?: string;
}

export interface Running {
  name: string;
  role: Role;
  host: string;
  port: number;
  /** The process to measure (CPU, RSS); undefined for direct. */
  proc: Tracked | undefined;
  /** Portico with admin on: base URL of the admin API. */
  adminUrl?: string;
  stop(): Promise<void>;
}

export interface TargetDef {
  name: string;
  /** One line: what it is and how it is configured. */
  describe: string;
  roles: Role[];
  /** undefined when usable, otherwise why it is skipped. */
  check(ctx: TargetContext): string | undefined;
  /** Version string for the report. */
  version(ctx: TargetContext): string;
  start(ctx: TargetContext, role: Role, opts?: StartOptions): Promise<Running>;
  /** Run only when named in --peers (variants that would lengthen the default run). */
  optIn?: boolean;
}

const START_TIMEOUT_MS = 15_000;

export function hasCommand(cmd: string): string | undefined {
  try {
    const p = execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return p || undefined;
  } catch {
    return undefined;
  }
}

/** First line of a command's stdout+stderr (nginx -v prints to stderr, wrk -v exits 1). */
export function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '';
}

/** The open-file limit a child gets after `ulimit -n want` (or the hard limit when that fails). */
export function effectiveFdLimit(want: number): number {
  try {
    const v = execFileSync('sh', ['-c', `ulimit -n ${want} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; ulimit -n`], { encoding: 'utf8' }).trim();
    return v === 'unlimited' ? want : Number(v) || 1024;
  } catch {
    return 1024;
  }
}

function pkgVersion(ctx: TargetContext, name: string): string {
  try {
    const p = join(ctx.root, 'node_modules', name, 'package.json');
    return `${name} ${(JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version}`;
  } catch {
    return name;
  }
}

function origin(ctx: TargetContext): string {
  return `http://${ctx.originHost}:${ctx.originPort}`;
}

/** Starts a process that prints "listening on HOST:PORT" (or reports a known port) and waits for it. */
export async function startListening(
  ctx: TargetContext,
  name: string,
  role: Role,
  cmd: string,
  args: string[],
  opts: { port?: number; env?: NodeJS.ProcessEnv; line?: RegExp } = {},
): Promise<Running> {
  const proc = spawnTracked(`${name} (${role})`, cmd, args, { cpus: ctx.cpus, nofile: ctx.nofile, env: opts.env });
  try {
    let port = opts.port;
    if (opts.line) {
      const m = await proc.waitForLine(opts.line, START_TIMEOUT_MS);
      if (port === undefined && m[1]) port = Number(m[1]);
    }
    if (port === undefined) throw new Error(`${name}: no port`);
    await waitForPort('127.0.0.1', port, START_TIMEOUT_MS, proc);
    return { name, role, host: '127.0.0.1', port, proc, stop: () => proc.stop() };
  } catch (e) {
    await proc.stop();
    throw e;
  }
}

export const direct: TargetDef = {
  name: 'direct',
  describe: 'no proxy: the load generator talks to the origin (the reference)',
  roles: ['reverse', 'forward', 'tunnel'],
  check: () => undefined,
  version: () => 'origin only',
  async start(ctx, role) {
    return { name: 'direct', role, host: ctx.originHost, port: ctx.originPort, proc: undefined, stop: async () => undefined };
  },
};

/** The `portico` command: package.json "bin", else dist/admin/cli/portico.js. */
export function porticoEntry(root: string): string {
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin?: string | Record<string, string> };
    const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.['portico'];
    if (bin && existsSync(join(root, bin))) return join(root, bin);
  } catch {
    /* fall through */
  }
  return join(root, 'dist', 'admin', 'cli', 'portico.js');
}

/** Node flags from a `#!/usr/bin/env -S node FLAGS` (or `#!/path/node FLAGS`) first line. */
export function shebangNodeFlags(file: string): string[] {
  try {
    const first = readFileSync(file, 'utf8').split('\n', 1)[0] ?? '';
    const m = /^#!\S*?(?:env\s+(?:-S\s+)?)?\S*node\s+(.*)$/.exec(first.trim());
    return m ? m[1].split(/\s+/).filter((f) => f.startsWith('--')) : [];
  } catch {
    return [];
  }
}

/** `portico`, or with `workers` > 1 `portico --workers N` (target `portico-wN`), optionally with
 *  node:cluster's scheduling forced (`portico-wN-rr`, `portico-wN-none`). CPU and memory are the
 *  whole process tree's (primary and workers). */
function porticoTarget(workers = 1, sched?: 'rr' | 'none', ref = false): TargetDef {
  const name = ref ? 'portico-ref' : workers === 1 ? 'portico' : `portico-w${workers}${sched ? `-${sched}` : ''}`;
  /** The checkout whose build runs: this one, or for portico-ref the one PORTICO_REF_ROOT names
   *  (another commit, built: before/after comparisons in one interleaved run). */
  const rootOf = (ctx: TargetContext): string => (ref ? process.env['PORTICO_REF_ROOT'] ?? '(PORTICO_REF_ROOT is not set)' : ctx.root);
  return {
    name,
    optIn: workers > 1 || ref,
    describe: ref
      ? 'the portico command of another built checkout (PORTICO_REF_ROOT), run exactly as portico: a before/after comparison in the same run'
      : workers === 1
      ? 'the portico command (package.json bin, with its shebang node flags), --admin off (or on for workload f), --log-level silent; for forward/CONNECT --forward with a config allowing the loopback origin and its port'
      : `portico --workers ${workers} (a primary and ${workers} worker processes${sched ? `, NODE_CLUSTER_SCHED_POLICY=${sched}` : ''}); CPU and RSS of all of them`,
    roles: ['reverse', 'forward', 'tunnel', 'tls', 'h2'],
    check: (ctx) => (existsSync(porticoEntry(rootOf(ctx))) ? undefined : `${porticoEntry(rootOf(ctx))} is missing (run npm run build${ref ? ' there, and set PORTICO_REF_ROOT' : ''})`),
    version: (ctx) => {
      try {
        const p = JSON.parse(readFileSync(join(rootOf(ctx), 'package.json'), 'utf8')) as { version: string };
        return `portico ${p.version}${ref ? ` at ${rootOf(ctx)}` : ''}`;
      } catch {
        return 'portico';
      }
    },
    async start(ctx, role, opts = {}) {
      const port = await freePort();
      // Run the bin as its shebang would (e.g. `#!/usr/bin/env -S node --max-semi-space-size=2`).
      const entry = porticoEntry(rootOf(ctx));
      // a TLS listener offers h2 and http/1.1 by default (docs/http2.md): role h2 is the same listener
      const listen = role === 'tls' || role === 'h2'
        ? ['--listen', 'off', '--tls-listen', `127.0.0.1:${port}`, '--tls-cert', tlsFiles(ctx).cert, '--tls-key', tlsFiles(ctx).key]
        : ['--listen', `127.0.0.1:${port}`];
      const profile = ctx.cpuProfile ? ['--cpu-prof', '--cpu-prof-dir', dirname(ctx.cpuProfile), '--cpu-prof-name', basename(ctx.cpuProfile)] : [];
      const args = [...shebangNodeFlags(entry), ...profile, entry, ...listen, '--log-level', ctx.porticoLogLevel ?? 'silent', '--route', `/=${origin(ctx)}`];
      if (workers > 1) args.push('--workers', String(workers));
      const env: NodeJS.ProcessEnv = { ...process.env };
      if (sched) env['NODE_CLUSTER_SCHED_POLICY'] = sched;
      let adminUrl: string | undefined;
      if (opts.adminToken !== undefined) {
        const aport = await freePort();
        args.push('--admin', `127.0.0.1:${aport}`);
        env['PORTICO_ADMIN_TOKEN'] = opts.adminToken;
        adminUrl = `http://127.0.0.1:${aport}`;
      } else args.push('--admin', 'off');
      if (role === 'h2') {
        // an HTTP/2 connection multiplexes (h2load -m 16 on 32 connections: 512 streams in
        // flight, each an upstream HTTP/1.1 request): keep that many upstream connections idle
        // (the default 64 closes and reopens hundreds a second; nginx here keeps 256)
        const file = join(ctx.tmp, `portico-h2-${port}.json`);
        writeFileSync(file, JSON.stringify({ upstream: { maxIdleSockets: 512 } }));
        args.push('--config', file);
      }
      if (role === 'forward' || role === 'tunnel') {
        // The forward proxy denies loopback destinations and non-standard ports by default (SSRF
        // defences); the bench origin is both, so allow exactly it.
        const file = join(ctx.tmp, `portico-forward-${port}.json`);
        writeFileSync(
          file,
          JSON.stringify({
            forwardProxy: {
              enabled: true,
              httpPorts: [ctx.originPort],
              connectPorts: [ctx.originPort],
              allowDestinations: [`${ctx.originHost}/32`],
            },
          }),
        );
        args.push('--forward', '--config', file);
      }
      const r = await startListening(ctx, name, role, process.execPath, args, { port, env, line: /listening/i });
      if (adminUrl !== undefined) {
        r.adminUrl = adminUrl;
        await waitForPort('127.0.0.1', Number(adminUrl.split(':').pop()), START_TIMEOUT_MS, r.proc);
      }
      return r;
    },
  };
}

export const portico = porticoTarget();
/** Another built checkout's portico (PORTICO_REF_ROOT): before/after in one run. */
export const porticoRef = porticoTarget(1, undefined, true);

/** A peer in bench/peers/; `pkg` is the npm package it measures (undefined: plain Node, no package). */
function nodePeer(name: string, file: string, pkg: string | undefined, describe: string): TargetDef {
  return {
    name,
    describe,
    roles: ['reverse'],
    check: (ctx) => {
      if (pkg !== undefined && !existsSync(join(ctx.root, 'node_modules', pkg))) return `npm package ${pkg} is not installed (npm ci)`;
      if (!existsSync(join(ctx.root, 'dist', 'bench', 'peers', file))) return `dist/bench/peers/${file} is missing (npm run build)`;
      return undefined;
    },
    version: (ctx) => (pkg !== undefined ? pkgVersion(ctx, pkg) : `node:net (Node ${process.version})`),
    start: (ctx, role) =>
      startListening(ctx, name, role, process.execPath, [join(ctx.root, 'dist', 'bench', 'peers', file), '--upstream', origin(ctx)], {
        line: /listening on [^:]+:(\d+)/,
      }),
  };
}

export const nodeHttpProxy = nodePeer(
  'node-http-proxy',
  'node-http-proxy.js',
  'http-proxy',
  'http-proxy 1.18.1 on node:http with a keep-alive http.Agent',
);

export const fastifyProxy = nodePeer(
  'fastify-http-proxy',
  'fastify-proxy.js',
  '@fastify/http-proxy',
  'fastify 5 + @fastify/http-proxy 11 (reply-from, undici pool), logger off',
);

export const tcpPipe = nodePeer(
  'tcp-pipe',
  'tcp-pipe.js',
  undefined,
  'raw node:net pipe, no HTTP: one upstream connection per client connection, socket.pipe both ways (the floor for a proxy on node:net)',
);

export const nginx: TargetDef = {
  name: 'nginx',
  describe: 'one process (master_process off, 1 worker), upstream keepalive, proxy_buffering and proxy_request_buffering off; tls: ssl on the listener (TLS 1.2/1.3, default ciphers, session tickets on (the nginx default, keys per process), no session cache); h2: the same with http2 (listen ... ssl http2, nginx 1.22)',
  roles: ['reverse', 'tls', 'h2'],
  check: () => (hasCommand('nginx') ? undefined : 'nginx not installed (apt-get install -y nginx-light)'),
  version: () => firstLine('nginx', ['-v']).replace(/^nginx version:\s*/, ''),
  async start(ctx, role) {
    const port = await freePort();
    const dir = join(ctx.tmp, `nginx-${port}`);
    const conf = nginxConf(
      dir,
      ctx.fdLimit,
      `  upstream origin {
    server ${ctx.originHost}:${ctx.originPort};
    keepalive 256;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port}${role === 'tls' ? ' ssl' : role === 'h2' ? ' ssl http2' : ''} backlog=4096;
${role === 'tls' || role === 'h2' ? `    ssl_certificate ${tlsFiles(ctx).cert};\n    ssl_certificate_key ${tlsFiles(ctx).key};\n    ssl_protocols TLSv1.2 TLSv1.3;\n    ssl_session_tickets on;\n` : ''}    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      client_max_body_size 0;
    }
  }
`,
    );
    return startNginx(ctx, role, dir, conf, port);
  },
};

/** nginx.conf for one process in the foreground (master_process off, 1 worker) with its files in
 *  `dir` and access logs off; `http` is the rest of the http block (upstreams, servers). */
export function nginxConf(dir: string, fdLimit: number, http: string): string {
  return `daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile ${fdLimit};
error_log stderr error;
pid ${dir}/nginx.pid;
events { worker_connections ${Math.max(1024, fdLimit - 64)}; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
${http}}
`;
}

/** Writes `conf` (from nginxConf) into `dir` (created) and starts nginx on it, listening on `port`. */
export function startNginx(ctx: TargetContext, role: Role, dir: string, conf: string, port: number): Promise<Running> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nginx.conf'), conf);
  return startListening(ctx, 'nginx', role, 'nginx', ['-e', 'stderr', '-p', dir, '-c', join(dir, 'nginx.conf')], { port });
}

/** The start of an HAProxy configuration: one thread, mode http, and a maxconn the open-file limit
 *  allows (HAProxy refuses to start unless the limit covers 2 x maxconn and a few); `defaults` goes on. */
export function haproxyHead(fdLimit: number): string {
  const maxconn = Math.max(256, Math.min(40_000, Math.floor((fdLimit - 64) / 2)));
  return `global\n  maxconn ${maxconn}\n  nbthread 1\ndefaults\n  mode http\n  maxconn ${maxconn}\n`;
}

export const haproxy: TargetDef = {
  name: 'haproxy',
  describe: 'foreground, nbthread 1, mode http, http-reuse always, maxconn (fd limit - 64) / 2; tls: bind ... ssl crt, alpn http/1.1, TLS 1.2+, session tickets on (the HAProxy default); h2: alpn h2,http/1.1',
  roles: ['reverse', 'tls', 'h2'],
  check: () => (hasCommand('haproxy') ? undefined : 'haproxy not installed (apt-get install -y haproxy)'),
  version: () => firstLine('haproxy', ['-v']).replace(/ - https?:.*$/, ''),
  async start(ctx, role) {
    const port = await freePort();
    const file = join(ctx.tmp, `haproxy-${port}.cfg`);
    writeFileSync(
      file,
      `${haproxyHead(ctx.fdLimit)}  timeout connect 5s
  timeout client 65s
  timeout server 65s
  timeout http-request 65s
  timeout http-keep-alive 65s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:${port}${role === 'tls' || role === 'h2' ? ` ssl crt ${tlsFiles(ctx).combined} alpn ${role === 'h2' ? 'h2,http/1.1' : 'http/1.1'} ssl-min-ver TLSv1.2` : ''}
  default_backend be
backend be
  http-reuse always
  server origin ${ctx.originHost}:${ctx.originPort}
`,
    );
    return startListening(ctx, 'haproxy', role, 'haproxy', ['-db', '-f', file], { port });
  },
};

const TWISTED_SCRIPT = `# Generated by Portico's bench: Twisted's own proxies, as shipped.
import sys
from twisted.internet import epollreactor
epollreactor.install()
from twisted.internet import reactor
from twisted.web import proxy, server, http

mode, host, oport = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == 'reverse':
    factory = server.Site(proxy.ReverseProxyResource(host, oport, b''))
else:
    factory = http.HTTPFactory()
    factory.protocol = proxy.Proxy
factory.log = lambda request: None  # no access log, like every other target
port = reactor.listenTCP(0, factory, interface='127.0.0.1', backlog=4096)
print('twisted listening on 127.0.0.1:%d' % port.getHost().port, flush=True)
reactor.run()
`;

let twistedPython: string | null | undefined;
function findTwistedPython(): string | undefined {
  if (twistedPython !== undefined) return twistedPython ?? undefined;
  twistedPython = null;
  // apt's python3-twisted lives in the system python, which may not be the python3 first on PATH.
  for (const py of ['python3', '/usr/bin/python3']) {
    try {
      execFileSync(py, ['-c', 'import twisted.web.proxy'], { stdio: 'ignore', timeout: 10_000 });
      twistedPython = py;
      break;
    } catch {
      /* next */
    }
  }
  return twistedPython ?? undefined;
}

export const twisted: TargetDef = {
  name: 'twisted',
  describe: 'twisted.web.proxy.ReverseProxyResource on the epoll reactor (HTTP/1.0, new upstream connection per request); proxy.Proxy for forward',
  roles: ['reverse', 'forward'],
  check: () => (findTwistedPython() ? undefined : 'Twisted not installed (apt-get install -y python3-twisted)'),
  version: () => {
    const py = findTwistedPython();
    if (!py) return 'twisted';
    return `twisted ${firstLine(py, ['-c', 'import twisted; print(twisted.__version__)'])} (${firstLine(py, ['--version'])})`;
  },
  async start(ctx, role) {
    const py = findTwistedPython();
    if (!py) throw new Error('Twisted not installed');
    const file = join(ctx.tmp, 'twisted_proxy.py');
    writeFileSync(file, TWISTED_SCRIPT);
    return startListening(ctx, 'twisted', role, py, [file, role === 'reverse' ? 'reverse' : 'forward', ctx.originHost, String(ctx.originPort)], {
      line: /listening on [^:]+:(\d+)/,
    });
  },
};

export const tinyproxy: TargetDef = {
  name: 'tinyproxy',
  describe: 'forward proxy, foreground (-d), thread per client, MaxClients 1024; closes the client connection after every response without Connection: close, which wrk counts as a read error (and reconnects)',
  roles: ['forward', 'tunnel'],
  check: () => (hasCommand('tinyproxy') ? undefined : 'tinyproxy not installed (apt-get install -y tinyproxy)'),
  version: () => firstLine('tinyproxy', ['-v']),
  async start(ctx, role) {
    const port = await freePort();
    const dir = join(ctx.tmp, `tinyproxy-${port}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'tinyproxy.conf');
    const user = process.getuid?.() === 0 ? 'User root\nGroup root\n' : '';
    writeFileSync(
      file,
      `${user}Port ${port}
Listen 127.0.0.1
Timeout 600
MaxClients 1024
Allow 127.0.0.1
LogLevel Critical
LogFile "${dir}/tinyproxy.log"
PidFile "${dir}/tinyproxy.pid"
`,
    );
    return startListening(ctx, 'tinyproxy', role, 'tinyproxy', ['-d', '-c', file], { port });
  },
};

/** All targets, in report order. */
export const ALL_TARGETS: TargetDef[] = [
  direct, portico, tcpPipe, nodeHttpProxy, fastifyProxy, nginx, haproxy, twisted, tinyproxy,
  porticoTarget(2), porticoTarget(2, 'rr'), porticoTarget(2, 'none'), porticoRef,
];
