import { connect, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { CshareError } from '../core/errors.js';
import { logger } from '../core/log.js';
import { editorSocketPath } from '../editor/server.js';
import { readAnnouncement } from '../store/announce.js';
import { findWorktreeRoot } from '../store/layout.js';

const log = logger('editor');

/** Options of {@link bridgeEditor}. */
export interface BridgeOptions {
  /** Where the command runs (`-C`, else the current folder): the worktree is found from it. */
  cwd: string;
  input: Readable;
  output: Writable;
}

/**
 * `cshare editor`: connects to the editor socket of the `share`/`join` running in the worktree
 * of `cwd` and pipes bytes both ways, as they are (the LSP framing passes through untouched).
 * Resolves when either side closes; `NOT_SHARING` when nothing serves editors there.
 */
export async function bridgeEditor(opts: BridgeOptions): Promise<void> {
  const root = findWorktreeRoot(opts.cwd);
  const path = readAnnouncement(root)?.editor ?? editorSocketPath(root);
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => resolve(s));
    s.once('error', (err: NodeJS.ErrnoException) => {
      log('cannot reach %s: %s', path, err.message);
      reject(new CshareError('NOT_SHARING', `no cshare share or join serves editors in ${root}: start one there (cshare share, or cshare join <code> ${root}), then open the editor again`, { root, socket: path }));
    });
  });
  const { input, output } = opts;
  await new Promise<void>((resolve) => {
    let done = false;
    const finish = (why: string) => {
      if (done) return;
      done = true;
      log('editor bridge ends: %s', why);
      input.unpipe(socket);
      socket.destroy();
      resolve();
    };
    input.pipe(socket);
    socket.pipe(output);
    // The editor closed our stdin: the daemon closes its side once it has read everything.
    input.once('end', () => socket.end());
    socket.once('close', () => finish('the cshare process closed the connection'));
    socket.once('error', (err) => finish(`socket error: ${err.message}`));
    output.once('error', (err) => finish(`cannot write to the editor: ${err.message}`));
  });
}
