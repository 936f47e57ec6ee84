// /v1/tls: the TLS listeners' certificates, and their replacement without a restart. A PUT takes
// the whole certificate list of one listener, each entry as PEM text (upload) or as file paths
// (read now, and watched for renewals); all are checked first (422 naming the entry and file),
// then swapped in at once through the listener's CertificateStore (DataPlane.replaceCertificates:
// with workers, in every worker before the answer): established connections keep their
// certificate, new handshakes get the new one. Changes last for the running process: the
// config file is not rewritten (it would have to hold private keys); put the files in the config
// for restarts.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { DataPlane } from '../../src/contract/data-plane.js';
import { CertificateStore } from '../../src/tls/certificate-store.js';
import { certificateList, filePath } from '../../src/config/schema.js';
import { readKeyPair, type KeyPair } from '../../src/tls/pem.js';
import { AdminProblem, methodNotAllowed, requireMediaType } from '../protocol/problem.js';
import { mutationQuery, noQuery, problemResponses } from '../protocol/schemas.js';
import type { AcmeView } from './admin-context.js';

export interface TlsPluginOptions {
  plane: DataPlane;
  /** Automatic HTTPS, when a listener has `tls.acme`. */
  acme?: AcmeView;
}

const certificateInfo = {
  type: 'object',
  properties: {
    names: { type: 'array', items: { type: 'string' }, description: 'DNS names it is chosen for (SNI)' },
    subject: { type: 'string' }, issuer: { type: 'string' },
    validFrom: { type: 'string' }, validTo: { type: 'string' },
    fingerprint256: { type: 'string' },
    certFile: { type: 'string' }, keyFile: { type: 'string' },
    source: { type: 'string', enum: ['acme'], description: 'acme: issued by the ACME CA (absent: configured)' },
  },
} as const;

const acmeError = {
  type: 'object',
  properties: { code: { type: 'string' }, message: { type: 'string' }, at: { type: 'string' } },
} as const;

/** Automatic HTTPS: the CA, the account, and the state of every name (admin/acme/acme-manager.ts). */
const acmeView = {
  type: 'object',
  properties: {
    directory: { type: 'string' },
    email: { type: 'string' },
    challenges: { type: 'array', items: { type: 'string' } },
    storage: { type: 'string', description: 'where the account and certificates are kept' },
    instance: { type: 'string', description: "this instance's id in locks" },
    account: { type: ['object', 'null'], properties: { url: { type: 'string' }, createdAt: { type: 'string' } } },
    storageError: { type: 'string', description: 'the storage cannot be reached (certificates held keep being served)' },
    names: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          listeners: { type: 'array', items: { type: 'string' } },
          status: { type: 'string', enum: ['pending', 'ordering', 'renewing', 'valid', 'waiting', 'failed'] },
          issuer: { type: 'string' }, notBefore: { type: 'string' }, notAfter: { type: 'string' }, fingerprint256: { type: 'string' },
          issuedAt: { type: 'string' },
          nextRenewal: { type: 'string', description: 'when the certificate held is renewed' },
          nextAttempt: { type: 'string', description: 'when the next order starts (no certificate yet, waiting, or after a failure)' },
          failures: { type: 'integer', description: 'failed attempts in a row' },
          lastError: acmeError,
          heldBy: { type: 'string', description: 'the instance ordering this name (status waiting)' },
          challenge: { type: 'string', description: 'challenge type of the last order' },
        },
      },
    },
    skipped: {
      type: 'array',
      items: { type: 'object', properties: { name: { type: 'string' }, listeners: { type: 'array', items: { type: 'string' } }, reason: { type: 'string' } } },
    },
  },
} as const;

const listenerView = {
  type: 'object',
  required: ['id', 'certificates'],
  properties: {
    id: { type: 'string' },
    listen: { type: 'string' },
    certificates: { type: 'array', items: certificateInfo, description: 'in order; the first is the default' },
    dryRun: { type: 'boolean' },
  },
} as const;

const pem = (what: string) => ({ type: 'string', minLength: 1, maxLength: 1_000_000, description: what }) as const;

const replaceBody = {
  type: 'object',
  additionalProperties: false,
  required: ['certificates'],
  properties: {
    certificates: certificateList({
      oneOf: [
        { type: 'object', additionalProperties: false, required: ['cert', 'key'], properties: { cert: pem('PEM certificate chain, leaf first'), key: pem('PEM private key') } },
        { type: 'object', additionalProperties: false, required: ['certFile', 'keyFile'], properties: { certFile: filePath('certificate chain file'), keyFile: filePath('key file') } },
      ],
    }),
  },
} as const;

type Entry = { cert: string; key: string } | { certFile: string; keyFile: string };

export const tlsPlugin: FastifyPluginAsync<TlsPluginOptions> = async (app: FastifyInstance, { plane, acme }) => {
  app.get('/tls', {
    schema: {
      tags: ['tls'], summary: 'TLS listeners and their certificates (and automatic HTTPS: the state of every name)', querystring: noQuery,
      response: { 200: { type: 'object', properties: { listeners: { type: 'array', items: listenerView }, acme: acmeView } }, ...problemResponses },
    },
  }, async () => ({
    listeners: plane.tlsListeners().map((l) => ({ id: l.id, listen: l.listen, certificates: l.store.list() })),
    ...(acme ? { acme: acme.status() } : {}),
  }));
  methodNotAllowed(app, '/tls', ['GET']);

  app.put<{ Params: { listener: string }; Querystring: { dryRun: boolean }; Body: { certificates: Entry[] } }>('/tls/:listener/certificates', {
    preValidation: requireMediaType('application/json'),
    schema: {
      tags: ['tls'],
      summary: 'Replace a TLS listener\'s certificates (PEM upload or files), without a restart',
      params: { type: 'object', required: ['listener'], properties: { listener: { type: 'string', maxLength: 64, description: 'TLS listener id' } } },
      querystring: mutationQuery,
      body: replaceBody,
      response: { 200: listenerView, ...problemResponses },
    },
  }, async (req) => {
    const store = plane.tlsListeners().find((l) => l.id === req.params.listener)?.store;
    if (!store) throw new AdminProblem(404, 'not-found', `no TLS listener ${JSON.stringify(req.params.listener)}`);
    const pairs: KeyPair[] = req.body.certificates.map((e, i) => ('certFile' in e ? readKeyPair(e.certFile, e.keyFile, `/certificates/${i}`) : { cert: e.cert, key: e.key }));
    if (req.query.dryRun) {
      return { id: store.id, dryRun: true, certificates: new CertificateStore(store.id, pairs, '/certificates').list() };
    }
    const certificates = await plane.replaceCertificates(store.id, pairs, '/certificates');
    req.log.info({ listener: store.id, certificates: certificates.map((c) => ({ names: c.names, validTo: c.validTo, fingerprint256: c.fingerprint256 })) }, 'TLS certificates replaced');
    return { id: store.id, certificates };
  });
  methodNotAllowed(app, '/tls/:listener/certificates', ['PUT']);
};
