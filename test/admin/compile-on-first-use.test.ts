// Schemas compiled on first use (admin/protocol/compile-on-first-use.ts, issue 23): nothing is
// compiled before a call, and the wrappers answer exactly as the compiled functions do (result,
// `errors`, Ajv's `schemaEnv`); the Fastify serializers are Fastify's own.
import { describe, it, expect } from 'vitest';
import { Ajv, type ValidateFunction } from 'ajv';
import Fastify from 'fastify';
import { compilersOnFirstUse, validatorOnFirstUse } from '../../admin/protocol/compile-on-first-use.js';
import { validatorCompiler } from '../../admin/protocol/schemas.js';

const schema = { type: 'object', required: ['n'], properties: { n: { type: 'integer' } }, additionalProperties: false };

describe('validatorOnFirstUse', () => {
  it('compiles on the first call only, and reports the compiled function\'s result and errors', () => {
    const ajv = new Ajv({ allErrors: false });
    let compiles = 0;
    const v = validatorOnFirstUse(() => {
      compiles++;
      return ajv.compile(schema);
    });
    expect(compiles).toBe(0);
    expect(v({ n: 1 })).toBe(true);
    expect(v.errors).toBeNull();
    expect(v({ n: 'x' })).toBe(false);
    expect(v.errors?.[0]).toMatchObject({ instancePath: '/n', keyword: 'type' });
    expect(v({ n: 2 })).toBe(true);
    expect(v.errors).toBeNull();
    expect(compiles).toBe(1);
  });

  it('exposes the compiled function\'s schemaEnv (Fastify then passes the parent object)', () => {
    const compiled: ValidateFunction = new Ajv().compile(schema);
    const v = validatorOnFirstUse(() => compiled);
    expect(v.schemaEnv).toBe(compiled.schemaEnv);
  });
});

describe('compilersOnFirstUse in a Fastify app', () => {
  it('validates and serialises as Fastify does, compiling per route when first used', async () => {
    const app = Fastify({ schemaController: compilersOnFirstUse(validatorCompiler) });
    app.post('/n', {
      schema: { body: schema, response: { 200: { type: 'object', properties: { n: { type: 'integer' } } } } },
    }, async (req) => ({ ...(req.body as object), dropped: 'by the response schema' }));
    await app.ready();
    const ok = await app.inject({ method: 'POST', url: '/n', payload: { n: 3 } });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toBe('{"n":3}');
    const bad = await app.inject({ method: 'POST', url: '/n', payload: { n: 'three' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ message: 'body/n must be integer' });
    await app.close();
  });
});
