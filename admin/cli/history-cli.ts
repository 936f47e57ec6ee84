// `portico routes history|diff|rollback`: the route history (docs/route-history.md) from the
// command line, through the admin API (GET /v1/revisions, .../diff, POST .../rollback).
import { UsageError, call, responseHeader, type AdminEndpoint, type Reply } from './admin-client.js';

export const HISTORY_COMMANDS = ['history', 'diff', 'rollback'];

/** Options of these commands (parseArgs), besides the shared ones. */
export const historyOptions = {
  limit: { type: 'string' },
  before: { type: 'string' },
  from: { type: 'string' },
  message: { type: 'string' },
  guard: { type: 'string' },
  'if-match': { type: 'string' },
} as const;

/** The commands each history option is for (others refuse it: exit 2). */
export const HISTORY_OPTION_USE: Record<keyof typeof historyOptions, string[]> = {
  limit: ['history'], before: ['history'], from: ['diff'], message: ['add', 'rm', 'rollback'], guard: ['add', 'rm', 'rollback'], 'if-match': ['rollback'],
};

export const HISTORY_USAGE = `  history [--limit N] [--before REV]
                             the kept revisions, newest first (* marks the running one)
  diff REV [--from REV]      what revision REV changed (default: from the one before it)
  rollback REV [--dry-run] [--if-match ETAG] [--guard 30s]
                             a new revision with the routes of revision REV`;

export const HISTORY_OPTIONS_USAGE = `  --message TEXT    add/rm/rollback: why, kept in the history (X-Portico-Change-Message)
  --guard DURATION  add/rm/rollback: watch the change (e.g. 30s) and roll it back if its routes'
                    5xx rate rises (docs/route-history.md)`;

interface Source { kind: string; token?: string; to?: number; guarded?: number; reason?: string; file?: string; instance?: string }
interface Summary { revision: number; previous: number | null; time: string; source: Source; message?: string; routes: number; added: number; removed: number; changed: number; reordered: boolean; initial?: boolean }
interface RouteJson { id: string; host?: string; pathPrefix: string; upstreams: Array<string | { url: string; weight?: number }> }
interface Diff {
  from: number; to: number;
  added: Array<{ index: number; route: RouteJson }>;
  removed: Array<{ index: number; route: RouteJson }>;
  changed: Array<{ id: string; members: string[]; before: Record<string, unknown>; after: Record<string, unknown> }>;
  order?: { before: string[]; after: string[] };
}

export interface HistoryCommand {
  endpoint: AdminEndpoint;
  json: boolean;
  dryRun: boolean;
  values: Record<string, string | boolean | string[] | undefined>;
  rest: string[];
  out: (s: string) => void;
}

export function sourceText(s: Source): string {
  switch (s.kind) {
    case 'admin': return `admin API (${s.token ?? 'anonymous'})`;
    case 'rollback': return `rollback to ${s.to} (${s.token ?? 'anonymous'})`;
    case 'guard': return `guard undid ${s.guarded}`;
    case 'file': return 'config file';
    case 'etcd': return 'etcd (outside Portico)';
    case 'import': return `import${s.file ? ` ${s.file}` : ''}`;
    default: return s.kind;
  }
}

function changesText(r: Summary): string {
  if (r.initial) return `first (${r.routes} routes)`;
  return `+${r.added} -${r.removed} ~${r.changed}${r.reordered ? ' reordered' : ''}`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((cells) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n') + '\n';
}

const upstreamText = (u: RouteJson['upstreams'][number]) => (typeof u === 'string' ? u : u.url);
const routeLine = (r: RouteJson) => `${r.host ?? '*'}${r.pathPrefix} -> ${r.upstreams.map(upstreamText).join(', ')}`;

export function diffText(d: Diff): string {
  const lines = [`revision ${d.to} (from ${d.from}): ${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed${d.order ? ', reordered' : ''}`];
  const w = Math.max(0, ...[...d.added, ...d.removed].map((p) => p.route.id.length), ...d.changed.map((c) => c.id.length));
  for (const p of d.added) lines.push(`+ ${p.route.id.padEnd(w)}  ${routeLine(p.route)}`);
  for (const p of d.removed) lines.push(`- ${p.route.id.padEnd(w)}  ${routeLine(p.route)}`);
  for (const c of d.changed) {
    c.members.forEach((m, i) => {
      const show = (v: unknown) => (v === undefined ? '(none)' : JSON.stringify(v));
      lines.push(`${i === 0 ? '~' : ' '} ${(i === 0 ? c.id : '').padEnd(w)}  ${m}: ${show(c.before[m])} -> ${show(c.after[m])}`);
    });
  }
  if (d.order) lines.push(`  order: ${d.order.before.join(', ')} -> ${d.order.after.join(', ')}`);
  return lines.join('\n') + '\n';
}

function revisionArg(command: string, rest: string[]): number {
  if (rest.length !== 1 || !/^[0-9]+$/.test(rest[0]) || Number(rest[0]) < 1) throw new UsageError(`"${command}" takes one revision number, e.g. portico routes ${command} 12`);
  return Number(rest[0]);
}

function numberOption(values: HistoryCommand['values'], name: string, min: number): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^[0-9]+$/.test(v) || Number(v) < min) throw new UsageError(`--${name} must be a whole number of at least ${min}`);
  return v;
}

