/**
 * The cshare extension: connects every workspace folder to the `cshare share`/`join` serving
 * it (through `cshare editor`), shows peers and the connection, and has the commands Share
 * this folder, Join from code…, Follow peer and Stop. See README.md.
 */
import * as vscode from 'vscode';
import { runCli, startCli, type CliProcess } from './cli.js';
import { PeerDecorations } from './decorations.js';
import { statusText, type Peer } from './peers.js';
import { Session } from './session.js';
import { startTestHook } from './testHook.js';

/** What `activate` returns (the extension's API, for other extensions and the tests). */
export interface CshareApi {
  readonly sessions: readonly Session[];
  readonly decorations: PeerDecorations;
  /** The peer being followed, if any. */
  following(): string | undefined;
  /** Connects the folders now (instead of at the next retry). */
  connect(): Promise<void>;
  /** The last lines of the extension's log (also in the *cshare* output channel). */
  log(): readonly string[];
}

/** How often a folder nothing serves is tried again (a share may start there any time). */
const RETRY_MS = 3000;

export function activate(context: vscode.ExtensionContext): CshareApi {
  const output = vscode.window.createOutputChannel('cshare');
  /** The last lines of the log, for the test socket (the output channel cannot be read back). */
  const recent: string[] = [];
  const log = (m: string) => {
    const line = `${new Date().toISOString()} ${m}`;
    output.appendLine(line);
    recent.push(line);
    if (recent.length > 500) recent.shift();
  };
  const error = (m: string) => {
    log(`error: ${m}`);
    void vscode.window.showErrorMessage(m.startsWith('cshare') ? m : `cshare: ${m}`);
  };
  const command = () => vscode.workspace.getConfiguration('cshare').get<string>('path') || 'cshare';
  const statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 100);
  const decorations = new PeerDecorations();
  const sessions: Session[] = [];
  /** The share or join this window started (Stop ends it). */
  let owned: { proc: CliProcess; folder: vscode.Uri } | undefined;
  let following: string | undefined;
  let followedAt = '';
  let retry: NodeJS.Timeout | undefined;

  const sessionOf = (doc: vscode.TextDocument) => {
    for (const s of sessions) {
      const path = s.pathOf(doc);
      if (path) return { session: s, path };
    }
    return undefined;
  };

  const refresh = () => {
    const live = sessions.filter((s) => s.connected);
    if (live.length === 0) {
      statusItem.text = statusText(undefined);
      statusItem.tooltip = 'cshare: this folder is not shared (cshare: Share this folder, or cshare: Join from code…)';
      statusItem.command = 'cshare.share';
    } else {
      const s = live[0]!;
      statusItem.text = statusText(s.status ? { ...s.status, peers: s.peers.length } : undefined);
      statusItem.tooltip = [`cshare ${s.info?.role} of ${s.info?.root} as ${s.info?.name}`, ...s.peers.map((p) => `${p.name} (${p.role ?? 'peer'})${p.path ? ` in ${p.path}` : ''}`)].join('\n');
      statusItem.command = 'cshare.followPeer';
    }
    statusItem.show();
    decorations.update((doc) => {
      const at = sessionOf(doc);
      return at && at.session.connected ? { path: at.path, peers: at.session.peers } : undefined;
    });
    if (following) void follow();
  };

  /** Brings the followed peer's document and cursor into view when they moved. */
  const follow = async () => {
    for (const s of sessions) {
      const p = s.peers.find((x) => x.id === following);
      if (!p) continue;
      // The daemon sends a peer's selections only for documents this editor has open: the
      // peer's file is opened first, its cursor is revealed when it comes.
      const head = p.selections?.[0]?.head;
      if (!p.path) return;
      const at = `${p.path}:${head ? `${head.line}:${head.character}` : ''}`;
      if (at === followedAt) return;
      followedAt = at;
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(s.folder, ...p.path.split('/')));
      const editor = await vscode.window.showTextDocument(doc, { preview: false, preserveFocus: false });
      if (head) {
        const pos = new vscode.Position(head.line, head.character);
        editor.revealRange(new vscode.Range(pos, pos), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
      }
      return;
    }
    // The peer left.
    following = undefined;
    followedAt = '';
  };

  const connect = async () => {
    if (retry) clearTimeout(retry);
    retry = undefined;
    for (const f of vscode.workspace.workspaceFolders ?? []) {
      if (!sessions.some((s) => s.folder.toString() === f.uri.toString())) {
        sessions.push(new Session(f.uri, command, { changed: refresh, error, log }));
      }
    }
    await Promise.all(sessions.map((s) => s.connect()));
    refresh();
    if (sessions.some((s) => !s.connected)) retry = setTimeout(() => void connect(), RETRY_MS);
  };

  const folderOrAsk = async (): Promise<vscode.Uri | undefined> => {
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (folders.length === 1) return folders[0]!.uri;
    if (folders.length === 0) {
      void vscode.window.showWarningMessage('cshare: open a folder to share first');
      return undefined;
    }
    return (await vscode.window.showWorkspaceFolderPick({ placeHolder: 'Folder to share' }))?.uri;
  };

  /** Keeps `proc` as this window's share/join: its failure is shown, its end disconnects. */
  const own = (proc: CliProcess, folder: vscode.Uri) => {
    owned = { proc, folder };
    void proc.ended.then((r) => {
      if (owned?.proc === proc) owned = undefined;
      if (r.message) error(r.message);
      for (const s of sessions) if (s.folder.toString() === folder.toString()) s.disconnect();
      void connect();
    });
  };

  context.subscriptions.push(
    output,
    statusItem,
    decorations,
    { dispose: () => retry && clearTimeout(retry) },
    { dispose: () => sessions.forEach((s) => s.dispose()) },
    vscode.window.onDidChangeVisibleTextEditors(refresh),
    vscode.workspace.onDidChangeWorkspaceFolders(() => void connect()),
    vscode.commands.registerCommand('cshare.share', async (extraArgs?: string[]) => {
      const folder = await folderOrAsk();
      if (!folder) return undefined;
      const args = ['share', ...(extraArgs ?? vscode.workspace.getConfiguration('cshare').get<string[]>('shareArgs') ?? [])];
      try {
        const { proc, line } = await startCli({ command: command(), args, cwd: folder.fsPath, ready: (l) => l.event === 'sharing', onLine: (l) => l.event === 'error' && log(`share: ${String(l.message)}`) });
        own(proc, folder);
        const codes = line.codes as { readWrite: string; readOnly: string };
        await connect();
        void vscode.window.showInformationMessage(`cshare: sharing ${folder.fsPath}. Join code: ${codes.readWrite}`, 'Copy join code', 'Copy read-only code').then((pick) => {
          if (pick) void vscode.env.clipboard.writeText(pick === 'Copy join code' ? codes.readWrite : codes.readOnly);
        });
        return codes;
      } catch (e) {
        error((e as Error).message);
        return undefined;
      }
    }),
    vscode.commands.registerCommand('cshare.join', async (code?: string, dir?: string) => {
      const joinCode = code ?? (await vscode.window.showInputBox({ prompt: 'cshare join code', placeHolder: 'the code `cshare share` printed', ignoreFocusOut: true }));
      if (!joinCode) return undefined;
      let target = dir;
      if (!target) {
        const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Join into this folder', title: 'cshare: folder to join into (empty or new)' });
        target = picked?.[0]?.fsPath;
      }
      if (!target) return undefined;
      try {
        // Detached: the window then opens the folder, which restarts this extension host.
        const { proc } = await startCli({ command: command(), args: ['join', joinCode.trim(), target], cwd: target.replace(/[/\\][^/\\]*$/, '') || '/', ready: (l) => l.event === 'joined', detached: true });
        own(proc, vscode.Uri.file(target));
        const open = (vscode.workspace.workspaceFolders ?? []).some((f) => f.uri.fsPath === target);
        if (open) await connect();
        else await vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(target), { forceNewWindow: false });
        return target;
      } catch (e) {
        error((e as Error).message);
        return undefined;
      }
    }),
    vscode.commands.registerCommand('cshare.followPeer', async (peerId?: string) => {
      const peers: Peer[] = sessions.flatMap((s) => s.peers);
      if (peerId === undefined) {
        const items = [...peers.map((p) => ({ label: p.name, description: p.path ?? '(no file open)', id: p.id as string | undefined })), ...(following ? [{ label: 'Stop following', description: '', id: undefined }] : [])];
        if (items.length === 0) {
          void vscode.window.showInformationMessage('cshare: no peer is here');
          return undefined;
        }
        const pick = await vscode.window.showQuickPick(items, { placeHolder: 'Follow which peer?' });
        if (!pick) return following;
        peerId = pick.id ?? '';
      }
      following = peerId || undefined;
      followedAt = '';
      refresh();
      return following;
    }),
    vscode.commands.registerCommand('cshare.stop', async () => {
      following = undefined;
      if (owned) {
        const { proc } = owned;
        proc.stop();
        await proc.ended;
        return;
      }
      // A share/join started elsewhere (a terminal): `cshare unshare` stops it.
      const folder = sessions.find((s) => s.connected)?.folder;
      if (!folder) return;
      const r = await runCli({ command: command(), args: ['unshare'], cwd: folder.fsPath });
      if (r.message) error(r.message);
    }),
  );

  // A share or join starting in a folder announces itself in .cshare/: connect at once.
  for (const f of vscode.workspace.workspaceFolders ?? []) {
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(f, '.cshare/*'));
    watcher.onDidCreate(() => void connect());
    context.subscriptions.push(watcher);
  }

  const api: CshareApi = { sessions, decorations, following: () => following, connect, log: () => recent };
  if (process.env.CSHARE_VSCODE_TEST_SOCKET) context.subscriptions.push(startTestHook(process.env.CSHARE_VSCODE_TEST_SOCKET, api, log));
  void connect();
  return api;
}

export function deactivate(): void {
  // Everything is in the context's subscriptions.
}
