// Constants shared by the AssemblyScript codec (asm/) and its TypeScript binding (src/wasm/).
// Both compilers read this one file, so it holds only plain enums of integers: no imports, no
// strings, nothing either compiler would treat differently. Values are APPEND-ONLY: a code, once
// published, is never renumbered or reused (llhttp's `ERROR` enum follows the same rule).

/** Why a head or a chunked body was rejected. A codec function returns the negated code. */
export enum ErrorCode {
  OK = 0,
  /** The request-line is longer than the line limit (Twisted: LineReceiver.MAX_LENGTH). Answer 414. */
  REQUEST_LINE_TOO_LONG = 1,
  /** A field line is longer than the line limit. Answer 431 (RFC 6585 §5). */
  FIELD_LINE_TOO_LONG = 2,
  /** More field lines than the field-count limit (Twisted: HTTPChannel.maxHeaders). Answer 431. */
  TOO_MANY_FIELDS = 3,
  /** Start-line plus field lines (CRLFs not counted) exceed the head-size limit
   *  (Twisted: HTTPChannel.totalHeadersSize). Answer 431. */
  HEAD_TOO_LARGE = 4,
  /** A CR not followed by LF (RFC 9112 §2.2; CVE-2023-30589). */
  BARE_CR = 5,
  /** An LF not preceded by CR (RFC 9112 §2.2; CVE-2022-32214). Strict: rejected, never a line end. */
  BARE_LF = 6,
  /** The method is empty or not a token (RFC 9112 §3.1, RFC 9110 §9.1). */
  INVALID_METHOD = 7,
  /** The request-target is empty, has a CTL, SP or non-ASCII byte, or has no recognised form
   *  (RFC 9112 §3.2). */
  INVALID_TARGET = 8,
  /** The HTTP-version is not `HTTP/DIGIT.DIGIT` (RFC 9112 §2.3; the name is case-sensitive). */
  INVALID_VERSION = 9,
  /** A well-formed HTTP-version other than 1.0/1.1 (e.g. HTTP/2.0). Answer 505 (RFC 9110 §15.6.6). */
  UNSUPPORTED_VERSION = 10,
  /** The request-line is not `method SP request-target SP HTTP-version` (single SP separators). */
  INVALID_REQUEST_LINE = 11,
  /** A field name is empty or contains a non-token byte (RFC 9110 §5.1). */
  INVALID_FIELD_NAME = 12,
  /** Whitespace between a field name and the colon (RFC 9112 §5.1: MUST reject with 400). */
  WHITESPACE_BEFORE_COLON = 13,
  /** A field line starting with SP/HTAB: obs-fold (RFC 9112 §5.2), rejected rather than unfolded. */
  OBS_FOLD = 14,
  /** A field line without a colon (RFC 9112 §5). */
  MISSING_COLON = 15,
  /** NUL in a field value (RFC 9110 §5.5: reject or replace; we reject). */
  NUL_IN_FIELD_VALUE = 16,
  /** A CTL other than HTAB in a field value (RFC 9110 §5.5). */
  CTL_IN_FIELD_VALUE = 17,
  /** Whitespace between the start-line and the first field line (RFC 9112 §2.2). */
  WHITESPACE_AFTER_START_LINE = 18,
  /** Content-Length is not 1*DIGIT (or a list of them), e.g. `-1`, `+5`, `0x5`, `1 0`, empty. */
  INVALID_CONTENT_LENGTH = 19,
  /** Content-Length above 2^53-1. */
  CONTENT_LENGTH_OVERFLOW = 20,
  /** Content-Length values (repeated fields or list members) that differ (RFC 9112 §6.3(5)). */
  CONFLICTING_CONTENT_LENGTH = 21,
  /** Transfer-Encoding whose final coding is not `chunked` in a request (RFC 9112 §6.3(3)): 400. */
  CHUNKED_NOT_FINAL = 22,
  /** `chunked` applied more than once (RFC 9112 §6.1). */
  CHUNKED_REPEATED = 23,
  /** A transfer coding the proxy does not implement before `chunked` (RFC 9112 §6.1): 501. */
  UNSUPPORTED_TRANSFER_CODING = 24,
  /** Transfer-Encoding value that is not a list of tokens (e.g. quoted, empty). */
  INVALID_TRANSFER_ENCODING = 25,
  /** Both Content-Length and Transfer-Encoding (RFC 9112 §6.1: smuggling shape; reject and close). */
  CONTENT_LENGTH_AND_TRANSFER_ENCODING = 26,
  /** Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1: treat framing as faulty). */
  TRANSFER_ENCODING_IN_HTTP10 = 27,
  /** HTTP/1.1 request without Host (RFC 9112 §3.2: MUST respond 400). */
  MISSING_HOST = 28,
  /** More than one Host field line (RFC 9112 §3.2). */
  DUPLICATE_HOST = 29,
  /** A Host value that is not `uri-host [ ":" port ]` (RFC 9112 §3.2). */
  INVALID_HOST = 30,
  /** A Connection value that is not a comma list of tokens (RFC 9110 §7.6.1). */
  INVALID_CONNECTION = 31,
  /** A status-line that is not `HTTP/1.x SP 3DIGIT [SP reason]` (RFC 9112 §4). */
  INVALID_STATUS_LINE = 32,
  /** A CTL in the reason phrase (RFC 9112 §4). */
  INVALID_REASON = 33,
  /** A chunk-size that is empty or not 1*HEXDIG (`0x5`, `-5`, ` 5`) (RFC 9112 §7.1). */
  INVALID_CHUNK_SIZE = 34,
  /** A chunk-size with more than 16 significant hex digits or above 2^53-1. */
  CHUNK_SIZE_OVERFLOW = 35,
  /** A chunk-size line (extensions included, CRLF excluded) of the size-line limit or more
   *  (Twisted: maxChunkSizeLineLength; CVE-2024-22019). */
  CHUNK_SIZE_LINE_TOO_LONG = 36,
  /** A chunk extension that does not follow RFC 9112 §7.1.1. */
  INVALID_CHUNK_EXTENSION = 37,
  /** Chunk data not followed by CRLF (RFC 9112 §7.1). */
  MISSING_CHUNK_CRLF = 38,
  /** A trailer line that is not a valid field line (RFC 9112 §7.1.2). */
  INVALID_TRAILER = 39,
  /** The trailer section exceeds the trailer limit (Twisted: _maxTrailerHeadersSize). */
  TRAILERS_TOO_LARGE = 40,
  /** A slot index outside the slot table, or a length beyond the input region. Binding bug. */
  BAD_CALL = 41,
  /** A chunked-decoder call after the last chunk, or before chunkedBegin. Binding bug. */
  CHUNKED_NOT_ACTIVE = 42,
  /** An empty line where the start-line should be (more than one leading CRLF). */
  EMPTY_START_LINE = 43,
  /** The status-line is longer than the line limit (responses only). */
  STATUS_LINE_TOO_LONG = 44,
  /** A request field name that is a framing or hop-by-hop field name with `_` for `-`
   *  (Content_Length, Transfer_Encoding, Keep_Alive, Proxy_Connection, Proxy_Authorization,
   *  Proxy_Authenticate). A next hop that maps `_` to `-` (CGI, WSGI, PHP, some gateways) would
   *  frame or route by it, and a lenient hop in front may already have: answer 400 and close. */
  UNDERSCORE_HOP_BY_HOP_NAME = 45,
}

