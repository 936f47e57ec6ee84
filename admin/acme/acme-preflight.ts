// The checks of the `acme` setting that the schema cannot make, run before anything listens (and
// by --check): an exit 2 naming the setting rather than a start whose orders can never work.
// (No acme-client here: every start runs these checks, and only a start with `acme` loads it.)
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Config } from '../../src/config/config.js';
import { ProxyError } from '../../src/errors.js';
import { readCaBundle } from '../../src/tls/pem.js';
import { parseRenewBefore } from './renewal.js';

const invalid = (message: string, path: string) => new ProxyError('PRX_ERR_BAD_CONFIG', message, path);

/** Whether a plain listener serves routes (and so can answer HTTP-01). */
export function plainListenerServesRoutes(config: Config): boolean {
  return config.listen !== false || config.listeners.some((l) => !l.tls);
}

export function checkAcmeConfiguration(config: Config, configPath: string | undefined): void {
  const acme = config.acme;
  if (!acme) return;
  parseRenewBefore(acme.renewBefore);
  if (acme.caFile !== undefined) readCaBundle(acme.caFile, '/acme/caFile');
  if (!acme.challenges.includes('tls-alpn-01') && !plainListenerServesRoutes(config)) {
    throw invalid('/acme/challenges: only http-01 is allowed, but no plain listener serves routes to answer it (add one, or allow "tls-alpn-01")', '/acme/challenges');
  }
  if (config.store.type !== 'file') return;
  // the file store keeps the account and the certificates next to the config file
  if (configPath === undefined) throw invalid('/acme: with the file store, the ACME account and certificates are kept next to the config file: start with --config FILE', '/acme');
  const dir = dirname(resolve(configPath));
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    accessSync(dir, constants.W_OK);
  } catch {
    throw invalid(`/acme: the directory of --config ${configPath} (${dir}) must exist and be writable: the ACME account and certificates are kept there`, '/acme');
  }
}
