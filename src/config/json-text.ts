// JSON.parse for files people edit by hand: a syntax error names the line and column and says
// what was expected in plain words (V8's messages give an offset at best, and sometimes only
// "Unexpected token"). JSON.parse stays the judge; jsonc-parser, in strict mode, only locates,
// and is loaded only then: a valid file (every start) does not load it (issue 14, memory).
import { createRequire } from 'node:module';
import { type ParseError, ParseErrorCode } from 'jsonc-parser';

const requireHere = createRequire(import.meta.url);

const EXPECTED: Partial<Record<ParseErrorCode, string>> = {
  [ParseErrorCode.InvalidSymbol]: 'unexpected character (strings and names need double quotes; true, false and null are lower case)',
  [ParseErrorCode.InvalidNumberFormat]: 'invalid number',
  [ParseErrorCode.PropertyNameExpected]: 'expected a name in double quotes (is there a comma too many before this?)',
  [ParseErrorCode.ValueExpected]: 'expected a value (is there a comma too many, or a missing value?)',
  [ParseErrorCode.ColonExpected]: 'expected ":" after the name',
  [ParseErrorCode.CommaExpected]: 'expected "," between members',
  [ParseErrorCode.CloseBraceExpected]: 'expected "}" (an object is not closed)',
  [ParseErrorCode.CloseBracketExpected]: 'expected "]" (an array is not closed)',
  [ParseErrorCode.EndOfFileExpected]: 'unexpected text after the end of the document',
  [ParseErrorCode.InvalidCommentToken]: 'comments are not allowed in JSON',
  [ParseErrorCode.UnexpectedEndOfComment]: 'comments are not allowed in JSON',
  [ParseErrorCode.UnexpectedEndOfString]: 'a string is not closed (or holds a line break: write \\n)',
  [ParseErrorCode.UnexpectedEndOfNumber]: 'invalid number',
  [ParseErrorCode.InvalidUnicode]: 'invalid \\u escape',
  [ParseErrorCode.InvalidEscapeCharacter]: 'invalid escape (a backslash in a string must be written \\\\)',
  [ParseErrorCode.InvalidCharacter]: 'a control character in a string (write it as an escape)',
};

/** 1-based line and column of a character offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Parses JSON text; throws an Error "line L, column C: what was expected" on a syntax error. */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const errors: ParseError[] = [];
    const { parse: locate } = requireHere('jsonc-parser') as typeof import('jsonc-parser');
    locate(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    const first = errors[0];
    if (!first) throw new Error((e as Error).message, { cause: e });
    const { line, column } = lineAndColumn(text, first.offset);
    throw new Error(`line ${line}, column ${column}: ${EXPECTED[first.error] ?? (e as Error).message}`, { cause: e });
  }
}
