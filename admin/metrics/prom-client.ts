// prom-client, as every part of Portico loads it (import from here, not from 'prom-client').
// prom-client requires @opentelemetry/api when it is loaded (lib/metrics/processCpuTotal.js), for
// one thing: trace exemplars on the CPU counters, which Portico does not enable. That package is
// 51 modules, about 1.4 MiB of RSS in the admin process and in each worker (issue 23,
// bench/RESULTS.md "Memory at start"). Before prom-client is loaded, require.cache is given an
// entry for it (Node documents adding entries) whose properties load the real package on first
// read: prom-client gets it the moment it would use it, never here.
import { createRequire } from 'node:module';

const requireHere = createRequire(import.meta.url);
const requireFromPromClient = createRequire(requireHere.resolve('prom-client'));

function deferOpenTelemetry(): void {
  let path: string;
  try {
    path = requireFromPromClient.resolve('@opentelemetry/api');
  } catch {
    return; // not installed where prom-client would find it: prom-client decides what that means
  }
  if (requireHere.cache[path]) return;
  let real: Record<string | symbol, unknown> | undefined;
  const load = (): Record<string | symbol, unknown> => {
    if (!real) {
      delete requireHere.cache[path];
      real = requireFromPromClient(path) as Record<string | symbol, unknown>;
    }
    return real;
  };
  const exports = new Proxy({}, {
    get: (_t, key) => load()[key],
    has: (_t, key) => key in load(),
    ownKeys: () => Reflect.ownKeys(load()),
    getOwnPropertyDescriptor: (_t, key) => {
      const d = Reflect.getOwnPropertyDescriptor(load(), key);
      return d && { ...d, configurable: true };
    },
  });
  const entry = { id: path, filename: path, loaded: true, exports, children: [], paths: [], path: path.slice(0, path.lastIndexOf('/')) };
  requireHere.cache[path] = entry as unknown as NodeJS.Module;
}

deferOpenTelemetry();
const promClient = requireHere('prom-client') as typeof import('prom-client');

export const { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics } = promClient;
export type AggregatorRegistry<T extends import('prom-client').RegistryContentType> = import('prom-client').AggregatorRegistry<T>;
export type Counter<T extends string = string> = import('prom-client').Counter<T>;
export type Gauge<T extends string = string> = import('prom-client').Gauge<T>;
export type Registry = import('prom-client').Registry;
export type { Metric } from 'prom-client';
