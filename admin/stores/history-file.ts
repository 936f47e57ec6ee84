// The file store's history: one JSON file next to the config file (`portico.json` ->
// `portico.history.json`), replaced atomically like the config file itself (atomic-file.ts) after
// every applied change. It holds the head (the newest revision's whole route set: the config file
// may be edited while Portico does not run, and the next start records that edit as a revision
// of its own, source `file`) and the kept revisions as diffs, one per line.
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { RouteSpec } from '../../src/routing/route-spec.js';
import { writeFileAtomic } from './atomic-file.js';
import { RevisionLog, type RevisionRecord } from '../history/revision-log.js';

const FORMAT = 'portico-route-history/1';

interface HistoryDoc {
  format: string;
  head: { revision: number; routes: RouteSpec[] };
  revisions: RevisionRecord[];
}

/** `dir/name.json` -> `dir/name.history.json` (any other name: `name.history.json` appended). */
export function historyPathFor(configPath: string): string {
  const name = basename(configPath);
  return join(dirname(configPath), name.endsWith('.json') ? `${name.slice(0, -5)}.history.json` : `${name}.history.json`);
}

function isRecord(v: unknown): v is RevisionRecord {
  const r = v as RevisionRecord;
  return !!r && typeof r === 'object' && Number.isSafeInteger(r.revision) && r.revision > 0 && typeof r.time === 'string'
    && !!r.source && typeof r.source.kind === 'string' && Array.isArray(r.added) && Array.isArray(r.removed) && Array.isArray(r.changed);
}

/** Reads a history file; throws an Error saying what is wrong with it. */
function readDoc(path: string): HistoryDoc {
  const doc = JSON.parse(readFileSync(path, 'utf8')) as HistoryDoc;
  if (!doc || typeof doc !== 'object' || doc.format !== FORMAT) throw new Error(`not a ${FORMAT} file`);
  if (!doc.head || !Number.isSafeInteger(doc.head.revision) || !Array.isArray(doc.head.routes)) throw new Error('no valid "head"');
  if (!Array.isArray(doc.revisions) || !doc.revisions.every(isRecord)) throw new Error('"revisions" is not a list of revisions');
  const revs = doc.revisions.map((r) => r.revision);
  if (revs.some((r, i) => i > 0 && r <= revs[i - 1])) throw new Error('"revisions" are not in increasing order');
  if (revs.length > 0 && revs[revs.length - 1] !== doc.head.revision) throw new Error('the newest revision is not the head');
  return doc;
}

export class FileHistory {
  readonly path: string;
  readonly log: RevisionLog;
  readonly #logger: Logger;
  /** Why the last save failed (shown in GET /v1/status), undefined when it worked. */
  lastError: string | undefined;

  private constructor(path: string, log: RevisionLog, logger: Logger) {
    this.path = path;
    this.log = log;
    this.#logger = logger;
  }

  /** Loads the history file if there is one. An unreadable one is moved aside (never lost, never
   *  fatal: the config file holds the routes) and a new history starts. */
  static open(path: string, keep: number, logger: Logger): FileHistory {
    const log = new RevisionLog(keep);
    const h = new FileHistory(path, log, logger);
    if (!existsSync(path)) return h;
    try {
      const doc = readDoc(path);
      log.load(doc.revisions, { revision: doc.head.revision, specs: doc.head.routes });
    } catch (e) {
      const aside = `${path}.unreadable-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      try {
        renameSync(path, aside);
      } catch { /* the save below replaces it */ }
      logger.warn({ historyFile: path, movedTo: aside, err: (e as Error).message }, 'route history: the history file cannot be read; it was moved aside and a new history starts');
    }
    return h;
  }

  /** Writes the whole history (atomically). A failure is logged and kept in lastError, not
   *  thrown: the change it follows is applied and persisted in the config file already. */
  async save(): Promise<void> {
    const head = this.log.head;
    if (!head) return;
    // one revision per line: a file that diffs and greps well, and stays valid JSON
    const text = `{"format":${JSON.stringify(FORMAT)},\n"head":${JSON.stringify({ revision: head.revision, routes: head.specs })},\n"revisions":[\n`
      + this.log.records.map((r) => JSON.stringify(r)).join(',\n') + '\n]}\n';
    try {
      await writeFileAtomic(this.path, text);
      this.lastError = undefined;
    } catch (e) {
      this.lastError = `cannot write ${this.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
      this.#logger.error({ historyFile: this.path, err: this.lastError }, 'route history: not saved (the change is applied; the history of this run is kept in memory)');
    }
  }
}
