// What the dispatcher hands back for a request; the front end carries it out in its protocol.
import type net from 'node:net';
import type { LocalAnswer } from '../http/local-answer.js';
import type { RelayPlan } from './relay-plan.js';

/** Answer locally (no route, bad target, redirect, a forward-proxy denial...). */
export interface LocalDecision {
  readonly kind: 'local';
  readonly answer: LocalAnswer;
}

/** CONNECT established: answer 200 and splice the client to this socket. */
export interface TunnelDecision {
  readonly kind: 'tunnel';
  readonly socket: net.Socket;
}

/** Not known yet (the forward proxy resolves a name or opens a CONNECT socket): the front end
 *  holds the request (its body stays unread) until the decision settles. It never rejects. */
export interface PendingDecision {
  readonly kind: 'pending';
  readonly decided: Promise<Decision>;
}

export type Decision = LocalDecision | RelayPlan | TunnelDecision | PendingDecision;

export const local = (answer: LocalAnswer): LocalDecision => ({ kind: 'local', answer });
