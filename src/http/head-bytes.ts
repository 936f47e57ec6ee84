// Assembles an outgoing head in one allocation: a start section (request- or status-line, maybe
// Host), the field lines kept from the received head (slices of its raw bytes), a tail section
// (framing, Connection, Via, forwarding fields, the blank line) and, for a small response whose
// whole body arrived with its head, that body: one Buffer, so one socket write (write(2)) instead
// of a writev of several pieces, and no intermediate Buffers (issue 14: heads built into one
// buffer, writes gathered). `start` and `tail` are latin1: one byte per character.
export function assembleHead(start: string, fields: readonly Buffer[], tail: string, body?: Buffer): Buffer {
  let size = start.length + tail.length + (body?.length ?? 0);
  for (const f of fields) size += f.length;
  // allocUnsafe: small heads come from Node's shared pool; every byte is written below
  const out = Buffer.allocUnsafe(size);
  let at = out.write(start, 0, 'latin1');
  for (const f of fields) at += f.copy(out, at);
  at += out.write(tail, at, 'latin1');
  if (body !== undefined) body.copy(out, at);
  return out;
}
