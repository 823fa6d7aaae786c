/**
 * The extension's way to the daemon (editors/vscode/src/link.ts), without an editor: the editor
 * socket the running process announces in the folder when there is one, and `cshare editor`
 * (the real one) when there is not.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bridgeLink, socketLink } from '../../editors/vscode/src/link.js';
import { BIN } from '../helpers/cli.js';
import { until } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A Unix socket server at `path` that keeps what it receives, and its connections. */
async function listen(path: string): Promise<{ got: () => string; conns: Socket[] }> {
  let got = '';
  const conns: Socket[] = [];
  const server = createServer((c) => {
    conns.push(c);
    c.on('data', (d: Buffer) => (got += d.toString()));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { got: () => got, conns };
}

describe('the VS Code extension reaches the daemon', () => {
  it('through the editor socket the announcement in .cshare/ names: bytes arrive there, and the link ends when the daemon closes it', async () => {
    const folder = tempDir('cshare-vscode-link-');
    const path = join(folder, '.cshare', 'editor.sock');
    writeTree(folder, { '.cshare/control.path': `${JSON.stringify({ socket: join(folder, '.cshare', 'control.sock'), pid: process.pid, command: 'share', editor: path })}\n` });
    const server = await listen(path);
    const logs: string[] = [];
    const link = await socketLink(folder, (m) => logs.push(m));
    expect(link?.via).toBe('socket');
    link!.out.write('Content-Length: 2\r\n\r\n{}');
    await until(() => server.got() === 'Content-Length: 2\r\n\r\n{}', 5_000, () => JSON.stringify(server.got()));
    server.conns[0]!.destroy();
    expect(await link!.ended).toBeNull();
    expect(logs).toEqual([]);
  });

  it('not through a socket when there is no announcement, an older plain-path one, or nobody answers on the named socket (a killed process)', async () => {
    const logs: string[] = [];
    const none = tempDir('cshare-vscode-link-');
    expect(await socketLink(none, (m) => logs.push(m))).toBeUndefined();
    expect(logs).toEqual([]); // no announcement is no news

    const older = tempDir('cshare-vscode-link-');
    writeTree(older, { '.cshare/control.path': `${join(older, '.cshare', 'control.sock')}\n` });
    expect(await socketLink(older, (m) => logs.push(m))).toBeUndefined();

    const stale = tempDir('cshare-vscode-link-');
    const gone = join(stale, '.cshare', 'editor.sock');
    writeTree(stale, { '.cshare/control.path': JSON.stringify({ socket: 'x', editor: gone }) });
    expect(await socketLink(stale, (m) => logs.push(m))).toBeUndefined();
    expect(logs.at(-1)).toContain(gone);
  });

  it('through `cshare editor` otherwise, which exits 18 with its message when nothing serves the folder', async () => {
    const folder = tempDir('cshare-vscode-link-');
    const link = bridgeLink(BIN, folder, () => undefined);
    expect(link.via).toBe('bridge');
    expect(await link.ended).toBe(18);
    expect(link.why()).toMatch(/no cshare share or join serves editors/);
  });
});
