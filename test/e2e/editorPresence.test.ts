/**
 * Issue 19: a peer's cursor in a file nobody edited reaches another editor with its selections
 * (real relay, share and join processes; scripted editors on the editor socket). The editor
 * that opens the file after the peer put its cursor there is told where it is at once, without
 * the peer moving again.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readAnnouncement } from '../../src/store/announce.js';
import { freePort, start, stopAll, until } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { EditorClient } from '../editor/client.js';

const clients: EditorClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.end();
  await stopAll();
});

async function editorOn(root: string): Promise<EditorClient> {
  const c = await EditorClient.connect(readAnnouncement(root)!.editor!);
  clients.push(c);
  await c.initialize(['utf-16']);
  return c;
}

type Peer = { id: string; name: string; path?: string; selections?: { anchor: { line: number; character: number }; head: { line: number; character: number } }[] };
const lastPeers = (c: EditorClient): Peer[] => (c.notifications.filter((n) => n.method === 'peers').at(-1)?.params.peers as Peer[] | undefined) ?? [];
const bobIn = (c: EditorClient) => lastPeers(c).find((p) => p.name === 'bob');

async function relayShareJoin(files: Record<string, string>) {
  const base = tempDir('cshare-editor-presence-');
  const relayProc = start('relay', base, ['relay', '--data', join(base, 'data'), '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`]);
  const relay = ((await relayProc.line((x) => x.event === 'listening')).addresses as string[])[0]!;
  const alice = join(base, 'alice');
  const bob = join(base, 'bob');
  writeTree(alice, files);
  const sharer = start('alice', alice, ['share', '--relay', relay]);
  const codes = (await sharer.line((x) => x.event === 'sharing')).codes as { readWrite: string };
  const joiner = start('bob', base, ['join', codes.readWrite, bob]);
  await joiner.line((x) => x.event === 'joined');
  return { alice, bob };
}

const FILES = { 'a.txt': 'first file\n', 'b.txt': 'line one\nline two\nline three\n' };
const at = (line: number, character: number) => ({ line, character });

describe('a peer\'s cursor in a file nobody edited, between real processes', () => {
  it('reaches an editor that has the file open, with its selections', async () => {
    const { alice, bob } = await relayShareJoin(FILES);
    const a = await editorOn(alice);
    const b = await editorOn(bob);
    expect((await a.open('b.txt', FILES['b.txt'])).result).toMatchObject({ state: 'live' });
    expect((await b.open('b.txt', readFileSync(join(bob, 'b.txt'), 'utf8'))).result).toMatchObject({ state: 'live' });
    b.notify('cursor', { path: 'b.txt', selections: [{ anchor: at(2, 5), head: at(2, 5) }] });
    await until(() => bobIn(a)?.selections !== undefined, 20_000, () => JSON.stringify(a.notifications.filter((n) => n.method === 'peers').slice(-3)));
    expect(bobIn(a)).toMatchObject({ path: 'b.txt', selections: [{ anchor: at(2, 5), head: at(2, 5) }] });
  }, 120_000);

  it('is sent to an editor when it opens the file after the peer stopped moving there', async () => {
    const { alice, bob } = await relayShareJoin(FILES);
    const a = await editorOn(alice);
    const b = await editorOn(bob);
    expect((await b.open('b.txt', readFileSync(join(bob, 'b.txt'), 'utf8'))).result).toMatchObject({ state: 'live' });
    b.notify('cursor', { path: 'b.txt', selections: [{ anchor: at(1, 0), head: at(2, 5) }] });
    // Alice's server knows where bob is before her editor opens the file.
    await until(() => bobIn(a)?.path === 'b.txt', 20_000, () => JSON.stringify(a.notifications.filter((n) => n.method === 'peers').slice(-3)));
    expect(bobIn(a)!.selections).toBeUndefined();
    expect((await a.open('b.txt', FILES['b.txt'])).result).toMatchObject({ state: 'live' });
    await until(() => bobIn(a)?.selections !== undefined, 20_000, () => JSON.stringify(a.notifications.filter((n) => n.method === 'peers').slice(-3)));
    expect(bobIn(a)).toMatchObject({ path: 'b.txt', selections: [{ anchor: at(1, 0), head: at(2, 5) }] });
  }, 120_000);
});
