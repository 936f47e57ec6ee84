// startAdmin: the admin API's listener, as the `portico` command starts it (admin/cli/run.ts).
import type { AddressInfo } from 'node:net';
import type { AdminHandle, AdminStarter } from './admin-context.js';
import { parseHostPort } from '../../src/config/config.js';
import { ProxyError } from '../../src/errors.js';
import { MIN_ADMIN_TOKEN_LENGTH } from '../../src/config/schema.js';
import { buildAdminApp } from './app.js';
import { isLoopbackHost } from './auth.js';

export { buildAdminApp } from './app.js';

export const MIN_TOKEN_LENGTH = MIN_ADMIN_TOKEN_LENGTH;

export const startAdmin: AdminStarter = async (ctx): Promise<AdminHandle> => {
  const { host, port } = parseHostPort(ctx.listen, 'admin listen');
  const admin = ctx.config.admin || undefined;
  const credentials = ctx.token !== undefined || (admin?.tokens.length ?? 0) > 0 || (admin?.tls?.clientCertificates?.clients.length ?? 0) > 0;
  if (!isLoopbackHost(host) && !credentials) {
    throw new ProxyError('PRX_ERR_BAD_CONFIG', `refusing to serve the admin API on ${ctx.listen} (not a loopback address) without a token: set admin.token in the config file or PORTICO_ADMIN_TOKEN, or listen on 127.0.0.1`);
  }
  if (ctx.token !== undefined && ctx.token.length < MIN_TOKEN_LENGTH) {
    throw new ProxyError('PRX_ERR_BAD_CONFIG', `the admin token is too short (${ctx.token.length} characters; at least ${MIN_TOKEN_LENGTH})`);
  }
  const app = buildAdminApp(ctx);
  try {
    await app.listen({ host: host.replace(/^\[|\]$/g, ''), port });
  } catch (e) {
    await app.close().catch(() => {});
    const code = (e as NodeJS.ErrnoException).code;
    throw new ProxyError('PRX_ERR_LISTEN', code === 'EADDRINUSE' ? `${ctx.listen} is already in use` : `cannot listen on ${ctx.listen}: ${code ?? (e as Error).message}`);
  }
  const a = app.server.address() as AddressInfo;
  const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `${admin?.tls ? 'https' : 'http'}://${shown}:${a.port}`,
    close: () => app.close(),
  };
};
