/**
 * A control socket for the end-to-end tests, opened only when the extension host's environment
 * has `CSHARE_VSCODE_TEST_SOCKET` (code-server passes its own environment on). One JSON request
 * a line, `{id, op, ...}`, one JSON answer a line, `{id, result}` or `{id, error}`. It reads
 * what the extension holds (documents, versions, peers, the decorations drawn) and acts as
 * another extension would through VS Code's API (edits, selections, saves, commands), so a test
 * checks the extension from the inside while the browser drives it from the outside.
 */
import { createServer } from 'node:net';
import { rmSync } from 'node:fs';
import * as vscode from 'vscode';
import type { CshareApi } from './extension.js';

type Request = { id: number; op: string; path?: string; from?: number; to?: number; text?: string; anchor?: vscode.Position; head?: vscode.Position; command?: string; args?: unknown[] };

/** Serves the test socket at `socketPath` until disposed. */
export function startTestHook(socketPath: string, api: CshareApi, log: (m: string) => void): vscode.Disposable {
  rmSync(socketPath, { force: true });
  const server = createServer((sock) => {
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const req = JSON.parse(line) as Request;
        handle(req, api).then(
          (result) => sock.write(`${JSON.stringify({ id: req.id, result: result ?? null })}\n`),
          (e: Error) => sock.write(`${JSON.stringify({ id: req.id, error: e.message })}\n`),
        );
      }
    });
    sock.on('error', (e) => log(`test hook: ${e.message}`));
  });
  server.listen(socketPath);
  log(`test hook on ${socketPath}`);
  return { dispose: () => server.close() };
}

/** The document of `path` in the first folder (opened if it is not). */
async function docOf(api: CshareApi, path: string): Promise<vscode.TextDocument> {
  const folder = api.sessions[0]?.folder ?? vscode.workspace.workspaceFolders?.[0]?.uri;
  if (!folder) throw new Error('no folder');
  return vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder, ...path.split('/')));
}

async function handle(req: Request, api: CshareApi): Promise<unknown> {
  switch (req.op) {
    case 'state':
      return {
        following: api.following() ?? null,
        sessions: api.sessions.map((s) => ({
          folder: s.folder.fsPath,
          connected: s.connected,
          connections: s.connectionsOpen,
          via: s.via ?? null,
          info: s.info ?? null,
          status: s.status ?? null,
          peers: s.peers,
          docs: [...s.docs.values()].map((d) => ({ path: d.path, version: d.sync?.version ?? null, unsent: d.sync?.hasUnsent ?? null, applying: d.sync?.isApplying ?? null, docVersion: d.doc.version, text: d.doc.getText(), dirty: d.doc.isDirty })),
        })),
        decorations: Object.fromEntries(api.decorations.shown),
        visible: vscode.window.visibleTextEditors.map((e) => e.document.uri.fsPath),
      };
    case 'log':
      return api.log();
    case 'timings':
      return api.sessions[0]?.timings ?? null;
    case 'text':
      return (await docOf(api, req.path!)).getText();
    case 'open': {
      const editor = await vscode.window.showTextDocument(await docOf(api, req.path!), { preview: false });
      return editor.document.version;
    }
    case 'edit': {
      // An edit through VS Code's API (as another extension makes one): UTF-16 offsets.
      const doc = await docOf(api, req.path!);
      const edit = new vscode.WorkspaceEdit();
      edit.replace(doc.uri, new vscode.Range(doc.positionAt(req.from!), doc.positionAt(req.to!)), req.text ?? '');
      return vscode.workspace.applyEdit(edit);
    }
    case 'select': {
      const doc = await docOf(api, req.path!);
      const editor = await vscode.window.showTextDocument(doc, { preview: false });
      const a = new vscode.Position(req.anchor!.line, req.anchor!.character);
      const h = new vscode.Position(req.head!.line, req.head!.character);
      editor.selection = new vscode.Selection(a, h);
      return true;
    }
    case 'save':
      return (await docOf(api, req.path!)).save();
    case 'command':
      return vscode.commands.executeCommand(req.command!, ...(req.args ?? []));
    case 'connect':
      await api.connect();
      return api.sessions.map((s) => s.connected);
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}
