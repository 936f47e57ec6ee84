// The last line of defence on every entry point from outside into a connection or an exchange
// (socket events, timers, promise callbacks): a bug must cost that one connection, never the
// process (an uncaught exception would end every connection at once). One helper, so the entry
// points read as what they do, not as a dozen try/catch blocks.

/** Something that can be torn down when a step it took threw. */
export interface Guarded {
  /** Called with what a guarded step threw: log it and end this owner only. */
  internalError(e: unknown): void;
}

/** Runs `step` as a method of `owner`; what it throws goes to owner.internalError. `step` is a
 *  method of the owner (or a function written for it), so a call allocates nothing. */
export function guard<O extends Guarded>(owner: O, step: (this: O) => void): void;
export function guard<O extends Guarded, A>(owner: O, step: (this: O, arg: A) => void, arg: A): void;
export function guard<O extends Guarded, A>(owner: O, step: (this: O, arg?: A) => void, arg?: A): void {
  try {
    step.call(owner, arg);
  } catch (e) {
    owner.internalError(e);
  }
}
