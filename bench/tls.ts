// The tls workloads' certificate (one self-signed ECDSA P-256 certificate for every target, made
// with openssl at run time) and a probe that reports what a handshake with a target negotiates,
// so the report shows that every target used the same protocol, cipher and key exchange.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';

export function makeBenchCertificate(dir: string): { cert: string; key: string; combined: string } {
  const cert = join(dir, 'bench-cert.pem');
  const key = join(dir, 'bench-key.pem');
  const combined = join(dir, 'bench-cert-key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  writeFileSync(combined, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
  return { cert, key, combined };
}

/** e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519, ALPN http/1.1". */
export function negotiated(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      const k = s.getEphemeralKeyInfo() as { name?: string; type?: string };
      resolve(`${s.getProtocol()} ${s.getCipher().standardName} ${k.name ?? k.type ?? ''}, ALPN ${s.alpnProtocol || 'none'}`);
      s.destroy();
    });
    s.on('error', (e: Error) => resolve(`handshake failed: ${e.message}`));
    s.setTimeout(5000, () => { s.destroy(); resolve('handshake timed out'); });
  });
}
