// Results: the data model, medians with min and max per target and workload, ratios (Portico against
// direct and each peer), and the three outputs written under bench/results/<timestamp>/:
// results.json, results.md (Markdown tables) and chart.svg (req/s and CPU per request per target).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Environment } from './env.js';
import type { LoadResult } from './load.js';
import type { Measurement } from './measure.js';
import type { ChurnResult } from './route-churn.js';
import { profileMarkdown, type ProfileSummary } from './cpu-profile.js';

export interface RunRecord {
  workload: string;
  target: string;
  round: number;
  load?: LoadResult;
  m?: Measurement;
  /** Target CPU microseconds per completed request. */
  cpuUsPerReq?: number;
  /** Of cpuUsPerReq: user mode (utime) and kernel (stime), µs per request. */
  userUsPerReq?: number;
  systemUsPerReq?: number;
  originCpuUsPerReq?: number;
  busy: boolean;
  churn?: ChurnResult;
  error?: string;
}

export interface IdleRecord {
  target: string;
  requested: number;
  opened: number;
  failed: number;
  failures: Record<string, number>;
  /** Connections still open when RSS was read. */
  openAtMeasure: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  peakRssBytes: number;
  /** (RSS after - RSS before) / connections open, 1 s after they opened. */
  bytesPerConn: number;
  /** The same with the lowest RSS seen over the settle period (--idle-settle), once the target
   *  collected the garbage of opening them; NaN when not measured. */
  bytesPerConnSettled: number;
  openSeconds: number;
  note?: string;
}

/** bench --profile: one Portico CPU profile per workload, written next to the results. */
export interface ProfileRecord {
  workload: string;
  /** File name of the .cpuprofile in the results directory. */
  file: string;
  summary: ProfileSummary;
}

export interface Stat {
  median: number;
  min: number;
  max: number;
}

export interface SummaryRow {
  workload: string;
  target: string;
  rounds: number;
  rps: Stat;
  p50Ms: Stat;
  p99Ms: Stat;
  mibPerSec: Stat;
  cpuUsPerReq?: Stat;
  userUsPerReq?: Stat;
  systemUsPerReq?: Stat;
  peakRssMiB?: number;
  errors: number;
  non2xx: number;
  busyRounds: number;
  failedRounds: number;
  /** rps median / direct's rps median (same workload). */
  vsDirect?: number;
}

export interface Ratio {
  workload: string;
  peer: string;
  /** Portico req/s median / peer req/s median: > 1 means Portico is faster. */
  rps: number;
  /** Portico CPU µs per request / peer's: < 1 means Portico uses less CPU. */
  cpu?: number;
  /** Portico p99 / peer p99: < 1 means lower tail latency. */
  p99?: number;
}

export interface WorkloadInfo {
  id: string;
  title: string;
  skipped?: string;
}

export interface TargetInfo {
  name: string;
  describe: string;
  version: string;
  skipped?: string;
}

export interface Results {
  command: string;
  env: Environment;
  options: Record<string, unknown>;
  loadTool: string;
  targets: TargetInfo[];
  workloads: WorkloadInfo[];
  notes: string[];
  runs: RunRecord[];
  idle: IdleRecord[];
  profiles?: ProfileRecord[];
  summary: SummaryRow[];
  ratios: Ratio[];
  totalSeconds: number;
}

export function stat(values: number[]): Stat {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN };
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1] };
}

