// Backend churn never reaches clients (issue 20): two upstream processes behind Portico under a
// steady keep-alive load, each restarted in turn as a rolling deploy does, killed (SIGKILL) or
// stopped gracefully (SIGTERM), down for a second, then back on the same port. With the default
// policy (nothing configured), no GET fails and no POST reaches an origin twice.
import { describe, it, expect } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { Pool } from 'undici';
import { sleep, startProxy, useCleanups } from '../helpers/harness.js';

const cleanups = useCleanups();
const ORIGIN = join(import.meta.dirname, '..', 'fixtures', 'restartable-origin.mjs');

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** An origin process on `port`; POST ids it saw are appended to `posts`. */
class Upstream {
  child: ChildProcess | undefined;
  constructor(readonly port: number, readonly name: string, readonly posts: string[]) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, [ORIGIN, String(this.port), this.name], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        let i: number;
        while ((i = out.indexOf('\n')) >= 0) {
          const line = out.slice(0, i);
          out = out.slice(i + 1);
          if (line.startsWith('listening')) resolve();
          else if (line.startsWith('post ')) this.posts.push(line.slice(5));
        }
      });
      child.once('exit', (code) => reject(new Error(`origin exited with ${code}`)));
    });
  }

  async stop(signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const child = this.child!;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }
}

interface Load { ok: number; failed: string[]; stop(): Promise<void> }

/** GETs on 8 keep-alive connections, and a POST with a unique id every ~20 ms. */
function load(port: number): Load {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 9, pipelining: 1, headersTimeout: 15_000, bodyTimeout: 15_000 });
  let running = true;
  let postId = 0;
  const l: Load = { ok: 0, failed: [], stop: async () => {} };
  const getter = async () => {
    while (running) {
      try {
        const res = await pool.request({ path: '/x', method: 'GET' });
        const body = await res.body.text();
        if (res.statusCode === 200) l.ok++;
        else l.failed.push(`GET ${res.statusCode} ${body}`);
      } catch (e) {
        l.failed.push(`GET ${(e as Error).message}`);
      }
    }
  };
  const poster = async () => {
    while (running) {
      const id = String(++postId);
      try {
        const res = await pool.request({ path: '/p', method: 'POST', headers: { 'x-id': id }, body: 'x' });
        await res.body.text();
      } catch { /* a POST may fail in a deploy; it must never be sent twice */ }
      await sleep(20);
    }
  };
  const loops = [...Array.from({ length: 8 }, getter), poster()];
  l.stop = async () => {
    running = false;
    await Promise.all(loops);
    await pool.close();
  };
  return l;
}

describe('a rolling deploy of the upstreams, with the default policy', () => {
  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`by ${signal}: no GET fails, no POST reaches an origin twice`, async () => {
      const posts: string[] = [];
      const ups = [new Upstream(await freePort(), 'a', posts), new Upstream(await freePort(), 'b', posts)];
      for (const u of ups) await u.start();
      cleanups.push(() => { for (const u of ups) u.child?.kill('SIGKILL'); });
      const p = await startProxy({ routes: [{ id: 'r', pathPrefix: '/', upstreams: ups.map((u) => `http://127.0.0.1:${u.port}`) }] });
      cleanups.push(() => p.proxy.close(0));
      const l = load(p.port);
      try {
        await sleep(500);
        for (const u of ups) {
          await u.stop(signal);
          await sleep(1000);
          await u.start();
          await sleep(1000);
        }
      } finally {
        await l.stop();
      }
      expect(l.failed).toEqual([]);
      expect(l.ok).toBeGreaterThan(100);
      const seen = new Set<string>();
      const twice = posts.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
      expect(twice).toEqual([]);
      expect(posts.length).toBeGreaterThan(10);
    }, 60_000);
  }
});
