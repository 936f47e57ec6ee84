// PEM material for node:tls, checked before it is used: files are read with errors that name the
// file, the certificate and key must parse, and the key must be the certificate's
// (X509Certificate#checkPrivateKey), so a mismatched pair fails at start-up or in the admin API
// instead of in every handshake.
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { ProxyError } from '../errors.js';

/** A certificate chain (leaf first) and its private key, PEM; the files they came from, if any. */
export interface KeyPair {
  cert: string;
  key: string;
  certFile?: string;
  keyFile?: string;
}

/** Reads a PEM file; `where` is the JSON pointer of the setting that names it. */
export function readPemFile(file: string, what: string, where: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ProxyError('PRX_ERR_TLS_FILE', `cannot read ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, where);
  }
  if (!text.includes('-----BEGIN ')) throw new ProxyError('PRX_ERR_TLS_FILE', `${what} file ${file} holds no PEM data`, where);
  return text;
}

/** Reads a certificate file and its key file (`where` points at the object holding both). */
export function readKeyPair(certFile: string, keyFile: string, where: string): KeyPair {
  return { cert: readPemFile(certFile, 'certificate', `${where}/cert`), key: readPemFile(keyFile, 'key', `${where}/key`), certFile, keyFile };
}

/** Checks that a pair parses and belongs together; returns the leaf certificate. */
export function checkKeyPair(pair: KeyPair, where: string): X509Certificate {
  const certName = pair.certFile ? `certificate file ${pair.certFile}` : 'the certificate';
  const keyName = pair.keyFile ? `key file ${pair.keyFile}` : 'the key';
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(pair.cert);
  } catch (e) {
    throw new ProxyError('PRX_ERR_TLS_FILE', `${certName} is not a valid PEM certificate (${(e as Error).message})`, `${where}/cert`);
  }
  let ok: boolean;
  try {
    ok = leaf.checkPrivateKey(createPrivateKey(pair.key));
  } catch (e) {
    throw new ProxyError('PRX_ERR_TLS_FILE', `${keyName} is not a valid unencrypted PEM private key (${(e as Error).message})`, `${where}/key`);
  }
  if (!ok) throw new ProxyError('PRX_ERR_TLS_FILE', `${keyName} does not match ${certName}`, `${where}/key`);
  return leaf;
}

/** Reads a CA bundle file and checks that it holds a certificate. */
export function readCaBundle(file: string, where: string): string {
  const pem = readPemFile(file, 'CA', where);
  try {
    new X509Certificate(pem);
  } catch (e) {
    throw new ProxyError('PRX_ERR_TLS_FILE', `CA file ${file} holds no valid PEM certificate (${(e as Error).message})`, where);
  }
  return pem;
}
