// Reads llhttp-style Markdown fixture files: each case is a heading followed by an optional
// `<!-- meta={...} -->` comment, an `http` code block (the input) and a result block (`log` in
// llhttp's files, `log` in ours too). The input is decoded with llhttp's own rules (test/md-test.ts
// in nodejs/llhttp): lines are joined with CRLF, a trailing `\` joins a line with the next, and
// `\r`, `\n`, `\t`, `\f`, `\xHH`, `\NNN` (octal) and `${js}` are expanded (see decodeInput for
// the two differences in our own fixtures).
import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';

export interface MdCase {
  /** `file#heading`, with `#2`, `#3`... appended to repeated headings. */
  id: string;
  file: string;
  /** Headings from the file's top down to this case. */
  path: string[];
  name: string;
  line: number;
  meta: Record<string, unknown>;
  input: Buffer;
  /** The raw `log` block lines (`${js}` not yet expanded). */
  log: string[];
  /** Free text between the heading and the blocks. */
  note: string;
}

/** Replaces every `${js}` (braces balanced, so `${Array.from({ length: 3 }, f)}` works). */
function replaceJs(s: string, f: (value: string) => string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const a = s.indexOf('${', i);
    if (a < 0) return out + s.slice(i);
    let depth = 1;
    let j = a + 2;
    for (; j < s.length && depth > 0; j++) {
      if (s[j] === '{') depth++;
      else if (s[j] === '}') depth--;
    }
    out += s.slice(i, a) + f(String(runInNewContext(s.slice(a + 2, j - 1))));
    i = j;
  }
}

/** Expands `${js}` in a line of an expected log. */
export function expandJs(s: string): string {
  return replaceJs(s, (v) => v);
}

/**
 * Decodes an `http` block. `utf8`: llhttp's rules exactly (its runner hands the string to its test
 * binary as UTF-8, so `\xff` and `ü` become two bytes; `${js}` is evaluated last). `latin1` (our
 * fixtures): `\xHH` is exactly byte HH, and `${js}` is evaluated first with its value inserted
 * verbatim (write CRLF inside it as the JS escapes `\r\n`).
 */
export function decodeInput(lines: string[], encoding: 'utf8' | 'latin1' = 'utf8'): Buffer {
  let input = lines.join('\n');
  const verbatim: string[] = [];
  if (encoding === 'latin1') input = replaceJs(input, (v) => `\u0001JS${verbatim.push(v) - 1}\u0001`);
  input = input.replace(/\\(\r\n|\r|\n)/g, '');
  input = input.replace(/\r\n|\r|\n/g, '\r\n');
  input = input.replace(/\\r/g, '\r');
  input = input.replace(/\\n/g, '\n');
  input = input.replace(/\\t/g, '\t');
  input = input.replace(/\\f/g, '\f');
  // llhttp takes every hex digit after \x; our fixtures take exactly two (`\x0bchunked`)
  const hexEscape = encoding === 'latin1' ? /\\x([0-9a-fA-F]{2})/g : /\\x([0-9a-fA-F]+)/g;
  input = input.replace(hexEscape, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  input = input.replace(/\\([0-7]{1,3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  // eslint-disable-next-line no-control-regex -- U+0001 is the placeholder written above around verbatim escapes
  if (encoding === 'latin1') input = input.replace(/\u0001JS(\d+)\u0001/g, (_, n: string) => verbatim[Number(n)]);
  else input = expandJs(input);
  return Buffer.from(input, encoding);
}

export function parseMarkdown(file: string, label = file, encoding: 'utf8' | 'latin1' = 'utf8'): MdCase[] {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const cases: MdCase[] = [];
  const headings: string[] = [];
  const seen = new Map<string, number>();
  let meta: Record<string, unknown> = {};
  let note: string[] = [];
  let current: MdCase | undefined;
  let headingLine = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const h = /^(#+)\s+(.*)$/.exec(line);
    if (h) {
      const depth = h[1].length;
      headings.length = depth - 1;
      headings[depth - 1] = h[2].trim();
      meta = {};
      note = [];
      current = undefined;
      headingLine = i + 1;
      continue;
    }
    const m = /^<!--\s*meta=(\{.*\})\s*-->\s*$/.exec(line);
    if (m) {
      meta = JSON.parse(m[1]) as Record<string, unknown>;
      continue;
    }
    const fence = /^```(\w*)\s*$/.exec(line);
    if (fence) {
      const lang = fence[1];
      const body: string[] = [];
      i++;
      while (i < lines.length && !/^```\s*$/.test(lines[i])) body.push(lines[i++]);
      if (lang === 'http') {
        const name = headings.filter(Boolean).at(-1) ?? `line ${i}`;
        let id = `${label}#${name}`;
        const n = (seen.get(id) ?? 0) + 1;
        seen.set(id, n);
        if (n > 1) id += `#${n}`;
        current = {
          id, file: label, path: headings.filter(Boolean), name, line: headingLine, meta,
          input: decodeInput(body, encoding), log: [], note: note.join('\n').trim(),
        };
        cases.push(current);
      } else if (lang === 'log' && current) {
        current.log = body.filter((l) => l.trim() !== '');
      }
      continue;
    }
    if (!current) note.push(line);
  }
  return cases;
}
