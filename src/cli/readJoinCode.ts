import { readFileSync } from 'node:fs';
import { CshareError } from '../core/errors.js';

/** Longest input taken as a join code (a code is at most ~12,000 characters). */
const MAX_CODE_INPUT = 64 * 1024;

/**
 * Where `cshare join` takes its code from. On the command line it shows in `ps` and in the
 * shell's history for anyone on the machine, so it can also come from stdin (`join -`) or a
 * file (`--code-file F`, which works with a pipe such as `<(pass show app)`). With a code file,
 * the one positional argument is the folder.
 */
export async function readJoinCode(opts: { code?: string; dir?: string; codeFile?: string; stdin?: NodeJS.ReadableStream }): Promise<{ code: string; dir?: string }> {
  if (opts.codeFile !== undefined) {
    if (opts.code !== undefined && opts.dir !== undefined) throw new CshareError('USAGE', 'with --code-file, give at most one argument: the folder to join into');
    let text: string;
    try {
      text = readFileSync(opts.codeFile, 'utf8');
    } catch (err) {
      throw new CshareError('USAGE', `cannot read the join code from ${opts.codeFile}: ${(err as Error).message}`, { path: opts.codeFile }, { cause: err });
    }
    return { code: firstLine(text, opts.codeFile), dir: opts.dir ?? opts.code };
  }
  if (opts.code === undefined) throw new CshareError('USAGE', 'missing <CODE>, the join code printed by cshare share: cshare join <CODE> [DIR], or - to read it from stdin, or --code-file <file>; see cshare join --help');
  if (opts.code !== '-') return { code: opts.code, dir: opts.dir };
  return { code: firstLine(await readLine(opts.stdin ?? process.stdin), 'stdin'), dir: opts.dir };
}

/** The first non-empty line of `text`, trimmed. */
function firstLine(text: string, from: string): string {
  const line = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '');
  if (line === undefined) throw new CshareError('USAGE', `no join code in ${from}`);
  return line;
}

/** Reads `input` up to its first non-empty line (or its end), then stops reading it. */
async function readLine(input: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of input) {
    text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    if (/\S[^\n]*\n/.test(text)) break;
    if (text.length > MAX_CODE_INPUT) throw new CshareError('USAGE', 'stdin holds no join code in its first 64 KiB');
  }
  // A terminal or a pipe left open must not keep the process alive once the code is read.
  (input as NodeJS.ReadStream).pause?.();
  return text;
}
