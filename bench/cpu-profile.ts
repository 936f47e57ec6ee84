// `npm run bench -- --profile`: what a V8 .cpuprofile (node --cpu-prof) says about where Portico's CPU
// goes: self time per function (top N) and per category (WebAssembly, Node's net/stream internals,
// timers, GC, our code...). Self time of a function is the time sampled while it was the innermost
// frame; the categories partition the whole profile, so they add up to 100%.
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Share {
  name: string;
  ms: number;
  /** Share of the profile's non-idle time, 0..1. */
  share: number;
}

export interface ProfileSummary {
  /** Sampled time with something running (not "(idle)"), ms. */
  busyMs: number;
  /** Sampled time the event loop waited for I/O, ms. */
  idleMs: number;
  categories: Share[];
  functions: Share[];
}

/** The category of a frame, by its script URL (our code is whatever is under dist/src or dist/admin). */
/** The C++ side of a socket write or read (StreamBase): its self time includes the system call. */
const SOCKET_NATIVES = new Set(['writeBuffer', 'writev', 'writeUtf8String', 'writeLatin1String', 'writeAsciiString', 'readStart', 'readStop', 'shutdown', 'close', 'setNoDelay']);

export function category(f: CallFrame): string {
  const { functionName: fn, url } = f;
  if (fn === '(garbage collector)') return 'GC';
  if (url === '' && SOCKET_NATIVES.has(fn)) return 'socket writes/reads (C++ and kernel)';
  if (/^node:internal\/(modules|bootstrap|deps\/cjs-module-lexer)|^node:(fs|path)$/.test(url) || fn === 'compileFunction' || fn === 'compileForInternalLoader') {
    return 'start-up (module loading, fs)';
  }
  if (url.includes('/node_modules/')) return 'dependencies (ajv, pino... mostly start-up)';
  if (fn === '(program)') return 'V8/native (program)';
  if (fn === '(idle)') return 'idle';
  if (url.startsWith('wasm://') || /\.wasm$/.test(url) || (url === '' && /^\$?wasm-function|^\$/.test(fn))) return 'wasm';
  if (/^node:(internal\/)?timers/.test(url)) return 'timers';
  if (/^node:(internal\/)?(net|stream|streams\/|stream_base_commons|dgram|tcp_wrap)/.test(url) || url.startsWith('node:internal/streams/')) {
    return 'node:net/stream';
  }
  if (/^node:(internal\/)?(events|process\/task_queues|async_hooks|process\/)/.test(url)) return 'node:events/ticks';
  if (/^node:(internal\/)?buffer/.test(url)) return 'node:buffer';
  if (url.startsWith('node:')) return 'node: other';
  if (/\/dist\/(src|admin)\//.test(url)) return 'portico (JS)';
  if (url === '') return 'native (V8 builtins, C++)';
  return 'other JS';
}

function frameName(f: CallFrame): string {
  const where = f.url ? `${f.url.replace(/^.*\/node_modules\//, '').replace(/^.*\/dist\//, 'dist/').replace(/^file:\/\//, '')}:${f.lineNumber + 1}` : '';
  return `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
}

function shares(m: Map<string, number>, busyMs: number, top: number): Share[] {
  return [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, ms]) => ({ name, ms, share: busyMs > 0 ? ms / busyMs : 0 }));
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const byFunction = new Map<string, number>();
  const byCategory = new Map<string, number>();
  let busyMs = 0;
  let idleMs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const f = byId.get(p.samples[i]);
    // timeDeltas[i] is the time since the previous sample: attribute it to this sample's frame.
    const ms = (p.timeDeltas[i] ?? 0) / 1000;
    if (!f || ms <= 0) continue;
    const cat = category(f);
    if (cat === 'idle') {
      idleMs += ms;
      continue;
    }
    busyMs += ms;
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + ms);
    const name = frameName(f);
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
  }
  return { busyMs, idleMs, categories: shares(byCategory, busyMs, Infinity), functions: shares(byFunction, busyMs, top) };
}

/** Markdown: the categories, then the top functions by self time. */
export function profileMarkdown(title: string, s: ProfileSummary): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const L = [`#### ${title}`, '', `Busy ${s.busyMs.toFixed(0)} ms sampled (idle ${s.idleMs.toFixed(0)} ms not counted).`, ''];
  L.push('| category | self ms | share |', '|---|---:|---:|');
  for (const c of s.categories) L.push(`| ${c.name} | ${c.ms.toFixed(0)} | ${pct(c.share)} |`);
  L.push('', '| function (self time) | self ms | share |', '|---|---:|---:|');
  for (const f of s.functions) L.push(`| \`${f.name.replace(/\|/g, '\\|')}\` | ${f.ms.toFixed(0)} | ${pct(f.share)} |`);
  L.push('');
  return L.join('\n');
}
