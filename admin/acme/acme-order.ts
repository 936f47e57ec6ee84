// One certificate for one name from the ACME CA, with acme-client doing the protocol (RFC 8555):
// new order -> for each pending authorization, the first challenge type allowed and offered ->
// its answer published (every worker, every instance) -> the CA told to validate -> wait for
// valid -> the answer withdrawn -> a new key and CSR -> finalize -> download the chain.
// acme-client's local pre-check of the challenge (verifyChallenge) is not used: it resolves the
// name from this machine, which says nothing about what the CA sees.
import { X509Certificate } from 'node:crypto';
import * as acme from 'acme-client';
import type { Logger } from 'pino';
import type { AcmeChallengeType, AcmeKeyType } from '../../src/config/acme-schema.js';
import { ProxyError } from '../../src/errors.js';
import type { SharedChallenge } from './acme-storage.js';
import { AcmeCaError, AcmeUnreachableError } from './acme-http.js';

export interface OrderRequest {
  client: acme.Client;
  name: string;
  /** Challenge types that may be used, best first. */
  challengeTypes: AcmeChallengeType[];
  keyType: AcmeKeyType;
  /** Makes the answer served everywhere; resolves once it is. */
  publish(challenge: SharedChallenge): Promise<void>;
  withdraw(challenge: SharedChallenge): Promise<void>;
  /** Called with the type chosen for an authorization (for the state and the next attempt). */
  onChallenge?(type: AcmeChallengeType): void;
  logger: Logger;
}

export interface OrderedCertificate {
  cert: string;
  key: string;
}

/** A new private key of the configured type (PEM). */
export async function createKey(type: AcmeKeyType): Promise<Buffer> {
  switch (type) {
    case 'ec-p256': return acme.crypto.createPrivateEcdsaKey('P-256');
    case 'ec-p384': return acme.crypto.createPrivateEcdsaKey('P-384');
    case 'rsa-2048': return acme.crypto.createPrivateRsaKey(2048);
    case 'rsa-4096': return acme.crypto.createPrivateRsaKey(4096);
  }
}

interface CaChallenge { type: string; url: string; token?: string; status: string }

export async function orderCertificate(r: OrderRequest): Promise<OrderedCertificate> {
  const { client, name } = r;
  const order = await client.createOrder({ identifiers: [{ type: 'dns', value: name }] });
  const authorizations = await client.getAuthorizations(order);
  for (const authz of authorizations) {
    if (authz.status === 'valid') continue; // validated recently (the CA reuses it)
    const offered = authz.challenges as unknown as CaChallenge[];
    const type = r.challengeTypes.find((t) => offered.some((c) => c.type === t));
    const challenge = offered.find((c) => c.type === type);
    if (!type || !challenge?.token) {
      throw new ProxyError('PRX_ERR_ACME', `the CA offers ${offered.map((c) => c.type).join(', ') || 'no challenge'} for ${name}; Portico can answer ${r.challengeTypes.join(', ')} here (acme.challenges, and http-01 needs a plain listener)`);
    }
    r.onChallenge?.(type);
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge as unknown as acme.Authorization['challenges'][number]);
    let shared: SharedChallenge;
    if (type === 'http-01') {
      shared = { type, name, token: challenge.token, keyAuthorization };
    } else {
      const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, await acme.crypto.createPrivateEcdsaKey('P-256'));
      shared = { type, name, token: challenge.token, cert: cert.toString(), key: key.toString() };
    }
    await r.publish(shared);
    try {
      r.logger.debug({ name, type }, 'acme: asking the CA to validate');
      await client.completeChallenge(challenge as unknown as acme.Authorization['challenges'][number]);
      await client.waitForValidStatus(challenge);
      await client.waitForValidStatus(authz);
    } catch (e) {
      if (e instanceof AcmeCaError || e instanceof AcmeUnreachableError) throw e;
      throw new ProxyError('PRX_ERR_ACME', `${type} validation of ${name} failed: ${(e as Error).message}`);
    } finally {
      await r.withdraw(shared);
    }
  }
  const key = await createKey(r.keyType);
  // a CN holds at most 64 characters (RFC 5280 ub-common-name); the name is in the SAN either way
  const [, csr] = await acme.crypto.createCsr({ ...(name.length <= 64 ? { commonName: name } : {}), altNames: [name] }, key);
  const finalized = await client.finalizeOrder(order, csr);
  const cert = await client.getCertificate(finalized);
  checkIssued(name, cert);
  return { cert, key: key.toString() };
}

/** The CA's answer must be a certificate for `name`. */
function checkIssued(name: string, chain: string): void {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(chain);
  } catch (e) {
    throw new ProxyError('PRX_ERR_ACME', `the CA sent no valid certificate for ${name} (${(e as Error).message})`);
  }
  if (leaf.checkHost(name) === undefined) throw new ProxyError('PRX_ERR_ACME', `the CA sent a certificate that does not name ${name} (${leaf.subjectAltName ?? leaf.subject})`);
}
