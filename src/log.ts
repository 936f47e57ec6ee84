// The JSON-lines logger (pino): access log and events on stdout, one object per line.
// Lines are buffered (one write per 4 KiB instead of one per request: the access log costs the
// data path little) and the buffer is flushed every LOG_FLUSH_MS by an unref'd timer, so a line
// reaches stdout within half a second even when only a few requests arrive.
import { pino, type Logger } from 'pino';

export const LOG_FLUSH_MS = 500;

export function createLogger(level: string): Logger {
  return pino(
    { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: LOG_FLUSH_MS }),
  );
}
