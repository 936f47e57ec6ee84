// The layout's rules, checked on the import statements of src/, admin/ and bench/ (parsed with the
// TypeScript compiler, so comments and strings do not count):
// - no import cycle between folders (a folder is the directory of a file): a cycle means two
//   folders are one concept split in two, or one of them depends on a detail of the other;
// - src/ (the data plane) never imports admin/ (the control plane and composition root);
// - the WebAssembly codec is reached only through its binding: `WebAssembly` appears in src/wasm/ only.
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '..');
const SCANNED = ['src', 'admin', 'bench'];

/** Files outside src/wasm/ that may name `WebAssembly`, each with its reason. */
const WEBASSEMBLY_ELSEWHERE: Record<string, string> = {
  // not Portico's module: undici's llhttp build, the parser the codec is measured against
  'bench/codec.ts': 'drives llhttp\'s WebAssembly build as undici does',
};

interface SourceFacts { imports: string[]; namesWebAssembly: boolean }

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = `${dir}/${name}`;
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...tsFiles(rel));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** The repository files a module imports (relative specifiers only; packages are not folders here),
 *  type-only imports and re-exports included: they tie the folders together just the same. */
function facts(file: string): SourceFacts {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const specifiers: string[] = [];
  let namesWebAssembly = false;
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      specifiers.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteralLike(node.arguments[0])) {
      specifiers.push(node.arguments[0].text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      specifiers.push(node.argument.literal.text);
    } else if (ts.isIdentifier(node) && node.text === 'WebAssembly') {
      namesWebAssembly = true;
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  const imports = specifiers
    .filter((s) => s.startsWith('.'))
    .map((s) => relative(ROOT, resolve(ROOT, dirname(file), s.replace(/\.js$/, '.ts'))));
  return { imports, namesWebAssembly };
}

const files = new Map(SCANNED.flatMap(tsFiles).map((f) => [f, facts(f)]));

/** Folder -> folder -> the file imports that make the edge ("a.ts -> b.ts"). */
function folderGraph(): Map<string, Map<string, string[]>> {
  const graph = new Map<string, Map<string, string[]>>();
  for (const [file, { imports }] of files) {
    const from = dirname(file);
    for (const target of imports) {
      const to = dirname(target);
      if (to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string[]>();
      graph.set(from, edges);
      edges.set(to, [...(edges.get(to) ?? []), `${file} -> ${target}`]);
    }
  }
  return graph;
}

/** Strongly connected components of more than one folder (Tarjan). */
function cycles(graph: Map<string, Map<string, string[]>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const connect = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) connect(v);
  return found;
}

describe('architecture', () => {
  it('scans the source (the parser finds imports)', () => {
    expect(files.size).toBeGreaterThan(100);
    expect(files.get('admin/cli/portico.ts')?.imports.length).toBeGreaterThan(0);
  });

  it('has no import cycle between folders', () => {
    const graph = folderGraph();
    const explained = cycles(graph).map((component) => ({
      folders: component,
      imports: component.flatMap((from) => component.flatMap((to) => graph.get(from)?.get(to) ?? [])),
    }));
    expect(explained).toEqual([]);
  });

  it('src/ never imports admin/', () => {
    const wrong = [...files].filter(([f]) => f.startsWith('src/')).flatMap(([f, { imports }]) => imports.filter((i) => i.startsWith('admin/')).map((i) => `${f} -> ${i}`));
    expect(wrong).toEqual([]);
  });

  it('names WebAssembly only in src/wasm/', () => {
    const wrong = [...files].filter(([f, { namesWebAssembly }]) => namesWebAssembly && !f.startsWith('src/wasm/') && !(f in WEBASSEMBLY_ELSEWHERE)).map(([f]) => f);
    expect(wrong).toEqual([]);
    for (const f of Object.keys(WEBASSEMBLY_ELSEWHERE)) expect(files.get(f)?.namesWebAssembly, `${f} no longer names WebAssembly: remove its exception`).toBe(true);
  });
});
