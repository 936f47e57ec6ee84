// PLACEHOLDER until the forward proxy lands: refuses every forward request.
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { ForwardHandler } from '../proxy/channel-context.js';

export interface ForwardDeps {
  config: Config;
  logger: Logger;
}

export function createForwardHandler(_deps: ForwardDeps): ForwardHandler {
  return {
    handle(req) {
      req.respond(501, 'the forward proxy is not implemented yet', 'PRX_FORWARD_UNAVAILABLE');
    },
  };
}
