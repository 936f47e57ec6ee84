// The JSON-lines logger (pino): access log and events on stdout, one object per line.
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino(
    { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 1, sync: false, minLength: 4096 }),
  );
}
