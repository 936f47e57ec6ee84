// The tables of `npm run bench:history` (results.md, also printed): bench/history.ts's results.
import type { HistoryResults } from './history.js';
import type { Distribution } from './percentiles.js';
import type { HistorySize } from './history-size.js';

const ms = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x < 10 ? x.toFixed(2) : x.toFixed(0));
const dist = (d: Distribution) => (d.n ? `${ms(d.p50)} / ${ms(d.p99)} / ${ms(d.max)}` : '–');

function sizes(h: HistorySize): string[] {
  return Object.entries(h.bySource).map(([kind, s]) => `| ${h.label} | ${h.store} | ${kind} | ${s.n} | ${s.mean} | ${s.min}–${s.max} | ${h.revisions} revisions, ${h.totalBytes} bytes |`);
}

export function historyMarkdown(r: HistoryResults): string {
  const out: string[] = ['# Route history (issue 22)', ''];
  const la = (l: number[] | undefined) => l?.map((x) => x.toFixed(2)).join(' ') ?? '?';
  out.push(`\`${r.command}\` — ${r.env.cpuModel} × ${r.env.cpuCount}, Node ${r.env.node}, commit ${r.env.commit}${r.env.dirty ? ' (dirty)' : ''}, ${r.env.date}; load average ${la(r.loadAverage.start)} at the start, ${la(r.loadAverage.end)} at the end.`, '');
  const historySizes: HistorySize[] = [];
  if (r.feed) {
    const f = r.feed;
    historySizes.push(f.history);
    out.push('## Change feed: writes -> events, across an admin restart', '');
    out.push('| writes | events | gaps | duplicates | order violations | missing | extra resets | unexpected | streams | restart | down (ms) | write in flight at the kill: applied by the killed process; sent -> event (ms) |');
    out.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
    const rs = f.restart;
    out.push(`| ${f.writes} | ${f.events} | ${f.gaps} | ${f.duplicates} | ${f.orderViolations} | ${f.missing} | ${f.extraResets} | ${f.unexpected} | ${f.connections} | ${rs ? `${rs.signal} at write ${rs.atWrite}, resumed with Last-Event-ID ${rs.resumedFrom ?? '–'}` : 'none'} | ${rs ? ms(rs.downMs) : '–'} | ${rs ? `${rs.inFlightWriteApplied === undefined ? '?' : rs.inFlightWriteApplied ? 'yes' : 'no'}${rs.inFlightWriteRecordedAs ? ` (config file written, history not: recorded by the new process as source "${rs.inFlightWriteRecordedAs}")` : ''}; ${ms(rs.inFlightWriteToEventMs)}` : '–'} |`, '');
    for (const u of f.unexpectedEvents) out.push(`- unexpected event: revision ${u.revision} (previous ${u.previous}), source ${u.source}${u.message !== undefined ? `, message ${JSON.stringify(u.message)}` : ', no message'}`);
    if (f.unexpectedEvents.length) out.push('');
    out.push('| ms | n | p50 / p99 / max |', '|---|---|---|');
    out.push(`| write answered -> event received (follower connected; negative: the event came first) | ${f.latencyMs.n} | ${dist(f.latencyMs)} |`);
    out.push(`| write sent -> event received (the same events) | ${f.sentToEventMs.n} | ${dist(f.sentToEventMs)} |`);
    out.push(`| write answered -> event received (written while the follower was away; delivered on resume) | ${f.resumedLatencyMs.n} | ${dist(f.resumedLatencyMs)} |`);
    out.push(`| admin PUT round trip | ${f.writeMs.n} | ${dist(f.writeMs)} |`, '');
  }
  if (r.rollback.length) {
    out.push('## Rollback: answer -> every worker / instance serves the old routes', '');
    out.push('| setup | rollbacks | worst target per rollback, ms: p50 / p99 / max | not converged | stale probes after the answer | probes | one probe\'s round trip ms: p50 / max | rollback round trip ms: p50 / max |');
    out.push('|---|---|---|---|---|---|---|---|');
    for (const s of r.rollback) {
      historySizes.push(s.history);
      out.push(`| ${s.setup}: ${s.describe} | ${s.trials.length} | ${dist(s.worstMs)} | ${s.notConverged} | ${s.staleProbes} | ${s.probes} | ${ms(s.probeMs.p50)} / ${ms(s.probeMs.max)} | ${ms(s.rollbackMs.p50)} / ${ms(s.rollbackMs.max)} |`);
    }
    out.push('');
    for (const s of r.rollback) {
      const per = s.targets.map((t) => `${t} max ${ms(Math.max(...s.trials.map((x) => x.convergedMs[t] ?? Infinity)))}`).join(', ');
      out.push(`- ${s.setup}: ${per} ms`);
    }
    out.push('');
  }
  if (r.guard.length) {
    out.push('## Guarded change to a dead upstream under load', '');
    const unavailable = r.guard.find((g) => !g.available);
    if (unavailable) out.push(`Not measured: ${unavailable.unavailable}.`, '');
    const ran = r.guard.filter((g) => g.available);
    if (ran.length) {
      out.push('| setup | run | window | load | write answered -> guard rollback on the feed (ms) | within window + 1 s | guarded revision -> rollback revision on the feed (ms) | write answered -> last failed request sent (ms) | guarded write round trip (ms) | requests | failed | failures | failed before the change |');
      out.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
      for (const g of ran) {
        out.push(`| ${g.setup} | ${g.run} | ${g.windowS} s | ${g.rate}/s | ${ms(g.rolledBackMs)} | ${g.withinLimit ? 'yes' : 'NO'} | ${ms(g.badRevisionMs)} | ${ms(g.lastFailureMs)} | ${ms(g.writeMs)} | ${g.requests} | ${g.failed} | ${JSON.stringify(g.failures)} | ${g.failedBefore} |`);
      }
      out.push('');
      for (const setup of new Set(ran.map((g) => g.setup))) {
        const g = ran.find((x) => x.setup === setup)!;
        out.push(`- ${setup}: ${g.describe}; the guard's revision (run ${g.run}): \`${JSON.stringify(g.source ?? null)}\``);
      }
      out.push('');
    }
  }
  if (historySizes.length) {
    out.push('## History size per revision (one-route changes of a ~200-byte route)', '');
    out.push(`The route: ${r.routeBytes} bytes of JSON; a change moves its upstream (feed: with a change message of ~16 bytes). File: a revision's line in <config>.history.json (the whole file also holds the newest route set); etcd: key + value of its record.`, '');
    out.push('| part | store | source | revisions | mean bytes | min–max | whole history |', '|---|---|---|---|---|---|---|');
    for (const h of historySizes) out.push(...sizes(h));
    out.push('');
  }
  if (r.notes.length) out.push('Notes:', '', ...r.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}
