// A shared route store (etcd) as the `portico` command sees it: opened before the proxy listens,
// then followed for every change (admin/stores/etcd-store.ts implements it).
import type { DataPlane } from '../../src/contract/data-plane.js';
import type { RouteSpec } from '../../src/routing/route-spec.js';

/** A shared route store (etcd), opened before the proxy listens so the proxy starts with the
 *  store's routes; it then keeps the proxy's table in step with the store. */
export interface RouteSource {
  /** The routes to start with and the store revision they are at. */
  readonly initial: { revision: number; routes: RouteSpec[] };
  /** A line for the operator about how the routes were loaded (e.g. from the local cache). */
  readonly notice?: string;
  /** Applies the initial table at its revision and starts following the store (before listen);
   *  every later table goes through `plane.apply` (with workers: to each of them, in order). */
  attach(plane: DataPlane): void;
  close(): Promise<void>;
}
