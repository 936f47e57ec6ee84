// Schemas compiled on first use, not when the admin API starts. Fastify compiles a validator (Ajv)
// and a serializer (fast-json-stringify) for every schema of every route as the route is added;
// both generate and evaluate JavaScript, and for the admin API's ~40 routes (the route and config
// schemas are large) that was 40 MiB of heap allocated at start, which V8 kept as RSS, in a
// process whose admin API may not be called for hours (issue 23, bench/RESULTS.md "Memory at
// start"). The functions here are the same compilers with the same options, run on the first
// request that needs them; a route never called costs nothing.
import { createRequire } from 'node:module';
import type { ValidateFunction } from 'ajv';
import type { FastifySchemaCompiler, FastifySerializerCompiler, FastifyServerOptions } from 'fastify';

const requireHere = createRequire(import.meta.url);
/** Fastify's own dependencies, resolved as Fastify resolves them (not ours to pin). */
const requireFromFastify = createRequire(requireHere.resolve('fastify'));

/** A validate function compiled by `compile` on its first call. Ajv's functions report a failure
 *  in their own `errors` property (Fastify and our callers read it after a call): this one copies
 *  the compiled function's after each call. Fastify passes the parent object to a function with a
 *  `schemaEnv` (so Ajv may replace a root value): that property is the compiled function's too. */
export function validatorOnFirstUse(compile: () => ValidateFunction): ValidateFunction {
  let compiled: ValidateFunction | undefined;
  const compiledNow = (): ValidateFunction => (compiled ??= compile());
  const validate = ((...args: Parameters<ValidateFunction>) => {
    const f = compiledNow();
    const valid = f(...args);
    validate.errors = f.errors;
    return valid;
  }) as ValidateFunction;
  validate.errors = null;
  Object.defineProperty(validate, 'schemaEnv', { get: () => compiledNow().schemaEnv });
  return validate;
}

type SerializerBuilder = (externalSchemas: unknown, serializerOpts: unknown) => FastifySerializerCompiler<unknown>;

/** Fastify's `schemaController` option: `validatorCompiler` (which compiles on first use itself)
 *  for requests, Fastify's own serializers compiled on first use for responses. */
export function compilersOnFirstUse(validatorCompiler: FastifySchemaCompiler<unknown>): FastifyServerOptions['schemaController'] {
  // (Fastify's option types describe its default compilers' signatures, not the ones it calls)
  const compilersFactory = { buildValidator: () => validatorCompiler, buildSerializer: serializerBuilderOnFirstUse };
  return { compilersFactory } as unknown as FastifyServerOptions['schemaController'];
}

/** Fastify's `schemaController.compilersFactory.buildSerializer`: Fastify's own serializer
 *  compiler (@fastify/fast-json-stringify-compiler, with the same shared schemas and options),
 *  loaded and run for a response schema when a response first needs it. Without this Fastify
 *  loads fast-json-stringify (and its Ajv) when the app is created. */
const serializerBuilderOnFirstUse: SerializerBuilder = (externalSchemas, serializerOpts) => (routeSchema) => {
  let serialize: ((data: unknown) => string) | undefined;
  return (data: unknown) => {
    if (!serialize) {
      const selector = requireFromFastify('@fastify/fast-json-stringify-compiler') as () => SerializerBuilder;
      serialize = selector()(externalSchemas, serializerOpts)(routeSchema);
    }
    return serialize(data);
  };
};
