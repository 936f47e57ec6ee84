// Copies a head's field lines as received (name case, order, duplicates and value bytes kept)
// by slicing the raw head: runs of consecutive kept lines become one subarray, so a typical
// request is forwarded as two or three slices, without decoding a single field to a string.
import type { ParsedHead } from './parsed-head.js';
import { type FieldMask, has } from '../http/hop-by-hop.js';

/** Pushes to `out` the raw field lines of `head` whose id is not in `drop` and which are not
 *  named by a Connection option. Returns the number of bytes pushed. */
export function copyFields(head: ParsedHead, drop: FieldMask, out: Buffer[]): number {
  const raw = head.raw;
  let runStart = -1;
  let runEnd = -1;
  let bytes = 0;
  for (let i = 0; i < head.fieldCount; i++) {
    const keep = !has(drop, head.fieldId(i)) && !head.isConnectionListed(i);
    if (keep) {
      if (runStart < 0) runStart = head.nameStart(i);
      runEnd = head.lineEnd(i);
    } else if (runStart >= 0) {
      out.push(raw.subarray(runStart, runEnd));
      bytes += runEnd - runStart;
      runStart = -1;
    }
  }
  if (runStart >= 0) {
    out.push(raw.subarray(runStart, runEnd));
    bytes += runEnd - runStart;
  }
  return bytes;
}
