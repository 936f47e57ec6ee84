// The file store (the default) behind the RouteStore seam: GET /v1/status and the store metrics.
import { describe, it, expect } from 'vitest';
import { buildAdminApp } from '../../admin/api/app.js';
import { parseStoreUrl } from '../../src/config/store-config.js';
import { h, makeContext, tempDir } from '../admin/helpers.js';
import { join } from 'node:path';

describe('file store status', () => {
  it('GET /v1/status: revision and store {type file, connected, since, revision, path}; metrics say connected', async () => {
    const tmp = tempDir();
    const app = buildAdminApp(makeContext({ configPath: join(tmp.dir, 'portico.json') }), { defaultMetrics: false });
    try {
      await app.ready();
      const before = await app.inject({ method: 'GET', url: '/v1/status', headers: h({}, false) });
      expect(before.statusCode).toBe(200);
      expect(before.json()).toMatchObject({ revision: 1, store: { type: 'file', connected: true, revision: 1, path: expect.stringContaining('portico.json') as string } });
      expect(Number.isNaN(Date.parse(before.json<{ store: { since: string } }>().store.since))).toBe(false);
      const created = await app.inject({ method: 'POST', url: '/v1/routes', headers: h(), payload: { id: 'a', pathPrefix: '/a', upstreams: ['http://127.0.0.1:8081'] } });
      expect(created.statusCode).toBe(201);
      expect((await app.inject({ method: 'GET', url: '/v1/status', headers: h({}, false) })).json()).toMatchObject({ revision: 2, store: { revision: 2 } });
      const metrics = await app.inject({ method: 'GET', url: '/metrics', headers: h({}, false) });
      expect(metrics.body).toMatch(/^portico_store_connected\{type="file"\} 1$/m);
      expect(metrics.body).toMatch(/^portico_store_state_since_seconds\{type="file"\} \d+/m);
    } finally {
      await app.close();
      tmp.cleanup();
    }
  });
});

describe('--store URL', () => {
  it('parses endpoints, prefix and credentials; keeps TLS and cache settings of the config file', () => {
    expect(parseStoreUrl('etcd://127.0.0.1:2379,[::1]:2380/fleet/a/', undefined)).toEqual({ type: 'etcd', endpoints: ['127.0.0.1:2379', '[::1]:2380'], prefix: '/fleet/a', timeoutMs: 2000 });
    expect(parseStoreUrl('etcd://u%40x:p%3Aw@127.0.0.1:2379/p', { type: 'etcd', endpoints: ['h:1'], prefix: '/q', tls: { ca: 'ca.pem' }, cacheFile: 'c.json', timeoutMs: 500 }))
      .toEqual({ type: 'etcd', endpoints: ['127.0.0.1:2379'], prefix: '/p', auth: { username: 'u@x', password: 'p:w' }, tls: { ca: 'ca.pem' }, cacheFile: 'c.json', timeoutMs: 500 });
    expect(parseStoreUrl('file', undefined)).toEqual({ type: 'file' });
    expect(() => parseStoreUrl('etcd://127.0.0.1:2379/', undefined)).toThrow(/prefix must not be empty/);
    expect(() => parseStoreUrl('etcd://127.0.0.1/p', undefined)).toThrow(/is not HOST:PORT/);
    expect(() => parseStoreUrl('http://127.0.0.1:2379/p', undefined)).toThrow(/expected etcd:\/\//);
  });
});
