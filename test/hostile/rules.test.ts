import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gitBlobId } from '../../src/core/digest.js';
import { cshareJson } from '../helpers/cli.js';
import { start, stopAll, until, type Proc } from '../helpers/procs.js';
import { git, writeTree } from '../helpers/tmp.js';
import { hostilePeer, stage, stillSyncing, type HostilePeer, type Stage } from './realPeer.js';

afterEach(stopAll);

/**
 * Issue 15 item 3, performed against real relay, sharer, read-only viewer and read-write
 * joiner processes by a peer holding the read-write code: the rules that decide what leaves a
 * machine (`.cshareinclude`, `.cshareignore`, `.gitignore`, the secret deny-list) are pushed
 * by the attacker to pull secrets and ignored files out, a remote create is aimed at local
 * files that were never shared, and a `.gitignore` of `*` at every shared file. Nothing may go
 * out that the victim's own rules keep in, no local file may be overwritten, and no shared
 * file may be deleted anywhere.
 */

const enc = new TextEncoder();

/** A file's text, or undefined when there is none. */
function read(root: string, rel: string): string | undefined {
  const abs = join(root, rel);
  return existsSync(abs) ? readFileSync(abs, 'utf8') : undefined;
}

/**
 * Checks `check` (which returns what is wrong, or nothing) again and again for `ms`: a leak
 * that takes a few seconds to happen is seen. Fails at the first thing wrong.
 */
async function holdsFor(ms: number, check: () => Promise<string[]> | string[]): Promise<void> {
  const end = Date.now() + ms;
  do {
    expect(await check()).toEqual([]);
    await new Promise((r) => setTimeout(r, 250)); // polling interval, not synchronisation
  } while (Date.now() < end);
}

/** Starts a read-write joiner into a new empty folder `base/name`, waiting until it joined. */
async function rwJoiner(s: Stage, name: string): Promise<{ root: string; proc: Proc }> {
  const root = join(s.base, name);
  const proc = start(name, s.base, ['join', s.codes.readWrite, root]);
  await proc.line((l) => l.event === 'joined');
  return { root, proc };
}

/** Writes `name` in `from` and waits for it in `to`: what `from` did before it has gone up. */
async function roundTrip(from: string, to: string, name: string): Promise<void> {
  writeTree(from, { [name]: `${name}\n` });
  await until(() => read(to, name) === `${name}\n`, 30_000, () => `${name} did not reach ${to}`);
}

/** `join --once` of the read-write code into a fresh folder: what the relay hands a newcomer. */
function freshJoin(s: Stage, name: string): string {
  const root = join(s.base, name);
  const r = cshareJson(s.base, ['join', s.codes.readWrite, root, '--once']);
  expect(r.code, r.stderr).toBe(0);
  return root;
}

/** The paths of `kept` events a process printed. */
const kept = (p: Proc) => p.lines.filter((l) => l.event === 'kept').map((l) => String(l.path));

/** Deletions in a worktree's history (`cshare log`, answered by its running process). */
function deletions(root: string): string[] {
  const r = cshareJson(root, ['log']);
  expect(r.code, r.stderr).toBe(0);
  return (r.json.changes as { kind: string; path: string }[]).filter((c) => c.kind === 'delete').map((c) => c.path);
}

/** What of `paths` (and of content with `digests`) the relay holds, as `what`. */
async function onRelay(mallory: HostilePeer, paths: readonly string[], digests: ReadonlySet<string>): Promise<string[]> {
  const state = await mallory.relayState();
  return [...paths.filter((p) => state.paths.has(p)).map((p) => `path ${p} on the relay`), ...[...state.blobs].filter((d) => digests.has(d)).map((d) => `blob ${d} on the relay`)];
}

