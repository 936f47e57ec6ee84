// Throw-away certificates for tests, made at run time:
// - makeCert: a self-signed certificate for the TLS origin the forward-proxy tests reach through
//   CONNECT (CN=localhost, subjectAltName localhost, 127.0.0.1, ::1). Made with `openssl` when it is
//   installed; otherwise with node:crypto and a few lines of DER.
// - TestPki: a local CA (openssl, installed by .ci/run) that issues server and client
//   certificates as files: names, IPs, already expired, for the TLS listener and upstream tests.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert { key: string; cert: string; source: 'openssl' | 'node' }

export function makeCert(prefer: 'openssl' | 'node' = 'openssl'): TestCert {
  if (prefer === 'openssl') {
    const dir = mkdtempSync(join(tmpdir(), 'portico-cert-'));
    try {
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
      ], { stdio: 'ignore' });
      return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), source: 'openssl' };
    } catch {
      // no openssl (or too old for -addext): fall through
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return nodeCert();
}

export interface IssuedCert {
  /** Files: PEM certificate (leaf then CA: a chain) and key. */
  cert: string;
  key: string;
  certPem: string;
  keyPem: string;
}

export interface IssueOptions {
  /** DNS names (the first is also the CN). */
  names?: string[];
  ips?: string[];
  /** notAfter in the past: verification fails with CERT_HAS_EXPIRED. */
  expired?: boolean;
  /** File name stem (default: the first name). */
  stem?: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A local CA in a temporary directory; `close()` removes it. */
export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'portico-pki-'));
  /** The CA certificate file (curl --cacert, NODE_EXTRA_CA_CERTS, upstream.caFile). */
  readonly caFile = join(this.dir, 'ca.pem');
  readonly caKey = join(this.dir, 'ca.key');
  #n = 0;

  constructor(cn = 'Portico Test CA') {
    execFileSync('openssl', ['req', '-x509', ...EC_KEY, '-keyout', this.caKey, '-out', this.caFile, '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'ignore' });
  }

  get caPem(): string {
    return readFileSync(this.caFile, 'utf8');
  }

  /** A leaf certificate signed by this CA, usable for servers and clients. */
  issue(o: IssueOptions = {}): IssuedCert {
    const names = o.names ?? ['localhost'];
    const stem = join(this.dir, `${o.stem ?? (names[0] ?? 'ip').replace(/[^A-Za-z0-9.-]/g, '_')}-${++this.#n}`);
    const san = [...names.map((n) => `DNS:${n}`), ...(o.ips ?? []).map((ip) => `IP:${ip}`)].join(',');
    writeFileSync(`${stem}.ext`, `basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth,clientAuth
${san ? `subjectAltName=${san}
` : ''}`);
    execFileSync('openssl', ['req', '-new', ...EC_KEY, '-keyout', `${stem}.key`, '-out', `${stem}.csr`, '-subj', `/CN=${names[0] ?? o.ips?.[0] ?? 'client'}`], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-req', '-in', `${stem}.csr`, '-CA', this.caFile, '-CAkey', this.caKey, '-CAcreateserial',
      '-out', `${stem}.leaf`, '-days', o.expired ? '-1' : '2', '-extfile', `${stem}.ext`], { stdio: 'ignore' });
    const certPem = readFileSync(`${stem}.leaf`, 'utf8') + this.caPem;
    writeFileSync(`${stem}.pem`, certPem);
    return { cert: `${stem}.pem`, key: `${stem}.key`, certPem, keyPem: readFileSync(`${stem}.key`, 'utf8') };
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// --- minimal DER ---------------------------------------------------------------------------------

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const seq = (...p: Buffer[]) => tlv(0x30, ...p);
const set = (...p: Buffer[]) => tlv(0x31, ...p);
function oid(s: string): Buffer {
  const [a, b, ...rest] = s.split('.').map(Number);
  const out = [a * 40 + b];
  for (const n of rest) {
    const enc = [n & 0x7f];
    for (let v = n >> 7; v > 0; v >>= 7) enc.unshift(0x80 | (v & 0x7f));
    out.push(...enc);
  }
  return tlv(0x06, Buffer.from(out));
}
const utcTime = (d: Date) => tlv(0x17, Buffer.from(d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z'));
const name = (cn: string) => seq(set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(cn)))));

function nodeCert(): TestCert {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecdsaSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const serial = randomBytes(8);
  serial[0] = (serial[0] & 0x3f) | 0x40; // positive, no leading zero byte (DER INTEGER is minimal)
  const san = seq(
    tlv(0x82, Buffer.from('localhost')),
    tlv(0x87, Buffer.from([127, 0, 0, 1])),
    tlv(0x87, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])),
  );
  const now = Date.now();
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, serial),
    ecdsaSha256,
    name('localhost'),
    seq(utcTime(new Date(now - 3600_000)), utcTime(new Date(now + 2 * 86400_000))),
    name('localhost'),
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, seq(seq(oid('2.5.29.17'), tlv(0x04, san)))),
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = seq(tbs, ecdsaSha256, tlv(0x03, Buffer.from([0]), signature));
  const cert = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').trimEnd()}\n-----END CERTIFICATE-----\n`;
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return { key, cert, source: 'node' };
}