/** Runs one of HISTORY_COMMANDS; returns the exit code, or the refused reply for the caller to tell. */
export async function runHistoryCommand(command: string, c: HistoryCommand): Promise<number | Reply> {
  const print = (v: unknown) => c.out(JSON.stringify(v, null, 2) + '\n');
  switch (command) {
    case 'history': {
      if (c.rest.length) throw new UsageError('"history" takes no arguments (--limit N, --before REV)');
      const q = new URLSearchParams();
      const limit = numberOption(c.values, 'limit', 1);
      const before = numberOption(c.values, 'before', 1);
      if (limit) q.set('limit', limit);
      if (before) q.set('before', before);
      const reply = await call(c.endpoint, 'GET', `v1/revisions${q.size ? `?${q}` : ''}`);
      if (reply.status !== 200) return reply;
      const body = reply.body as { current: number; revisions: Summary[]; next?: string };
      if (c.json) {
        print(body);
        return 0;
      }
      const rows = [['', 'REV', 'TIME', 'SOURCE', 'CHANGES', 'MESSAGE']];
      for (const r of body.revisions) {
        rows.push([r.revision === body.current ? '*' : '', String(r.revision), r.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), sourceText(r.source), changesText(r), r.message ?? '']);
      }
      c.out(table(rows));
      if (body.next) c.out(`(older: portico routes history --before ${body.revisions.at(-1)!.revision})\n`);
      return 0;
    }
    case 'diff': {
      const rev = revisionArg(command, c.rest);
      const from = numberOption(c.values, 'from', 0);
      const reply = await call(c.endpoint, 'GET', `v1/revisions/${rev}/diff${from !== undefined ? `?from=${from}` : ''}`);
      if (reply.status !== 200) return reply;
      if (c.json) print(reply.body);
      else c.out(diffText(reply.body as Diff));
      return 0;
    }
    case 'rollback': {
      const rev = revisionArg(command, c.rest);
      const q = new URLSearchParams();
      if (c.dryRun) q.set('dryRun', 'true');
      if (typeof c.values.guard === 'string') q.set('guard', c.values.guard);
      const headers: Record<string, string> = {};
      if (typeof c.values.message === 'string') headers['x-portico-change-message'] = c.values.message;
      if (typeof c.values['if-match'] === 'string') headers['if-match'] = c.values['if-match'];
      const reply = await call(c.endpoint, 'POST', `v1/revisions/${rev}/rollback${q.size ? `?${q}` : ''}`, undefined, headers);
      if (reply.status !== 200) return reply;
      const body = reply.body as { revision: number; applied: boolean; dryRun: boolean; diff: Diff };
      if (c.json) {
        print(body);
        return 0;
      }
      const d = body.diff;
      const what = `${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed`;
      if (body.dryRun) c.out(`dry run: rolling back to revision ${rev} would make revision ${body.revision} (${what}); nothing changed\n`);
      else if (!body.applied) c.out(`revision ${body.revision} has the routes of revision ${rev} already: nothing changed\n`);
      else c.out(`rolled back to revision ${rev}: revision ${body.revision} runs (${what})\n`);
      const guard = responseHeader(reply, 'x-portico-guard');
      if (guard) c.out(`guarded: ${guard}\n`);
      if (body.applied || body.dryRun) c.out(diffText(d).split('\n').slice(1).join('\n'));
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}
