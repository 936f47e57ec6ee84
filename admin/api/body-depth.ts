// A bound on how deeply an admin JSON body may nest. Routes and configs nest a few levels; code
// that walks a body recursively (merge patch, schema validation, canonical JSON for ETags,
// structuredClone) would otherwise overflow the stack on a body like 10,000 nested objects
// and answer 500. Checked once per body, without recursion, before anything else reads it.
import type { FastifyInstance } from 'fastify';
import { AdminProblem } from '../protocol/problem.js';

/** Deepest nesting of objects/arrays an admin body may have (a config document needs ~6). */
export const MAX_BODY_DEPTH = 32;

/** True when `value` nests objects or arrays more than `max` levels deep. */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) return true;
    for (const child of Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

export function installBodyDepthLimit(app: FastifyInstance, max = MAX_BODY_DEPTH): void {
  app.addHook('preValidation', async (request) => {
    if (request.body !== undefined && nestsDeeperThan(request.body, max)) {
      throw new AdminProblem(400, 'bad-request', `the body is nested deeper than ${max} levels`, { in: 'body', pointer: '' });
    }
  });
}
