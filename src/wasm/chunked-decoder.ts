// Decodes one chunked body after another for a connection, through the codec's slot state.
// Each read is copied into linear memory once; the decoder answers with spans into that read,
// and the sink gets subarrays of the caller's own Buffer (no copy out of linear memory).
import { ChunkResult, SpanKind } from '../../asm/shared/constants.js';
import type { Codec } from './codec.js';
import { CodecError } from './codec-error.js';

export interface ChunkSink {
  /** Decoded body bytes (a view of the caller's buffer, valid until the caller reuses it). */
  data(bytes: Buffer): void;
  /** Raw, validated trailer field lines (CRLFs included), possibly in several pieces. */
  trailer(bytes: Buffer): void;
}

export class ChunkedDecoder {
  readonly #codec: Codec;
  readonly #slot: number;
  #active = false;
  done = false;

  constructor(codec: Codec, slot: number) {
    this.#codec = codec;
    this.#slot = slot;
  }

  begin(): void {
    this.#codec.exports.beginChunked(this.#slot);
    this.#active = true;
    this.done = false;
  }

  /**
   * Decodes buf[start, end) into `sink`. Returns the bytes consumed: all of them, or up to the
   * end of the chunked body when it ends inside this read (`done` is then true and the rest
   * belongs to the next message). Throws CodecError on invalid framing, after handing the sink
   * the data (and trailer bytes) before the offending byte; `offset` is that byte's offset from
   * `start`.
   */
  decode(buf: Buffer, start: number, end: number, sink: ChunkSink): number {
    if (!this.#active) throw new Error('portico: chunked decoder not begun');
    const c = this.#codec;
    let pos = start;
    while (pos < end) {
      const len = c.copyIn(buf, pos, end);
      const n = c.exports.chunked(this.#slot, len);
      // on an error too: the spans before the offending byte are delivered first, so what the
      // sink sees before a CodecError does not depend on how the body was split into reads
      const spans = c.spans;
      const count = c.result[ChunkResult.SPAN_COUNT];
      for (let i = 0; i < count * 3; i += 3) {
        const s = pos + spans[i + 1];
        const bytes = buf.subarray(s, s + spans[i + 2]);
        if (spans[i] === SpanKind.DATA) sink.data(bytes);
        else sink.trailer(bytes);
      }
      if (n < 0) {
        this.#active = false;
        // CodecError.offset: the offending byte, from `start`
        throw new CodecError(-n, c.result, pos - start);
      }
      pos += n;
      if (c.result[ChunkResult.DONE] === 1) {
        this.done = true;
        this.#active = false;
        break;
      }
      if (n === 0 && len > 0) throw new Error('portico: chunked decoder made no progress');
    }
    return pos - start;
  }
}
