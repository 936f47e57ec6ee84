// Restart policy for a worker that died: the first death is replaced at once (a kill -9 must not
// cost a second of capacity); a worker that keeps dying early is a crash loop and waits
// exponentially longer (0.25 s, 0.5 s, 1 s ... 30 s) instead of spinning the CPU on forks.

/** A worker that served this long before dying was not crash-looping. */
export const STABLE_MS = 10_000;
export const FIRST_DELAY_MS = 250;
export const MAX_DELAY_MS = 30_000;

/** Delay before the next start, after `crashes` early deaths in a row (1 = the first). */
export function restartDelayMs(crashes: number): number {
  return crashes <= 1 ? 0 : Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (crashes - 2));
}
