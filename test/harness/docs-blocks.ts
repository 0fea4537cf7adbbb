// The shell commands the docs show, and what the docs test does with each. Every fenced block in
// a shell language (sh, bash, shell, console) in README.md and docs/*.md carries, on the line
// right before its fence, one marker:
//
//   <!-- docs-test: host -->                  run on this machine, from a scratch directory that
//                                             sees the repository's files (test/docs-commands.test.ts);
//                                             `host exits N`: the last command's exit code is N
//   <!-- docs-test: node -->                  run on the test Kubernetes node, file by file, in
//                                             order (e2e/docs.test.ts)
//   <!-- docs-test: production (why) -->      needs a production cluster; not run
//   <!-- docs-test: covered-by <file> -->     <file>, a test or CI script, runs the same thing
//   <!-- docs-test: manual (why) -->          a maintainer's step that changes the checkout or
//                                             its caches (re-pinning versions, a forced rebuild)
//
// A block without a marker, or with another, is an error: a command nobody runs is a command that
// can be wrong.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type DocsTestMode = 'host' | 'node' | 'production' | 'covered-by' | 'manual';

export interface DocBlock {
  /** Relative to the repository root, such as docs/install.md. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  mode: DocsTestMode | undefined;
  /** production: the reason; covered-by: the file. */
  detail: string;
  text: string;
}

const SHELL_LANGS = new Set(['sh', 'bash', 'shell', 'console']);
const MARKER = /^<!--\s*docs-test:\s*(host|node|production|covered-by|manual)\b\s*(.*?)\s*-->\s*$/;

/** README.md, then docs/*.md in name order. */
export function docFiles(root: string): string[] {
  return ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
}

/** The shell blocks of one Markdown text. */
export function shellBlocks(file: string, markdown: string): DocBlock[] {
  const lines = markdown.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(```+|~~~+)\s*([A-Za-z0-9_-]*)/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[2]!;
    let end = i + 1;
    while (end < lines.length && !lines[end]!.trimStart().startsWith(fence)) end++;
    const lang = open[3]!.toLowerCase();
    if (SHELL_LANGS.has(lang)) {
      const marker = MARKER.exec((lines[i - 1] ?? '').trim());
      const detail = marker?.[2]?.replace(/^\((.*)\)$/, '$1') ?? '';
      blocks.push({ file, line: i + 1, lang, mode: marker?.[1] as DocsTestMode | undefined, detail, text: lines.slice(i + 1, end).join('\n') });
    }
    i = end;
  }
  return blocks;
}

export function allShellBlocks(root: string): DocBlock[] {
  return docFiles(root).flatMap((f) => shellBlocks(f, readFileSync(join(root, f), 'utf8')));
}

/** Problems with the markers: a block without one, a production block without a reason, a covered-by without a file. */
export function markerProblems(blocks: readonly DocBlock[], exists: (file: string) => boolean): string[] {
  const problems: string[] = [];
  for (const b of blocks) {
    const at = `${b.file}:${b.line}`;
    if (!b.mode) problems.push(`${at}: a ${b.lang} block without a <!-- docs-test: host|node|production (why)|covered-by <file>|manual (why) --> marker on the line before it`);
    else if ((b.mode === 'host' || b.mode === 'node') && b.detail !== '' && expectedExit(b) === undefined) problems.push(`${at}: docs-test: ${b.mode} takes nothing after it but "exits N"`);
    else if ((b.mode === 'production' || b.mode === 'manual') && b.detail === '') problems.push(`${at}: docs-test: ${b.mode} needs a reason in parentheses`);
    else if (b.mode === 'covered-by' && !exists(b.detail)) problems.push(`${at}: docs-test: covered-by names ${JSON.stringify(b.detail)}, which does not exist`);
  }
  return problems;
}

/** The exit code a host or node block ends with: 0, or N of `exits N`; undefined when the detail says something else. */
export function expectedExit(b: DocBlock): number | undefined {
  if (b.detail === '') return 0;
  const m = /^exits (\d{1,3})$/.exec(b.detail);
  return m ? Number(m[1]) : undefined;
}

/** The commands of a `console` block are its lines starting with `$ ` (the rest is output); other blocks are scripts as they are. */
export function blockScript(b: DocBlock): string {
  if (b.lang !== 'console') return b.text;
  return b.text
    .split('\n')
    .filter((l) => l.startsWith('$ '))
    .map((l) => l.slice(2))
    .join('\n');
}