export function summarize(runs: RunRecord[]): SummaryRow[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of runs) {
    const k = `${r.workload}\u0000${r.target}`;
    const g = groups.get(k) ?? [];
    g.push(r);
    groups.set(k, g);
  }
  const rows: SummaryRow[] = [];
  for (const g of groups.values()) {
    const ok = g.filter((r) => r.load);
    const loads = ok.map((r) => r.load!);
    const defined = (xs: (number | undefined)[]): number[] => xs.filter((x): x is number => x !== undefined);
    const cpu = defined(ok.map((r) => r.cpuUsPerReq));
    const user = defined(ok.map((r) => r.userUsPerReq));
    const system = defined(ok.map((r) => r.systemUsPerReq));
    const rss = ok.map((r) => r.m?.peakRssBytes).filter((x): x is number => x !== undefined);
    const row: SummaryRow = {
      workload: g[0].workload,
      target: g[0].target,
      rounds: ok.length,
      rps: stat(loads.map((l) => l.rps)),
      p50Ms: stat(loads.map((l) => l.p50Ms)),
      p99Ms: stat(loads.map((l) => l.p99Ms)),
      mibPerSec: stat(loads.map((l) => l.bytesPerSec / 2 ** 20)),
      errors: loads.reduce((s, l) => s + l.errors, 0),
      non2xx: loads.reduce((s, l) => s + l.non2xx, 0),
      busyRounds: g.filter((r) => r.busy).length,
      failedRounds: g.length - ok.length,
    };
    if (cpu.length) row.cpuUsPerReq = stat(cpu);
    if (user.length) row.userUsPerReq = stat(user);
    if (system.length) row.systemUsPerReq = stat(system);
    if (rss.length) row.peakRssMiB = Math.max(...rss) / 2 ** 20;
    rows.push(row);
  }
  for (const row of rows) {
    const d = rows.find((r) => r.workload === row.workload && r.target === 'direct');
    if (d && d !== row && d.rps.median > 0) row.vsDirect = row.rps.median / d.rps.median;
  }
  return rows;
}

export function ratios(summary: SummaryRow[], subject = 'portico'): Ratio[] {
  const out: Ratio[] = [];
  for (const p of summary.filter((r) => r.target === subject)) {
    for (const peer of summary.filter((r) => r.workload === p.workload && r.target !== subject)) {
      if (!(peer.rps.median > 0)) continue;
      const r: Ratio = { workload: p.workload, peer: peer.target, rps: p.rps.median / peer.rps.median };
      if (p.cpuUsPerReq && peer.cpuUsPerReq && peer.cpuUsPerReq.median > 0) r.cpu = p.cpuUsPerReq.median / peer.cpuUsPerReq.median;
      if (peer.p99Ms.median > 0) r.p99 = p.p99Ms.median / peer.p99Ms.median;
      out.push(r);
    }
  }
  return out;
}

// ---- formatting ----

function num(x: number | undefined, digits = 0): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function sig(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  if (x >= 100) return num(x, 0);
  if (x >= 10) return num(x, 1);
  return num(x, 2);
}

