// Starts automatic HTTPS for the `portico` command (admin/cli/run.ts loads this module only when
// the configuration has `acme`, so acme-client and its dependencies are not loaded otherwise):
// the storage that goes with the route store, and the manager, once the listeners are open.
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../../src/config/config.js';
import type { DataPlane } from '../../src/contract/data-plane.js';
import { readCaBundle } from '../../src/tls/pem.js';
import { AcmeManager } from './acme-manager.js';
import type { AcmeStorage } from './acme-storage.js';
import { EtcdAcmeStorage } from './etcd-storage.js';
import { FileAcmeStorage, acmeDirectoryFor } from './file-storage.js';
import { plainListenerServesRoutes } from './acme-preflight.js';

export interface StartAcmeOptions {
  config: Config;
  configPath: string | undefined;
  plane: DataPlane;
  logger: Logger;
}

/** The running manager, or undefined when no listener asks for ACME certificates. */
export async function startAcme(o: StartAcmeOptions): Promise<AcmeManager | undefined> {
  const acme = o.config.acme;
  if (!acme) return undefined;
  if (!o.plane.tlsListeners().some((l) => l.acmeNames !== undefined)) {
    o.logger.warn('acme is configured, but no TLS listener has "tls": { "acme": true }: no certificate is ordered');
    return undefined;
  }
  const storage: AcmeStorage = o.config.store.type === 'etcd'
    ? new EtcdAcmeStorage(o.config.store, acme.directory, o.logger)
    : new FileAcmeStorage(acmeDirectoryFor(resolve(o.configPath!)), acme.directory);
  const manager = new AcmeManager({
    config: acme,
    caPem: acme.caFile !== undefined ? readCaBundle(acme.caFile, '/acme/caFile') : undefined,
    plane: o.plane,
    storage,
    logger: o.logger,
    http01: plainListenerServesRoutes(o.config),
  });
  try {
    await manager.start();
  } catch (e) {
    await manager.close();
    throw e;
  }
  return manager;
}
