// Configuration error messages: the schema error a person needs to see, and JSON syntax errors
// with line and column.
import { describe, it, expect } from 'vitest';
import { resolveConfig } from '../../src/config/config.js';
import { parseJsonText } from '../../src/config/json-text.js';
import { configValidatorSource, generatedFile } from '../../src/config/generate-validator.js';
import { readFileSync } from 'node:fs';

const message = (raw: unknown) => {
  try {
    resolveConfig(raw);
  } catch (e) {
    return (e as Error).message;
  }
  return 'valid';
};

describe('configuration error messages', () => {
  it('name the deepest failing setting, in words', () => {
    expect(message({ admin: true })).toBe('/admin must be false or an object');
    expect(message({ admin: { token: 'x' } })).toBe('/admin/token is too short (at least 16 characters)');
    expect(message({ routes: [{ id: 'a', pathPrefix: '/', upstreams: ['http://'] }] })).toBe('/routes/0/upstreams/0 is too short (at least 8 characters)');
    expect(message({ routes: [{ id: 'a', pathPrefix: '/', upstreams: [{ url: 'http://127.0.0.1:1', weight: 0 }] }] })).toBe('/routes/0/upstreams/0/weight must be >= 1');
  });

  it('fill in the admin defaults also when only some admin settings are given', () => {
    // (a oneOf of false and an object kept Ajv from filling them in: no listen at all)
    expect(resolveConfig({ admin: { token: 'x'.repeat(16) } }).admin).toEqual({
      listen: '127.0.0.1:9090', token: 'x'.repeat(16), tokens: [], metricsAuth: true, failedAuth: { burst: 10, refillMs: 6000, delayMs: 1000 },
    });
    expect(resolveConfig({ admin: false }).admin).toBe(false);
    expect(message({ admin: 'yes' })).toBe('/admin must be false or an object');
  });

  it('suggest the key that was probably meant, without a doubled slash', () => {
    expect(message({ logLevl: 'info' })).toBe('/logLevl is not a known setting (did you mean "logLevel"?)');
    expect(message({ Listen: '127.0.0.1:1' })).toBe('/Listen is not a known setting (did you mean "listen"?)');
    expect(message({ admin: { listn: '127.0.0.1:1' } })).toBe('/admin/listn is not a known setting (did you mean "listen"?)');
    expect(message({ zzzzzzzz: 1 })).toMatch(/^\/zzzzzzzz is not a known setting \(known here: listen, listeners, admin, /);
  });

  it('give JSON syntax errors a line and column', () => {
    expect(() => parseJsonText('{\n  "a": 1,\n}')).toThrow('line 3, column 1: expected a name in double quotes');
    expect(() => parseJsonText('{\n  "a" 1\n}')).toThrow('line 2, column 7: expected ":" after the name');
    expect(() => parseJsonText('{ "a": 1 // note\n}')).toThrow('line 1, column 10: comments are not allowed in JSON');
    expect(() => parseJsonText('')).toThrow('line 1, column 1: expected a value');
    expect(parseJsonText('{"a":[1,2]}')).toEqual({ a: [1, 2] });
  });

  it('come from a validator generated from the current schema (run npm run gen:config-validator after editing schema.ts)', () => {
    expect(readFileSync(generatedFile(), 'utf8') === configValidatorSource(), 'src/config/config-validator.generated.ts is stale: npm run gen:config-validator').toBe(true);
  });
});
