// The fields of a head that arrived as name/value strings (an HTTP/2 header list, from
// node:http2), with what the request and response head interfaces ask of them: values by name or
// FieldId, the forwarded fields as HTTP/1.1 field lines (copyFields) or one by one
// (forEachField). Names are lower-case (RFC 9113 §8.2.1); ids come from ./field-ids.ts.
import type { FieldMask } from './hop-by-hop.js';

/** [lower-case name, value, FieldId]. */
export type Field = readonly [string, string, number];

export class FieldList {
  readonly fields: readonly Field[];

  constructor(fields: readonly Field[]) {
    this.fields = fields;
  }

  values(name: string): string[] {
    const lower = name.toLowerCase();
    const out: string[] = [];
    for (const f of this.fields) if (f[0] === lower) out.push(f[1]);
    return out;
  }

  valuesById(id: number): string[] {
    const out: string[] = [];
    for (const f of this.fields) if (f[2] === id) out.push(f[1]);
    return out;
  }

  /** `Name: value\r\n` lines of the fields whose id is not in `drop`, as one Buffer pushed to
   *  `out`; returns its length. */
  copyFields(drop: FieldMask, out: Buffer[]): number {
    let text = '';
    for (const [name, value, id] of this.fields) if ((drop & (1 << id)) === 0) text += `${name}: ${value}\r\n`;
    if (text === '') return 0;
    // latin1: node:http2 hands field values over as one-byte strings of the bytes received
    const b = Buffer.from(text, 'latin1');
    out.push(b);
    return b.length;
  }

  forEachField(drop: FieldMask, visit: (name: string, value: string) => void): void {
    for (const [name, value, id] of this.fields) if ((drop & (1 << id)) === 0) visit(name, value);
  }
}