describe('hostile peer against real processes: rules that decide what leaves a machine', () => {
  it('a pushed .cshareinclude of * and .cshareignore of !* pull out no secret and no git-ignored file; nobody\'s own .cshareinclude is written over', async () => {
    const secrets = {
      '.env': 'API_KEY=alice-secret\n',
      'server.pem': '-----BEGIN PRIVATE KEY-----\nalice\n-----END PRIVATE KEY-----\n',
      'config/local.json': '{"db":"alice-password"}\n',
    };
    const s = await stage({ 'README.md': 'hello\n', '.gitignore': 'config/local.json\n', 'config/app.json': '{}\n', ...secrets }, { prepare: (a) => git(a, ['init', '-q']) });
    // A read-write joiner with a secret and a .cshareinclude of its own.
    const dave = await rwJoiner(s, 'dave');
    const daveInclude = "# dave's own rules\nnotes.swp\n";
    writeTree(dave.root, { '.cshareinclude': daveInclude, '.env': 'API_KEY=dave-secret\n' });
    await roundTrip(dave.root, s.alice, 'dave-was-here.txt');
    const leaked = [...Object.keys(secrets)];
    const digests = new Set([...Object.values(secrets), 'API_KEY=dave-secret\n'].map((t) => gitBlobId(enc.encode(t))));

    const mallory = await hostilePeer(s.codes.readWrite);
    try {
      expect(
        await mallory.put({
          inc: { path: '.cshareinclude', content: '*\n' },
          inc2: { path: 'config/.cshareinclude', content: '*\n' },
          ign: { path: '.cshareignore', content: '!*\n' },
          sentinel: { path: 'sentinel.txt', content: 'sentinel\n' },
        }),
      ).toEqual({ ok: true });
      // Both victims applied the change, and both are live after it.
      await until(() => read(s.alice, 'sentinel.txt') === 'sentinel\n' && read(dave.root, 'sentinel.txt') === 'sentinel\n', 30_000, () => 'the sentinel did not arrive');
      // The attack landed: the pushed .cshareignore is on the victims' disks.
      expect(read(s.alice, '.cshareignore')).toBe('!*\n');
      expect(read(dave.root, '.cshareignore')).toBe('!*\n');
      // The victims save their secrets again (as an editor would), so a scan looks at each of
      // them under the pushed rules.
      writeTree(s.alice, secrets);
      writeTree(dave.root, { '.env': 'API_KEY=dave-secret\n' });
      await stillSyncing(s, 'after.txt', 'after\n');
      await roundTrip(dave.root, s.alice, 'dave-after.txt');
      // The issue saw the secrets go up within ~6 s and keep streaming: watch for 10 s.
      await holdsFor(10_000, async () => [
        ...(await onRelay(mallory, leaked, digests)),
        ...leaked.filter((p) => read(s.carol, p) !== undefined).map((p) => `${p} on the viewer's disk`),
      ]);
      // A newcomer gets the honest files and none of the secrets.
      const fresh = freshJoin(s, 'fresh');
      expect(read(fresh, 'README.md')).toBe('hello\n');
      expect(read(fresh, 'dave-after.txt')).toBe('dave-after.txt\n');
      for (const p of [...leaked, '.cshareinclude', 'config/.cshareinclude']) expect({ p, text: read(fresh, p) }).toEqual({ p, text: undefined });
      // A local policy file is never taken from a peer: not written on any disk, and said so.
      expect(read(s.alice, '.cshareinclude')).toBeUndefined();
      expect(read(s.alice, 'config/.cshareinclude')).toBeUndefined();
      expect(read(s.carol, '.cshareinclude')).toBeUndefined();
      expect(read(dave.root, '.cshareinclude')).toBe(daveInclude);
      for (const p of [s.sharer, s.viewer, dave.proc]) {
        expect(p.lines.some((l) => l.event === 'error' && l.path === '.cshareinclude' && /local|policy/.test(String(l.reason)))).toBe(true);
      }
      // The victims' secrets are where they were.
      for (const [p, text] of Object.entries(secrets)) expect(read(s.alice, p)).toBe(text);
      expect(read(dave.root, '.env')).toBe('API_KEY=dave-secret\n');
    } finally {
      await mallory.close();
    }
  }, 180_000);

  it('a remote create of .env and of a git-ignored build/out.txt keeps the local files that were never shared, says so, and join --dry-run lists them as kept', async () => {
    const local = { '.env': 'API_KEY=alice-secret\n', 'build/out.txt': 'alice build\n' };
    const s = await stage({ 'README.md': 'hello\n', '.gitignore': 'build/\n', ...local }, { prepare: (a) => git(a, ['init', '-q']) });
    const mallory = await hostilePeer(s.codes.readWrite);
    try {
      expect(
        await mallory.put({
          env: { path: '.env', content: 'API_KEY=mallory\n' },
          out: { path: 'build/out.txt', content: 'mallory build\n' },
          sentinel: { path: 'sentinel.txt', content: 'sentinel\n' },
        }),
      ).toEqual({ ok: true });
      await until(() => read(s.alice, 'sentinel.txt') === 'sentinel\n', 30_000, () => 'the sentinel did not arrive');
      // The share has them (the viewer, with no such files, takes them) ...
      await until(() => read(s.carol, '.env') === 'API_KEY=mallory\n' && read(s.carol, 'build/out.txt') === 'mallory build\n', 30_000, () => `the viewer: ${JSON.stringify(s.viewer.lines.slice(-5))}`);
      // ... and the sharer kept its own, and said so.
      await until(() => ['.env', 'build/out.txt'].every((p) => kept(s.sharer).includes(p)), 30_000, () => `no kept events: ${JSON.stringify(s.sharer.lines.slice(-8))}`);
      await stillSyncing(s, 'after.txt', 'after\n');
      for (const [p, text] of Object.entries(local)) expect(read(s.alice, p)).toBe(text);

      // A folder with its own such files: the dry run says they stay, and the join keeps them.
      const bob = join(s.base, 'bob');
      const bobs = { '.gitignore': 'build/\n', '.env': 'API_KEY=bob-secret\n', 'build/out.txt': 'bob build\n' };
      writeTree(bob, bobs);
      const dry = cshareJson(s.base, ['join', s.codes.readWrite, bob, '--dry-run']);
      expect(dry.code, dry.stderr).toBe(0);
      const changes = dry.json.changes as { path: string; change: string }[];
      expect(changes.filter((c) => c.path === '.env' || c.path === 'build/out.txt').sort((a, b) => (a.path < b.path ? -1 : 1))).toEqual([
        { path: '.env', change: 'keep' },
        { path: 'build/out.txt', change: 'keep' },
      ]);
      expect(changes).toContainEqual({ path: 'README.md', change: 'create' });
      const joined = cshareJson(s.base, ['join', s.codes.readWrite, bob, '--once']);
      expect(joined.code, joined.stderr).toBe(0);
      for (const [p, text] of Object.entries(bobs)) expect(read(bob, p)).toBe(text);
      expect(read(bob, 'README.md')).toBe('hello\n');
    } finally {
      await mallory.close();
    }
  }, 180_000);

  it('a remote .gitignore of * deletes no shared file anywhere and records no deletion; one of !* sends out no ignored file', async () => {
    const gitignore = '*.log\nbuild/\n';
    const shared = { '.gitignore': gitignore, 'README.md': 'hello\n', 'src/a.txt': 'a\n', 'src/b.txt': 'b\n' };
    const ignored = { 'debug.log': 'alice log\n', 'build/out.bin': 'alice build\n' };
    const s = await stage({ ...shared, ...ignored, 'notes.txt': 'notes\n' }, { prepare: (a) => git(a, ['init', '-q']) });
    const dave = await rwJoiner(s, 'dave');
    writeTree(dave.root, { 'dave.log': 'dave log\n' });
    await roundTrip(dave.root, s.alice, 'dave-was-here.txt');
    const ignoredPaths = [...Object.keys(ignored), 'dave.log'];
    const digests = new Set([...Object.values(ignored), 'dave log\n'].map((t) => gitBlobId(enc.encode(t))));
    const disks = [s.alice, s.carol, dave.root];
    /** Every shared file on every disk, as it was. */
    const allThere = (): string[] =>
      disks.flatMap((root) => Object.entries(shared).filter(([p, text]) => p !== '.gitignore' && read(root, p) !== text).map(([p]) => `${p} changed or gone in ${root}`));

    const mallory = await hostilePeer(s.codes.readWrite);
    try {
      /** What is wrong: a shared file changed or gone on a disk or on the relay, an ignored one on the relay. */
      const wrong = async (): Promise<string[]> => {
        const state = await mallory.relayState();
        return [...allThere(), ...Object.keys(shared).filter((p) => !state.live.has(p)).map((p) => `${p} is not live on the relay`), ...(await onRelay(mallory, ignoredPaths, digests))];
      };
      for (const rules of ['*\n', '!*\n']) {
        await mallory.edit('.gitignore', gitignore, rules);
        await until(() => disks.every((d) => read(d, '.gitignore') === rules), 30_000, () => `.gitignore ${JSON.stringify(rules)} did not arrive everywhere`);
        // The owners save their ignored files again, so a scan looks at each under the new rules.
        writeTree(s.alice, ignored);
        writeTree(dave.root, { 'dave.log': 'dave log\n' });
        // The issue saw every shared file deleted everywhere within seconds: watch for 10 s.
        await holdsFor(10_000, wrong);
        // Edits of shared files still go both ways (a new file is ignored by `*`, as it may be).
        await stillSyncing(s, 'notes.txt', `notes after ${rules}`);
        writeTree(dave.root, { 'dave-was-here.txt': `dave after ${rules}` });
        await until(() => read(s.alice, 'dave-was-here.txt') === `dave after ${rules}`, 30_000, () => `dave's edit did not reach alice: ${JSON.stringify(dave.proc.lines.slice(-5))}`);
        expect(await wrong()).toEqual([]);
      }
      expect(deletions(s.alice)).toEqual([]);
      expect(deletions(dave.root)).toEqual([]);
      const fresh = freshJoin(s, 'fresh');
      for (const [p, text] of Object.entries(shared)) if (p !== '.gitignore') expect(read(fresh, p)).toBe(text);
      for (const p of ignoredPaths) expect({ p, text: read(fresh, p) }).toEqual({ p, text: undefined });
      for (const [p, text] of Object.entries(ignored)) expect(read(s.alice, p)).toBe(text);
      expect(read(dave.root, 'dave.log')).toBe('dave log\n');
    } finally {
      await mallory.close();
    }
  }, 240_000);
});
