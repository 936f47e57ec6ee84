// A follower of GET /v1/changes that reconnects as an EventSource does: when the stream ends (the
// admin API went away) it opens it again after `retryMs`, with Last-Event-ID set to the id of the
// last event it received, for as long as it runs. Keeps every event with the connection it came on.
import { openSse, type SseEvent, type SseStream } from './sse-client.js';

export interface FeedConnection {
  /** performance.now() when the answer's head arrived, and when the stream ended. */
  openedAt: number;
  endedAt?: number;
  status: number;
  /** The Last-Event-ID it sent (undefined on the first). */
  lastEventId?: string;
}

export interface FollowedEvent extends SseEvent {
  /** Index into connections. */
  connection: number;
}

export class FeedFollower {
  readonly connections: FeedConnection[] = [];
  /** Failed attempts to open the stream (refused while the admin API restarts, non-200 answers). */
  failedOpens = 0;
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #retryMs: number;
  readonly #done: FollowedEvent[] = [];
  #current: SseStream | undefined;
  #running = true;
  #loop: Promise<void> | undefined;

  constructor(url: string, headers: Record<string, string>, retryMs: number) {
    this.#url = url;
    this.#headers = headers;
    this.#retryMs = retryMs;
  }

  start(): void {
    this.#loop = this.#run();
  }

  /** Every event so far, in the order received. */
  events(): FollowedEvent[] {
    const c = this.#current;
    const index = this.connections.length - 1;
    return c ? [...this.#done, ...c.events.map((e) => ({ ...e, connection: index }))] : [...this.#done];
  }

  count(): number {
    return this.#done.length + (this.#current?.events.length ?? 0);
  }

  /** Resolves once `test` holds for the events received (checked as they arrive), or after `ms`. */
  async until(test: (count: number) => boolean, ms: number): Promise<boolean> {
    const deadline = performance.now() + ms;
    while (!test(this.count())) {
      if (performance.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
    return true;
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#current?.close();
    await this.#loop;
  }

  #lastId(): string | undefined {
    for (let i = this.#done.length - 1; i >= 0; i--) if (this.#done[i].id !== undefined) return this.#done[i].id;
    return undefined;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const lastEventId = this.#lastId();
      let stream: SseStream;
      try {
        stream = await openSse(this.#url, { ...this.#headers, ...(lastEventId !== undefined ? { 'last-event-id': lastEventId } : {}) });
      } catch {
        this.failedOpens++;
        await new Promise((r) => setTimeout(r, this.#retryMs));
        continue;
      }
      if (stream.status !== 200) {
        this.failedOpens++;
        stream.close();
        await new Promise((r) => setTimeout(r, this.#retryMs));
        continue;
      }
      const conn: FeedConnection = { openedAt: performance.now(), status: stream.status, ...(lastEventId !== undefined ? { lastEventId } : {}) };
      this.connections.push(conn);
      this.#current = stream;
      await stream.ended;
      conn.endedAt = performance.now();
      const index = this.connections.length - 1;
      this.#done.push(...stream.events.map((e) => ({ ...e, connection: index })));
      this.#current = undefined;
      if (this.#running) await new Promise((r) => setTimeout(r, this.#retryMs));
    }
  }
}
