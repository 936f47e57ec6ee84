// The session ticket keys of one process or one cluster (src/tls/ticket-keys.ts): made here at
// start, handed to the data plane (this process's proxy, or every worker through the primary's
// state), and rotated every sessionTickets.keyRotationMs (the previous key still decrypts for
// one more period). A fleet on etcd shares its keys through the store instead
// (admin/stores/etcd-ticket-keys.ts).
import type { Logger } from 'pino';
import { newTicketKeySet, rotateTicketKeys, rotationDue, type TicketKeySet } from '../../src/tls/ticket-keys.js';

/** Where the keys go: DataPlane.setTicketKeys. */
export type ApplyTicketKeys = (set: TicketKeySet) => Promise<void>;

/** Something that keeps the data plane's ticket keys current until closed. */
export interface TicketKeySource {
  /** Resolves once the data plane has its first keys (before it listens). */
  start(): Promise<void>;
  close(): Promise<void>;
}

export class LocalTicketKeys implements TicketKeySource {
  #set: TicketKeySet | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(readonly rotateMs: number, readonly apply: ApplyTicketKeys, readonly logger: Logger) {}

  async start(): Promise<void> {
    this.#set = newTicketKeySet();
    await this.apply(this.#set);
    this.#schedule();
  }

  current(): TicketKeySet | undefined {
    return this.#set;
  }

  #schedule(): void {
    if (this.#closed || !this.#set) return;
    this.#timer = setTimeout(() => {
      this.#set = rotateTicketKeys(this.#set!);
      this.apply(this.#set).catch((e: Error) => this.logger.error({ err: e.message }, 'TLS session ticket keys: rotation not applied everywhere'));
      this.#schedule();
    }, Math.max(0, rotationDue(this.#set, this.rotateMs) - Date.now()));
    this.#timer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
  }
}