function range(s: Stat, f: (x: number) => string): string {
  if (!Number.isFinite(s.median)) return '—';
  if (s.min === s.max) return f(s.median);
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

export function workloadTitle(results: Results, id: string): string {
  return results.workloads.find((w) => w.id === id)?.title ?? id;
}

export function markdown(results: Results): string {
  const e = results.env;
  const L: string[] = [];
  L.push(`Command: \`${results.command}\``);
  L.push('');
  L.push(
    `Measured ${e.date} on ${e.cpuModel} × ${e.cpuCount} CPUs, ${e.memoryGiB} GiB, Linux ${e.kernel}; Node ${e.node}; ` +
      `commit ${e.commit}${e.dirty ? ' (with uncommitted changes)' : ''}; load generator ${results.loadTool}; ` +
      `${String(results.options['rounds'])} round(s) of ${String(results.options['duration'])} s per target after a ` +
      `${String(results.options['warmup'])} s warm-up, interleaved across targets; medians with (min–max). ` +
      `Total ${Math.round(results.totalSeconds)} s.`,
  );
  L.push('');
  L.push('Targets:');
  L.push('');
  for (const t of results.targets) L.push(`- **${t.name}** (${t.version}): ${t.skipped ? `skipped: ${t.skipped}` : t.describe}`);
  L.push('');
  if (results.notes.length) {
    L.push('Notes:');
    L.push('');
    for (const n of results.notes) L.push(`- ${n}`);
    L.push('');
  }
  for (const w of results.workloads) {
    const rows = results.summary.filter((r) => r.workload === w.id);
    const idle = results.idle;
    if (w.id === 'e') {
      L.push(`### (e) ${w.title}`);
      L.push('');
      if (w.skipped) {
        L.push(`Skipped: ${w.skipped}`);
        L.push('');
        continue;
      }
      L.push('| target | open / requested | RSS before MiB | RSS with connections MiB | KiB per connection (1 s) | KiB per connection (settled) | Portico ÷ target (settled) | note |');
      L.push('|---|---:|---:|---:|---:|---:|---:|---|');
      const mine = idle.find((r) => r.target === 'portico');
      const kib = (b: number) => (b >= 0 ? sig(b / 1024) : '—');
      for (const r of idle) {
        const ratio = mine && r !== mine && r.bytesPerConnSettled > 0 && mine.bytesPerConnSettled >= 0 ? `${num(mine.bytesPerConnSettled / r.bytesPerConnSettled, 2)}×` : '—';
        L.push(
          `| ${r.target} | ${num(r.openAtMeasure)} / ${num(r.requested)} | ${sig(r.rssBeforeBytes / 2 ** 20)} | ${sig(r.rssAfterBytes / 2 ** 20)} | ` +
            `${kib(r.bytesPerConn)} | ${kib(r.bytesPerConnSettled)} | ${ratio} | ${r.note ?? ''} |`,
        );
      }
      L.push('');
      continue;
    }
    L.push(`### (${w.id}) ${w.title}`);
    L.push('');
    if (w.skipped) {
      L.push(`Skipped: ${w.skipped}`);
      L.push('');
      continue;
    }
    L.push('| target | req/s | × direct | p50 ms | p99 ms | MiB/s | CPU µs/req | user µs/req | system µs/req | peak RSS MiB | errors | non-2xx |');
    L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      const busy = r.busyRounds ? ` ⚠${r.busyRounds}` : '';
      const failed = r.failedRounds ? ` (${r.failedRounds} failed)` : '';
      L.push(
        `| ${r.target}${busy}${failed} | ${range(r.rps, (x) => num(x))} | ${r.vsDirect !== undefined ? num(r.vsDirect, 2) : '—'} | ` +
          `${sig(r.p50Ms.median)} | ${sig(r.p99Ms.median)} | ${sig(r.mibPerSec.median)} | ` +
          `${r.cpuUsPerReq ? range(r.cpuUsPerReq, sig) : '—'} | ${r.userUsPerReq ? sig(r.userUsPerReq.median) : '—'} | ` +
          `${r.systemUsPerReq ? sig(r.systemUsPerReq.median) : '—'} | ${sig(r.peakRssMiB)} | ${num(r.errors)} | ${num(r.non2xx)} |`,
      );
    }
    const churn = results.runs.filter((r) => r.workload === w.id && r.churn);
    if (churn.length) {
      const c = churn.map((r) => r.churn!);
      L.push('');
      L.push(
        `Route changes: ${num(c.reduce((s, x) => s + x.changes, 0))} in ${churn.length} round(s), ` +
          `${num(c.reduce((s, x) => s + x.failed, 0))} failed; admin round-trip p50 ${sig(stat(c.map((x) => x.p50Ms)).median)} ms, ` +
          `max ${sig(Math.max(...c.map((x) => x.maxMs)))} ms.` +
          (c.find((x) => x.firstError) ? ` First failure: ${c.find((x) => x.firstError)!.firstError}` : ''),
      );
    }
    L.push('');
  }
  const peers = [...new Set(results.ratios.map((r) => r.peer))];
  const ratioTable = (title: string, pick: (r: Ratio) => number | undefined): void => {
    const ws = results.workloads.filter((w) => results.ratios.some((r) => r.workload === w.id && pick(r) !== undefined));
    if (!ws.length) return;
    const cols = peers.filter((p) => results.ratios.some((r) => r.peer === p && pick(r) !== undefined));
    L.push(title);
    L.push('');
    L.push(`| workload | ${cols.join(' | ')} |`);
    L.push(`|---|${cols.map(() => '---:').join('|')}|`);
    for (const w of ws) {
      const cells = cols.map((p) => {
        const r = results.ratios.find((x) => x.workload === w.id && x.peer === p);
        const v = r ? pick(r) : undefined;
        return v === undefined ? '—' : `${num(v, 2)}×`;
      });
      L.push(`| (${w.id}) | ${cells.join(' | ')} |`);
    }
    L.push('');
  };
  if (peers.length) {
    L.push('### Portico against each target (same run, medians)');
    L.push('');
    ratioTable('Portico req/s ÷ target req/s (above 1: Portico serves more):', (r) => r.rps);
    ratioTable('Portico CPU µs per request ÷ target CPU µs per request (below 1: Portico uses less CPU per request):', (r) => r.cpu);
    ratioTable('Portico p99 latency ÷ target p99 latency (below 1: Portico has the lower tail):', (r) => r.p99);
  }
  if (results.profiles?.length) {
    L.push('### Portico CPU profiles (--profile)');
    L.push('');
    L.push('Portico ran under `node --cpu-prof` (its figures above include the profiler\'s cost).');
    L.push('');
    for (const p of results.profiles) L.push(profileMarkdown(`(${p.workload}) ${p.file}`, p.summary));
  }
  return L.join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Two bar charts side by side per workload: req/s (longer is better) and CPU µs/request (shorter is better). */
export function svg(results: Results): string {
  const blocks = results.workloads
    .filter((w) => !w.skipped && w.id !== 'e')
    .map((w) => ({ w, rows: results.summary.filter((r) => r.workload === w.id) }))
    .filter((b) => b.rows.length > 0);
  const labelW = 200;
  const barW = 300;
  const gap = 90;
  const rowH = 18;
  const width = labelW + 2 * (barW + gap) + 10;
  let y = 70;
  const parts: string[] = [];
  parts.push(`<text x="10" y="22" font-size="15" font-weight="bold">Portico proxy benchmark — ${esc(results.env.date.slice(0, 10))}, commit ${esc(results.env.commit)}</text>`);
  parts.push(
    `<text x="10" y="40" font-size="11" fill="#444">${esc(results.env.cpuModel)} × ${results.env.cpuCount}, Node ${esc(results.env.node)}, ` +
      `${esc(results.loadTool)}; ${String(results.options['rounds'])} × ${String(results.options['duration'])} s per target; single-process targets on loopback</text>`,
  );
  parts.push(`<text x="${labelW}" y="62" font-size="12" fill="#444">req/s (median; whisker min–max)</text>`);
  parts.push(`<text x="${labelW + barW + gap}" y="62" font-size="12" fill="#444">target CPU µs per request (median)</text>`);
  for (const { w, rows } of blocks) {
    y += 8;
    parts.push(`<text x="10" y="${y + 12}" font-size="13" font-weight="bold">(${esc(w.id)}) ${esc(w.title)}</text>`);
    y += 20;
    const maxRps = Math.max(...rows.map((r) => (Number.isFinite(r.rps.max) ? r.rps.max : 0)), 1);
    const maxCpu = Math.max(...rows.map((r) => r.cpuUsPerReq?.median ?? 0), 1);
    for (const r of rows) {
      const color = r.target.startsWith('portico') ? '#d9480f' : r.target === 'direct' ? '#868e96' : '#1c7ed6';
      parts.push(`<text x="${labelW - 6}" y="${y + 13}" font-size="12" text-anchor="end">${esc(r.target)}</text>`);
      if (Number.isFinite(r.rps.median)) {
        const wv = (r.rps.median / maxRps) * barW;
        parts.push(`<rect x="${labelW}" y="${y + 3}" width="${wv.toFixed(1)}" height="${rowH - 6}" fill="${color}"/>`);
        const x1 = labelW + (r.rps.min / maxRps) * barW;
        const x2 = labelW + (r.rps.max / maxRps) * barW;
        parts.push(`<line x1="${x1.toFixed(1)}" x2="${x2.toFixed(1)}" y1="${y + rowH / 2}" y2="${y + rowH / 2}" stroke="#000" stroke-width="1"/>`);
        parts.push(`<text x="${(labelW + Math.max(wv, x2 - labelW) + 4).toFixed(1)}" y="${y + 13}" font-size="11">${esc(num(r.rps.median))}</text>`);
      }
      const cpu = r.cpuUsPerReq?.median;
      const cx = labelW + barW + gap;
      if (cpu !== undefined && Number.isFinite(cpu)) {
        const wv = (cpu / maxCpu) * barW;
        parts.push(`<rect x="${cx}" y="${y + 3}" width="${wv.toFixed(1)}" height="${rowH - 6}" fill="${color}" fill-opacity="0.7"/>`);
        parts.push(`<text x="${(cx + wv + 4).toFixed(1)}" y="${y + 13}" font-size="11">${esc(sig(cpu))}</text>`);
      } else {
        parts.push(`<text x="${cx}" y="${y + 13}" font-size="11" fill="#868e96">no proxy process</text>`);
      }
      y += rowH;
    }
  }
  const height = y + 20;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`
  );
}

export function writeResults(dir: string, results: Results): { json: string; md: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const files = { json: join(dir, 'results.json'), md: join(dir, 'results.md'), svg: join(dir, 'chart.svg') };
  writeFileSync(files.json, JSON.stringify(results, null, 2) + '\n');
  writeFileSync(files.md, `# Proxy benchmark\n\n${markdown(results)}\n`);
  writeFileSync(files.svg, svg(results));
  return files;
}
