// One request on its way through the dispatcher, whichever front end received it: its id, when
// its head was complete, which route and upstream took it, and whether the front end gave up on
// it. The access-log line and the metrics record are written from it when it ends
// (Dispatcher#finish).
import type { RequestHead } from '../http/request-head.js';
import type { ClientPeer } from './client-peer.js';
import type { ClientProtocol } from './observer.js';

export class RequestEntry {
  readonly id: string;
  readonly started: number;
  readonly head: RequestHead;
  readonly peer: ClientPeer;
  readonly protocol: ClientProtocol;
  /** The route that matched ('forward' for the forward proxy), undefined when none did. */
  routeId: string | undefined = undefined;
  /** The upstream authority the request was relayed to (the last try's). */
  upstream: string | undefined = undefined;
  /** Tries that failed and were retried, as `authority reason` (made on the first retry). */
  retried: string[] | undefined = undefined;
  /** The front end gave up on the request (client gone, connection torn down): pending work
   *  (the forward proxy resolving a name, say) stops, and nothing more is written. */
  closed = false;

  constructor(id: string, started: number, head: RequestHead, peer: ClientPeer, protocol: ClientProtocol) {
    this.id = id;
    this.started = started;
    this.head = head;
    this.peer = peer;
    this.protocol = protocol;
  }
}
