// How large the route history grows per revision (issue 22's note): the file store's
// <config>.history.json (one JSON line per kept revision, admin/stores/history-file.ts) and the etcd
// store's keys under PREFIX/history/revisions/ (admin/stores/history-etcd.ts), read back after a run.
import { readFileSync, statSync } from 'node:fs';

export interface HistorySize {
  /** Which part of the bench made it (feed, workers, fleet). */
  label: string;
  store: 'file' | 'etcd';
  where: string;
  /** Whole file, or every history key and value. */
  totalBytes: number;
  revisions: number;
  /** Bytes per kept revision by its source kind (admin, rollback, ...): mean, min, max. */
  bySource: Record<string, { n: number; mean: number; min: number; max: number }>;
}

function bySource(records: Array<{ kind: string; bytes: number }>): HistorySize['bySource'] {
  const out: HistorySize['bySource'] = {};
  for (const { kind, bytes } of records) {
    const s = (out[kind] ??= { n: 0, mean: 0, min: Infinity, max: 0 });
    s.mean = (s.mean * s.n + bytes) / (s.n + 1);
    s.n++;
    s.min = Math.min(s.min, bytes);
    s.max = Math.max(s.max, bytes);
  }
  for (const s of Object.values(out)) s.mean = Math.round(s.mean);
  return out;
}

/** The file store's history file: each revision is one line (its JSON and ",\n"). */
export function fileHistorySize(label: string, path: string): HistorySize {
  const lines = readFileSync(path, 'utf8').split('\n');
  const records = lines.filter((l) => l.startsWith('{"revision"')).map((l) => ({
    kind: (JSON.parse(l.replace(/,$/, '')) as { source: { kind: string } }).source.kind,
    bytes: Buffer.byteLength(l) + 1,
  }));
  return { label, store: 'file', where: path, totalBytes: statSync(path).size, revisions: records.length, bySource: bySource(records) };
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Every key under `prefix` + "/history/revisions/" in etcd (its v3 JSON gateway): key + value bytes. */
export async function etcdHistorySize(label: string, endpoint: string, prefix: string): Promise<HistorySize> {
  const from = `${prefix}/history/revisions/`;
  const end = from.slice(0, -1) + String.fromCharCode(from.charCodeAt(from.length - 1) + 1);
  const res = await fetch(`http://${endpoint}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: b64(from), range_end: b64(end) }) });
  if (!res.ok) throw new Error(`etcd range answered ${res.status}`);
  const { kvs = [] } = (await res.json()) as { kvs?: Array<{ key: string; value: string }> };
  const records = kvs.map((kv) => {
    const key = Buffer.from(kv.key, 'base64');
    const value = Buffer.from(kv.value, 'base64');
    return { kind: (JSON.parse(value.toString('utf8')) as { source: { kind: string } }).source.kind, bytes: key.length + value.length };
  });
  return { label, store: 'etcd', where: `etcd ${endpoint} ${from}`, totalBytes: records.reduce((n, r) => n + r.bytes, 0), revisions: records.length, bySource: bySource(records) };
}
