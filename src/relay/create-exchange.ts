// The exchange for a relay plan: HTTP/1.1 on the origin's pool, or HTTP/2 when the route asks
// for it (`upstreamProtocol`, docs/http2.md). Every front end starts its exchanges here.
import type { ProxyContext } from '../dispatch/context.js';
import type { RelayPlan } from '../dispatch/relay-plan.js';
import type { ResponseSink } from './response-sink.js';
import type { UpstreamExchange } from './upstream-exchange.js';
import { Exchange } from './exchange.js';
import { H2Exchange } from './h2-exchange.js';

export function createExchange(ctx: ProxyContext, plan: RelayPlan, sink: ResponseSink): UpstreamExchange {
  const protocol = plan.route?.upstreamProtocol;
  return protocol === 'h2' || protocol === 'h2c' ? new H2Exchange(ctx, plan, sink) : new Exchange(ctx, plan, sink);
}