/** Ids of the fields a proxy acts on, written in the low byte of each field entry's `idFlags`. */
export enum FieldId {
  OTHER = 0,
  HOST = 1,
  CONTENT_LENGTH = 2,
  TRANSFER_ENCODING = 3,
  CONNECTION = 4,
  KEEP_ALIVE = 5,
  PROXY_CONNECTION = 6,
  TE = 7,
  TRAILER = 8,
  UPGRADE = 9,
  EXPECT = 10,
  PROXY_AUTHORIZATION = 11,
  PROXY_AUTHENTICATE = 12,
  VIA = 13,
  FORWARDED = 14,
  X_FORWARDED_FOR = 15,
  X_FORWARDED_PROTO = 16,
  X_FORWARDED_HOST = 17,
  X_FORWARDED_PORT = 18,
  /** Any other `X-Forwarded-*` field. */
  X_FORWARDED_OTHER = 19,
}

/** Bits above the id byte in a field entry's `idFlags`. */
export enum FieldFlag {
  /** The field's name is listed in a Connection option of this message (RFC 9110 §7.6.1). */
  CONNECTION_LISTED = 0x100,
}

/** Bits of the head result's FLAGS word. */
export enum HeadFlag {
  /** A Connection option `close` (any field, any case). */
  CONNECTION_CLOSE = 0x1,
  /** A Connection option `keep-alive`. */
  CONNECTION_KEEP_ALIVE = 0x2,
  /** A Connection option `upgrade`. */
  CONNECTION_UPGRADE = 0x4,
  /** `Expect: 100-continue` (case-insensitive). */
  EXPECT_CONTINUE = 0x8,
  /** An Expect value other than 100-continue. */
  EXPECT_OTHER = 0x10,
  /** A Content-Length field was present (value in the CONTENT_LENGTH result). */
  HAS_CONTENT_LENGTH = 0x20,
  /** A Transfer-Encoding field was present. */
  HAS_TRANSFER_ENCODING = 0x40,
  /** The final transfer coding is chunked. */
  CHUNKED = 0x80,
  /** An Upgrade field was present. */
  HAS_UPGRADE = 0x100,
  /** Some field is listed in Connection (see FieldFlag.CONNECTION_LISTED). */
  HAS_CONNECTION_LISTED = 0x200,
  /** A Transfer-Encoding of a response has codings other than chunked. */
  TE_OTHER_CODINGS = 0x400,
  /** A Trailer field was present. */
  HAS_TRAILER = 0x800,
}

