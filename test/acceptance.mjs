#!/usr/bin/env node
// Runs the black-box conformance suite (../shared/acceptance) against a real `portico` process:
// picks two free loopback ports, starts the built proxy with one route to the suite's recording
// origin, runs the suite, stops the proxy by its pid, and exits with the suite's status.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const suite = process.env.PORTICO_ACCEPTANCE ?? resolve(root, '..', 'shared', 'acceptance', 'run.mjs');
if (!existsSync(suite)) {
  console.error(`acceptance suite not found at ${suite} (set PORTICO_ACCEPTANCE)`);
  process.exit(1);
}
const bin = join(root, 'dist', 'admin', 'cli', 'portico.js');

/** @returns {Promise<number>} */
const freePort = () => new Promise((res, rej) => {
  const s = net.createServer();
  s.once('error', rej);
  s.listen(0, '127.0.0.1', () => { const { port } = /** @type {net.AddressInfo} */ (s.address()); s.close(() => res(port)); });
});

const [proxyPort, originPort] = [await freePort(), await freePort()];
const proxy = spawn(process.execPath, [bin, '--listen', `127.0.0.1:${proxyPort}`, '--admin', 'off',
  '--route', `/=http://127.0.0.1:${originPort}`, '--log-level', 'error'], { stdio: ['ignore', 'inherit', 'pipe'] });
const stop = () => { try { if (proxy.pid !== undefined) process.kill(proxy.pid, 'SIGKILL'); } catch { /* gone */ } };
process.on('exit', stop);
process.on('SIGINT', () => { stop(); process.exit(130); });

await /** @type {Promise<void>} */ (new Promise((res, rej) => {
  let seen = '';
  const t = setTimeout(() => rej(new Error(`portico did not start: ${seen}`)), 15000);
  proxy.stderr.on('data', (d) => {
    seen += d;
    process.stderr.write(d);
    if (seen.includes('listening on')) { clearTimeout(t); res(); }
  });
  proxy.once('exit', (code) => rej(new Error(`portico exited with ${code}: ${seen}`)));
}));

const args = [suite, '--proxy', `127.0.0.1:${proxyPort}`, '--origin-port', String(originPort), ...process.argv.slice(2)];
const run = spawn(process.execPath, args, { stdio: 'inherit' });
const code = await new Promise((res) => run.once('exit', (c) => res(c ?? 1)));
stop();
process.exit(code);
