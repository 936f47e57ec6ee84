// A browser over HTTP/2 through Portico: system Chromium (driven by playwright-core) loads a page
// and its sub-resources from a TLS listener with the default protocols; the page, each resource
// and Portico's access log say h2. Skipped with a note where /usr/bin/chromium is missing.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { pino } from 'pino';
import { TestPki, type IssuedCert } from '../helpers/certs.js';
import { startProxy, startHttpOrigin, useCleanups } from '../helpers/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const cleanups = useCleanups();
let pki: TestPki;
let cert: IssuedCert;
let browser: Browser | undefined;

beforeAll(async () => {
  pki = new TestPki();
  cert = pki.issue({ names: ['site.test'] });
  if (existsSync(CHROMIUM)) {
    // root in a container: no sandbox; the test CA is not in Chromium's store, so certificate
    // errors are ignored (the protocol is what is under test, TLS verification has its own tests)
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--host-resolver-rules=MAP site.test 127.0.0.1'] });
  }
}, 60_000);

afterAll(async () => {
  await browser?.close();
  pki.close();
});

describe.skipIf(!existsSync(CHROMIUM))('Chromium over HTTP/2', () => {
  it('loads a page and its resources over h2 through Portico', async () => {
    const origin = await startHttpOrigin((req, res) => {
      if (req.url === '/') {
        res.setHeader('content-type', 'text/html');
        res.end('<!doctype html><link rel="stylesheet" href="/style.css"><script src="/app.js"></script><img src="/img.svg"><p id="p">page</p>');
      } else if (req.url === '/style.css') {
        res.setHeader('content-type', 'text/css');
        res.end('p { color: green }');
      } else if (req.url === '/app.js') {
        res.setHeader('content-type', 'text/javascript');
        res.end('document.title = "from script";');
      } else {
        res.setHeader('content-type', 'image/svg+xml');
        res.end('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>');
      }
    });
    cleanups.push(() => origin.close());
    const log: Array<Record<string, unknown>> = [];
    const p = await startProxy({
      listen: false,
      listeners: [{ listen: '127.0.0.1:0', tls: { certificates: [{ cert: cert.cert, key: cert.key }] } }],
      routes: [{ id: 'site', pathPrefix: '/', upstreams: [`http://127.0.0.1:${origin.port}`] }],
    }, { logger: pino({ level: 'info' }, { write: (s: string) => { log.push(JSON.parse(s) as Record<string, unknown>); } }) });
    cleanups.push(() => p.close());
    const context = await browser!.newContext({ ignoreHTTPSErrors: true });
    cleanups.push(() => context.close());
    const page = await context.newPage();
    const response = await page.goto(`https://site.test:${p.port}/`);
    expect(response?.status()).toBe(200);
    await page.waitForLoadState('load');
    expect(await page.title()).toBe('from script');
    expect(await page.$eval('#p', (e) => getComputedStyle(e).color)).toBe('rgb(0, 128, 0)');
    const protocols = await page.evaluate(() => performance.getEntries()
      .filter((e): e is PerformanceResourceTiming => 'nextHopProtocol' in e)
      .map((e) => [new URL(e.name).pathname, e.nextHopProtocol]));
    expect(Object.fromEntries(protocols)).toMatchObject({ '/': 'h2', '/style.css': 'h2', '/app.js': 'h2', '/img.svg': 'h2' });
    expect(protocols.every(([, protocol]) => protocol === 'h2')).toBe(true);
    const requests = log.filter((l) => l.msg === 'request');
    expect(requests.map((l) => l.target).sort()).toEqual(expect.arrayContaining(['/', '/app.js', '/img.svg', '/style.css']));
    expect(requests.every((l) => l.proto === 'h2')).toBe(true);
    expect(p.proxy.stats().clientConnections).toBe(1);
  }, 60_000);
});
