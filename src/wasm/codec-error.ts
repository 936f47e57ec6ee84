// What each codec ErrorCode means to a proxy: a stable name (for logs and metrics), a sentence
// for the client, and the status a request error is answered with. The codes themselves are in
// asm/shared/constants.ts; this table is typed as a Record over the enum, so adding a code there
// without describing it here fails to compile.
import { ErrorCode, HeadResult } from '../../asm/shared/constants.js';

export interface CodecErrorInfo {
  /** Stable identifier, `HPE_`-style like llhttp's. */
  name: string;
  /** Status for a request that fails this way (responses from upstream always become 502). */
  status: 400 | 413 | 414 | 431 | 501 | 505 | 500;
  message: string;
}

const E = (name: string, status: CodecErrorInfo['status'], message: string): CodecErrorInfo => ({ name, status, message });

export const CODEC_ERRORS: Readonly<Record<ErrorCode, CodecErrorInfo>> = Object.freeze({
  [ErrorCode.OK]: E('HPE_OK', 500, 'no error'),
  [ErrorCode.REQUEST_LINE_TOO_LONG]: E('HPE_REQUEST_LINE_TOO_LONG', 414, 'request-line too long'),
  [ErrorCode.FIELD_LINE_TOO_LONG]: E('HPE_FIELD_LINE_TOO_LONG', 431, 'header field line too long'),
  [ErrorCode.TOO_MANY_FIELDS]: E('HPE_TOO_MANY_FIELDS', 431, 'too many header fields'),
  [ErrorCode.HEAD_TOO_LARGE]: E('HPE_HEAD_TOO_LARGE', 431, 'request header section too large'),
  [ErrorCode.BARE_CR]: E('HPE_BARE_CR', 400, 'CR not followed by LF'),
  [ErrorCode.BARE_LF]: E('HPE_BARE_LF', 400, 'LF without CR'),
  [ErrorCode.INVALID_METHOD]: E('HPE_INVALID_METHOD', 400, 'invalid method'),
  [ErrorCode.INVALID_TARGET]: E('HPE_INVALID_TARGET', 400, 'invalid request-target'),
  [ErrorCode.INVALID_VERSION]: E('HPE_INVALID_VERSION', 400, 'invalid HTTP-version'),
  [ErrorCode.UNSUPPORTED_VERSION]: E('HPE_UNSUPPORTED_VERSION', 505, 'HTTP version not supported'),
  [ErrorCode.INVALID_REQUEST_LINE]: E('HPE_INVALID_REQUEST_LINE', 400, 'invalid request-line'),
  [ErrorCode.INVALID_FIELD_NAME]: E('HPE_INVALID_FIELD_NAME', 400, 'invalid header field name'),
  [ErrorCode.WHITESPACE_BEFORE_COLON]: E('HPE_WHITESPACE_BEFORE_COLON', 400, 'whitespace between header field name and colon'),
  [ErrorCode.OBS_FOLD]: E('HPE_OBS_FOLD', 400, 'obsolete line folding in a header field'),
  [ErrorCode.MISSING_COLON]: E('HPE_MISSING_COLON', 400, 'header field line without a colon'),
  [ErrorCode.NUL_IN_FIELD_VALUE]: E('HPE_NUL_IN_FIELD_VALUE', 400, 'NUL in a header field value'),
  [ErrorCode.CTL_IN_FIELD_VALUE]: E('HPE_CTL_IN_FIELD_VALUE', 400, 'control character in a header field value'),
  [ErrorCode.WHITESPACE_AFTER_START_LINE]: E('HPE_WHITESPACE_AFTER_START_LINE', 400, 'whitespace before the first header field'),
  [ErrorCode.INVALID_CONTENT_LENGTH]: E('HPE_INVALID_CONTENT_LENGTH', 400, 'invalid Content-Length'),
  [ErrorCode.CONTENT_LENGTH_OVERFLOW]: E('HPE_CONTENT_LENGTH_OVERFLOW', 400, 'Content-Length too large'),
  [ErrorCode.CONFLICTING_CONTENT_LENGTH]: E('HPE_CONFLICTING_CONTENT_LENGTH', 400, 'conflicting Content-Length values'),
  [ErrorCode.CHUNKED_NOT_FINAL]: E('HPE_CHUNKED_NOT_FINAL', 400, 'Transfer-Encoding does not end with chunked'),
  [ErrorCode.CHUNKED_REPEATED]: E('HPE_CHUNKED_REPEATED', 400, 'chunked applied more than once'),
  [ErrorCode.UNSUPPORTED_TRANSFER_CODING]: E('HPE_UNSUPPORTED_TRANSFER_CODING', 501, 'unsupported transfer coding'),
  [ErrorCode.INVALID_TRANSFER_ENCODING]: E('HPE_INVALID_TRANSFER_ENCODING', 400, 'invalid Transfer-Encoding'),
  [ErrorCode.CONTENT_LENGTH_AND_TRANSFER_ENCODING]: E('HPE_CL_AND_TE', 400, 'both Content-Length and Transfer-Encoding'),
  [ErrorCode.TRANSFER_ENCODING_IN_HTTP10]: E('HPE_TE_IN_HTTP10', 400, 'Transfer-Encoding in an HTTP/1.0 message'),
  [ErrorCode.MISSING_HOST]: E('HPE_MISSING_HOST', 400, 'HTTP/1.1 request without Host'),
  [ErrorCode.DUPLICATE_HOST]: E('HPE_DUPLICATE_HOST', 400, 'more than one Host field'),
  [ErrorCode.INVALID_HOST]: E('HPE_INVALID_HOST', 400, 'invalid Host'),
  [ErrorCode.INVALID_CONNECTION]: E('HPE_INVALID_CONNECTION', 400, 'invalid Connection'),
  [ErrorCode.INVALID_STATUS_LINE]: E('HPE_INVALID_STATUS_LINE', 500, 'invalid status-line'),
  [ErrorCode.INVALID_REASON]: E('HPE_INVALID_REASON', 500, 'invalid reason phrase'),
  [ErrorCode.INVALID_CHUNK_SIZE]: E('HPE_INVALID_CHUNK_SIZE', 400, 'invalid chunk size'),
  [ErrorCode.CHUNK_SIZE_OVERFLOW]: E('HPE_CHUNK_SIZE_OVERFLOW', 400, 'chunk size too large'),
  [ErrorCode.CHUNK_SIZE_LINE_TOO_LONG]: E('HPE_CHUNK_SIZE_LINE_TOO_LONG', 400, 'chunk-size line too long'),
  [ErrorCode.INVALID_CHUNK_EXTENSION]: E('HPE_INVALID_CHUNK_EXTENSION', 400, 'invalid chunk extension'),
  [ErrorCode.MISSING_CHUNK_CRLF]: E('HPE_MISSING_CHUNK_CRLF', 400, 'chunk data not followed by CRLF'),
  [ErrorCode.INVALID_TRAILER]: E('HPE_INVALID_TRAILER', 400, 'invalid trailer field'),
  [ErrorCode.TRAILERS_TOO_LARGE]: E('HPE_TRAILERS_TOO_LARGE', 431, 'trailer section too large'),
  [ErrorCode.BAD_CALL]: E('HPE_BAD_CALL', 500, 'codec called with an invalid slot or length'),
  [ErrorCode.CHUNKED_NOT_ACTIVE]: E('HPE_CHUNKED_NOT_ACTIVE', 500, 'chunked decoder not active'),
  [ErrorCode.EMPTY_START_LINE]: E('HPE_EMPTY_START_LINE', 400, 'empty line where the request-line belongs'),
  [ErrorCode.STATUS_LINE_TOO_LONG]: E('HPE_STATUS_LINE_TOO_LONG', 500, 'status-line too long'),
  [ErrorCode.UNDERSCORE_HOP_BY_HOP_NAME]: E('HPE_UNDERSCORE_HOP_BY_HOP_NAME', 400, 'a framing or hop-by-hop header field name with "_" for "-" (e.g. Content_Length), which a next hop may read as the real one'),
});

/** A head or chunked body the codec rejected. `code` is the asm ErrorCode. */
export class CodecError extends Error {
  readonly code: ErrorCode;
  readonly info: CodecErrorInfo;
  /** Offset of the offending byte from the start of the head (or chunked input). */
  readonly offset: number;

  constructor(code: ErrorCode, result?: Int32Array, base = 0) {
    const info = CODEC_ERRORS[code] ?? E('HPE_UNKNOWN', 500, `unknown codec error ${code}`);
    super(info.message);
    this.name = 'CodecError';
    this.code = code;
    this.info = info;
    this.offset = result ? base + result[HeadResult.ERROR_OFFSET] : base;
  }
}