/** How the message body is delimited (RFC 9112 §6.3). */
export enum BodyKind {
  NONE = 0,
  LENGTH = 1,
  CHUNKED = 2,
  /** Response only: the body runs until the connection closes. */
  CLOSE_DELIMITED = 3,
}

/** Well-known methods, so JS can branch without building the method string. */
export enum MethodId {
  OTHER = 0,
  GET = 1,
  HEAD = 2,
  POST = 3,
  PUT = 4,
  DELETE = 5,
  CONNECT = 6,
  OPTIONS = 7,
  TRACE = 8,
  PATCH = 9,
}

/** The request-target form (RFC 9112 §3.2). */
export enum TargetForm {
  NONE = 0,
  ORIGIN = 1,
  ABSOLUTE = 2,
  AUTHORITY = 3,
  ASTERISK = 4,
}

/** Indices (in i32 units) of the head result table. */
export enum HeadResult {
  HEAD_LENGTH = 0,
  METHOD_START = 1,
  METHOD_LENGTH = 2,
  TARGET_START = 3,
  TARGET_LENGTH = 4,
  /** 10 for HTTP/1.0, 11 for HTTP/1.1. */
  VERSION = 5,
  STATUS = 6,
  REASON_START = 7,
  REASON_LENGTH = 8,
  FLAGS = 9,
  FIELD_COUNT = 10,
  /** Index of the Host field entry, or -1. */
  HOST_INDEX = 11,
  HOST_COUNT = 12,
  BODY_KIND = 13,
  /** An f64 at i32 index 14 (byte offset 56): the Content-Length value. */
  CONTENT_LENGTH = 14,
  /** Byte offset in the input where the error was detected. */
  ERROR_OFFSET = 16,
  METHOD_ID = 17,
  TARGET_FORM = 18,
  /** Number of i32 words in the head result table. */
  SIZE = 32,
}

/** Each field entry is FieldEntry.SIZE i32 words in the fields region. */
export enum FieldEntry {
  NAME_START = 0,
  NAME_LENGTH = 1,
  VALUE_START = 2,
  VALUE_LENGTH = 3,
  /** Offset just past the field line's CRLF. */
  LINE_END = 4,
  /** FieldId in the low byte, FieldFlag bits above. */
  ID_FLAGS = 5,
  SIZE = 6,
}

/** Indices (in i32 units) of the chunked decoder's result table (shares the head result region). */
export enum ChunkResult {
  SPAN_COUNT = 20,
  /** 1 when the last chunk and trailer section were consumed. */
  DONE = 21,
}

/** Kinds of span written by the chunked decoder (SpanEntry.SIZE i32 words each). */
export enum SpanKind {
  DATA = 1,
  /** Raw bytes of validated trailer field lines, CRLFs included. */
  TRAILER = 2,
}

export enum SpanEntry {
  KIND = 0,
  START = 1,
  LENGTH = 2,
  SIZE = 3,
}

/** Which head the scanner is reading, for its limit error codes. */
export enum HeadKind {
  REQUEST = 0,
  RESPONSE = 1,
}

/** Capacities of the fixed memory regions. The binding checks its limits against them. */
export enum Capacity {
  /** Bytes copied into the input region per call. A complete head must fit. */
  INPUT = 65536,
  /** Field entries per head: the field-count limit may not exceed it. */
  FIELDS = 2048,
  /** Spans per chunked-decoder call; the decoder stops early when full. */
  SPANS = 4096,
  /** Parser state slots (one per client connection and per upstream connection). */
  SLOTS = 65536,
  /** Bytes per slot. */
  SLOT_BYTES = 64,
}

/** Default limits: Twisted's numbers (LineReceiver.MAX_LENGTH, HTTPChannel.totalHeadersSize and
 *  maxHeaders, maxChunkSizeLineLength, _maxTrailerHeadersSize in
 *  https://github.com/twisted/twisted/blob/trunk/src/twisted/web/http.py). */
export enum DefaultLimit {
  LINE = 16384,
  FIELDS = 500,
  HEAD = 16384,
  CHUNK_SIZE_LINE = 1024,
  TRAILER = 65536,
}
