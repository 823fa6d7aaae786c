/**
 * `cshare files` and `cshare files --json` of a worktree no process holds, answered from the
 * status view before oclif, the commands and the store load, as `statusFast.ts` answers
 * `status`: the view holds the stat cache and what the replica shares (its live files, its
 * accepted rule files), which is all a listing needs. On a real repository of 38,500 files,
 * loading oclif, opening LevelDB and decoding the manifest were most of a `files --json`.
 * Unlike the command, it does not write back the stat entries of files changed since the last
 * scan (nor does `status`): they are read again until a scan records them. Anything else
 * (`--excluded`, `-C`, no usable view, a running share or join, an error) is left to the
 * command.
 */
import { homedir } from 'node:os';
import { scannedFileJson, type FilesList } from '../core/filesList.js';
import { formatFiles, type FilesColors } from '../cli/filesText.js';
import { NodeFs } from '../store/fs/NodeFs.js';
import { levelDir, storeLooksIntact } from '../store/layout.js';
import { answerEarly } from './earlyAnswer.js';

const plain: FilesColors = { dim: (x) => x, yellow: (x) => x, red: (x) => x, cyan: (x) => x };

/** Answers `args` if it is a plain `files` (or `files --json`) of an offline worktree; false to run the command. */
export function filesFast(args: readonly string[]): Promise<boolean> {
  return answerEarly(args, { command: 'files', answer: (root) => filesOffline(root, process.env), format: formatFiles, plain });
}

/**
 * What `listFiles` answers for the replica of `root`, found from its status view: the same
 * scan (`statusFromView` scans as the replica does). Undefined when there is no usable view.
 */
export async function filesOffline(root: string, env: NodeJS.ProcessEnv): Promise<FilesList | undefined> {
  // A damaged store is reported by opening it, not hidden behind the view.
  if (!storeLooksIntact(levelDir(root))) return undefined;
  const [{ statusFromView }, { readStatusViewKeyed }] = await Promise.all([import('../core/statusView.js'), import('../store/statusViewFile.js')]);
  const read = readStatusViewKeyed(root);
  if (!read) return undefined;
  const fs = new NodeFs(root);
  const { scan } = statusFromView(read.view, { fs, home: env.HOME ?? homedir(), env });
  return {
    root: fs.root,
    files: scan.files.map(scannedFileJson),
    nested: scan.nested,
    errors: scan.errors,
  };
}
