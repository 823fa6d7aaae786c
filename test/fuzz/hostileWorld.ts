/**
 * The convergence fuzzer's hostile-peer mode: honest replicas on real directories (NodeFs, a
 * real kernel resolving real links) exchange their changes while one hostile peer sends them
 * random valid-looking but malicious manifest changes, as a malicious relay could deliver them
 * unfiltered: links that lead out or into `.git`, chains of links, files under links, platform
 * aliases of `.git`, 300-byte names, files and folders of one name, renames onto all of these.
 *
 * Properties: every write of every honest replica lands inside its worktree and outside its
 * `.git/` and `.cshare/` (a fenced file system checks each one as the kernel sees it, and the
 * sandbox around the worktrees and their `.git/` never change); no apply or scan fails (the
 * replicas stay live); and once local obstacles are cleared, the honest worktrees converge to
 * the same files with nothing left to record. Kept apart from `harness.ts`'s World (network
 * and crash faults over memory file systems), which cannot say anything about a kernel.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gitBlobId } from '../../src/core/digest.js';
import type { ChangeSet } from '../../src/core/exchange.js';
import { ManifestDoc, type ManifestEntry } from '../../src/core/ManifestDoc.js';
import { reservedNameOf } from '../../src/core/paths.js';
import type { DirEntry, FileStat, FileWrite, WriteSurprise, PathObstacle, WorktreeFs } from '../../src/core/ports.js';
import { Replica } from '../../src/core/Replica.js';
import { NodeFs } from '../../src/store/fs/NodeFs.js';
import { MemoryStore } from '../../src/store/memory/MemoryStore.js';
import { Prng } from '../../src/sync/prng.js';
import { tempDir } from '../helpers/tmp.js';

/** A write the fence saw land somewhere it must not. */
export class Escape extends Error {}

/**
 * A {@link WorktreeFs} that checks, as the kernel resolves it, where every write lands: the
 * folder of each written, created, chmod'ed or removed path must be the worktree or a real
 * folder in it, outside `.git/` and `.cshare/`, and a created link must resolve inside.
 */
class FencedNodeFs implements WorktreeFs {
  readonly writes: string[] = [];
  private readonly inner: NodeFs;
  private readonly realRoot: string;

  constructor(readonly root: string) {
    this.inner = new NodeFs(root);
    this.realRoot = realpathSync.native(root);
  }

  private fence(rel: string, what: string): void {
    this.writes.push(`${what} ${rel}`);
    let dir = join(this.root, dirname(rel));
    // A folder not created yet: its nearest existing ancestor is where it will be created.
    while (!existsSync(dir) && dir !== this.root) dir = dirname(dir);
    this.assertInside(realpathSync.native(dir), `${what} ${rel}`);
  }

  private assertInside(real: string, what: string): void {
    if (real !== this.realRoot && !real.startsWith(`${this.realRoot}/`)) throw new Escape(`${what} resolves to ${real}, outside ${this.realRoot}`);
    for (const name of real.slice(this.realRoot.length).split('/')) if (reservedNameOf(name)) throw new Escape(`${what} resolves into ${name}/ (${real})`);
  }

  readdir(rel: string): DirEntry[] | undefined {
    return this.inner.readdir(rel);
  }
  lstat(rel: string): FileStat | undefined {
    return this.inner.lstat(rel);
  }
  readFile(rel: string): Uint8Array | undefined {
    return this.inner.readFile(rel);
  }
  readlink(rel: string): string | undefined {
    return this.inner.readlink(rel);
  }
  writeFile(rel: string, data: Uint8Array, mode?: number): void {
    this.fence(rel, 'write');
    this.inner.writeFile(rel, data, mode);
    this.fence(rel, 'wrote');
  }
  async writeFiles(files: readonly FileWrite[], opts?: { flush?: boolean }): Promise<WriteSurprise[]> {
    for (const f of files) this.fence(f.rel, 'write');
    const results = await this.inner.writeFiles(files, opts);
    for (const f of files) this.fence(f.rel, 'wrote');
    return results;
  }
  symlink(rel: string, target: string): void {
    this.fence(rel, 'symlink');
    this.inner.symlink(rel, target);
    const abs = join(this.root, rel);
    // Where the new link leads, as far as it resolves now.
    let at = join(dirname(abs), target);
    for (;;) {
      try {
        this.assertInside(realpathSync.native(at), `link ${rel} -> ${target}`);
        break;
      } catch (err) {
        if (err instanceof Escape) throw err;
        if (at === dirname(at)) break;
        at = dirname(at);
      }
    }
  }
  remove(rel: string): void {
    this.fence(rel, 'remove');
    this.inner.remove(rel);
  }
  chmod(rel: string, mode: number): void {
    this.fence(rel, 'chmod');
    this.inner.chmod(rel, mode);
  }
  readExternal(absPath: string): Uint8Array | undefined {
    return this.inner.readExternal(absPath);
  }
  parentProblem(rel: string): PathObstacle | undefined {
    return this.inner.parentProblem(rel);
  }
  linkProblem(rel: string, target: string): string | undefined {
    return this.inner.linkProblem(rel, target);
  }
}

interface Honest {
  name: string;
  root: string;
  fs: FencedNodeFs;
  replica: Replica;
}

const NAMES = ['a', 'b', 'c', 'lnk', 'y', 'x', 'u'];
/** The user's own link out (see `localObstacle`): the hostile peer writes below it, never at it. */
const OWN_LINK = 'ext';
const DIRS = ['', 'src/', 'a/', 'lnk/', 'y/'];
const BAD_TARGETS = ['.', '..', '../..', 'y/..', 'x/../..', 'lnk/..', '/etc/passwd', '/tmp', '.git', '.git/hooks', '.GIT.', 'GIT~1', '.cshare/store', '.g\u200cit', 'src/../..', '../outside.txt']; // self-contained: not a path read (hostile link targets)
const BAD_PATHS = ['.git./hooks/pre-commit', 'GIT~1/config', '.git::$INDEX_ALLOCATION/hooks/x', '.g\u200cit/hooks/pre-commit', '.cshare /store/CURRENT', `${'n'.repeat(300)}.txt`, '../escape.txt', 'y/../../escape.txt'];

/** One seeded hostile run. */
export class HostileWorld {
  private readonly rng: Prng;
  private readonly base: string;
  private readonly honest: Honest[] = [];
  private readonly mallory = ManifestDoc.create(0x4d41);
  private lamport = 1;
  private nextId = 0;
  /** Paths the hostile peer has set, to aim at (links to write under, files to make folders of). */
  private readonly aimed: string[] = [];
  private readonly belowOwnLink = new Set<string>();
  readonly trace: string[] = [];
  private outsideBefore = '';
  private readonly fifos: string[] = [];
  private gitBefore: string[][] = [];

  constructor(readonly seed: number) {
    this.rng = new Prng(seed);
    this.base = tempDir('cshare-hostile-fuzz-');
  }

  private fail(reason: string): never {
    throw new Error(`hostile fuzz seed ${this.seed} failed: ${reason}\n  replay: CSHARE_HOSTILE_SEED=${this.seed} npx vitest run test/fuzz/hostile.test.ts\n  last actions:\n    ${this.trace.slice(-30).join('\n    ')}`);
  }

  /** What the run saw: writes the fence checked, paths left alone, entries refused. */
  readonly stats = { writes: 0, blocked: new Set<string>(), refused: new Set<string>() };

  async run(steps: number): Promise<{ final: string; writes: number; blocked: number; refused: number }> {
    writeFileSync(join(this.base, 'outside.txt'), 'precious\n');
    mkdirSync(join(this.base, 'etc'));
    writeFileSync(join(this.base, 'etc/passwd'), 'root:x:0:0\n');
    for (const name of ['alice', 'bob']) {
      const root = join(this.base, name);
      mkdirSync(join(root, '.git/hooks'), { recursive: true });
      writeFileSync(join(root, '.git/config'), '[core]\n\tbare = false\n');
      // `ext`, when there, is the user's own link out of the worktree: never shared.
      mkdirSync(join(root, '.git/info'));
      writeFileSync(join(root, '.git/info/exclude'), `${OWN_LINK}\n`);
      writeFileSync(join(root, 'README.md'), 'hello\n');
      const fs = new FencedNodeFs(root);
      const replica = await Replica.open({ fs, kv: new MemoryStore(), env: { USER: name }, home: join(this.base, '.no-home'), settleEmptiedMs: 0 });
      this.honest.push({ name, root, fs, replica });
    }
    this.outsideBefore = this.outside();
    this.gitBefore = this.honest.map((h) => gitListing(h.root));
    await this.guard('first scans', async () => {
      for (const h of this.honest) await h.replica.scan();
    });
    for (let step = 0; step < steps; step++) {
      const r = this.rng.int(100);
      if (r < 35) await this.hostileChange();
      else if (r < 60) this.honestEdit(this.rng.pick(this.honest));
      else if (r < 72) this.localObstacle(this.rng.pick(this.honest));
      else await this.exchange();
      this.checkConfined();
    }
    // Heal: the users clear what they had in the way; then a few rounds of sync.
    this.clearObstacles();
    for (let i = 0; i < 3; i++) await this.exchange();
    this.checkConfined();
    const trees = this.honest.map((h) => JSON.stringify(tree(h.root)));
    if (trees[0] !== trees[1]) this.fail(`the honest worktrees differ:\n    alice ${trees[0]}\n    bob   ${trees[1]}`);
    for (const h of this.honest) {
      const { recorded } = await h.replica.scan();
      if (recorded.length > 0) this.fail(`${h.name} still records ${JSON.stringify(recorded)} after converging`);
    }
    const writes = this.honest.reduce((n, h) => n + h.fs.writes.length, 0);
    for (const h of this.honest) h.replica.close();
    rmSync(this.base, { recursive: true, force: true });
    return { final: trees[0]!, writes, blocked: this.stats.blocked.size, refused: this.stats.refused.size };
  }

  /** Runs `fn`; an escape or any error of an apply or scan fails the run (liveness). */
  private async guard(what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.fail(`${what}: ${err instanceof Escape ? 'ESCAPE ' : ''}${err instanceof Error ? err.stack : String(err)}`);
    }
  }

  /** Every honest replica's changes to every other, and the hostile ones they have not seen. */
  private async exchange(): Promise<void> {
    this.trace.push('exchange');
    await this.guard('exchange', async () => {
      for (const from of this.honest) {
        await from.replica.scan();
        const { changes } = await from.replica.changesSince(-1);
        for (const to of this.honest) if (to !== from) await to.replica.applyChanges(changes, { replica: from.name, author: from.name });
      }
    });
  }

  private async hostileChange(): Promise<void> {
    const rng = this.rng;
    const entries: Record<string, { path: string; content: string; kind: ManifestEntry['kind'] }> = {};
    const n = 1 + rng.int(3);
    for (let i = 0; i < n; i++) {
      const r = rng.int(100);
      const id = `m${this.nextId++}`;
      const name = rng.pick(NAMES);
      let e: { path: string; content: string; kind: ManifestEntry['kind'] };
      if (r < 25) e = { path: `${rng.pick(DIRS)}${name}`, content: rng.pick(BAD_TARGETS), kind: 'symlink' };
      else if (r < 35) e = { path: `${rng.pick(DIRS)}${name}`, content: `${rng.pick(NAMES)}`, kind: 'symlink' };
      else if (r < 60) e = { path: `${rng.pick([...this.aimed, ...NAMES, OWN_LINK])}/${rng.pick(['evil.sh', 'tmp/x/ESCAPED.sh', '.git/hooks/pre-commit', 'hooks/pre-commit'])}`, content: '#!/bin/sh\necho pwned\n', kind: 'text' };
      else if (r < 75) e = { path: rng.pick(BAD_PATHS), content: 'evil\n', kind: 'text' };
      else if (r < 85 && this.aimed.length > 0) e = { path: rng.pick(this.aimed).split('/')[0]!, content: 'now a file\n', kind: 'text' };
      else e = { path: `${rng.pick(DIRS)}${name}${rng.pick(['', '.txt'])}`, content: `hostile ${id}\n`, kind: 'text' };
      // Sometimes an entry set again (a rename, a kind change), never one aimed below the
      // user's own link: that one must stay there to test what is done with it.
      const again = rng.chance(0.2) && this.nextId > 3 ? `m${rng.int(this.nextId - 1)}` : undefined;
      entries[again !== undefined && !this.belowOwnLink.has(again) && !e.path.startsWith(`${OWN_LINK}/`) ? again : id] = e;
      if (e.path.startsWith(`${OWN_LINK}/`)) this.belowOwnLink.add(id);
      if (!e.path.includes('..') && !e.path.startsWith(`${OWN_LINK}/`)) this.aimed.push(e.path);
    }
    const change = this.changeOf(entries);
    this.trace.push(`mallory: ${Object.values(entries).map((e) => `${e.kind === 'symlink' ? 'link' : 'file'} ${JSON.stringify(e.path)}${e.kind === 'symlink' ? ` -> ${JSON.stringify(e.content)}` : ''}`).join(', ')}`);
    const everyone = this.rng.chance(0.5) || Object.values(entries).some((e) => e.path.startsWith(`${OWN_LINK}/`));
    const targets = everyone ? this.honest : [this.rng.pick(this.honest)];
    await this.guard('hostile apply', async () => {
      for (const h of targets) {
        await h.replica.applyChanges(change, { replica: 'mallory', author: 'mallory' });
        for (const b of h.replica.blockedPaths()) this.stats.blocked.add(`${h.name} ${b.path}: ${b.reason}`);
        for (const r of h.replica.refusedEntries()) this.stats.refused.add(`${r.path}: ${r.reason}`);
      }
    });
  }

  private changeOf(entries: Record<string, { path: string; content: string; kind: ManifestEntry['kind'] }>): ChangeSet {
    const blobs = new Map<string, Uint8Array>();
    const update = this.mallory.change((set) => {
      for (const [fileId, e] of Object.entries(entries)) {
        const bytes = new TextEncoder().encode(e.content);
        const digest = gitBlobId(bytes);
        blobs.set(digest, bytes);
        set(fileId, { path: e.path, kind: e.kind, mode: e.kind === 'symlink' ? 0o120000 : this.rng.chance(0.3) ? 0o100755 : 0o100644, digest, size: bytes.length, base: digest, lamport: (this.lamport += 1 + this.rng.int(3)) * 1000, by: 'mallory' });
      }
    });
    // Every update so far: a replica that missed one still gets the structs it builds on.
    return { manifest: [update!], files: [], blobs: [...blobs].map(([digest, bytes]) => ({ digest, bytes })) };
  }

  private honestEdit(h: Honest): void {
    const rng = this.rng;
    const path = `${rng.pick(['', 'src/', 'docs/'])}${rng.pick(['a', 'b', 'c', 'notes'])}.txt`;
    const abs = join(h.root, path);
    try {
      if (rng.chance(0.15) && existsSync(abs)) {
        rmSync(abs);
        this.trace.push(`${h.name}: delete ${path}`);
      } else {
        mkdirSync(dirname(abs), { recursive: true });
        writeFileSync(abs, `${h.name} ${rng.int(1000)}\n`);
        this.trace.push(`${h.name}: write ${path}`);
      }
    } catch (err) {
      // The path is taken by something the hostile peer set (a file where a folder would go).
      this.trace.push(`${h.name}: could not write ${path}: ${(err as NodeJS.ErrnoException).code}`);
    }
  }

  /**
   * What a user can have where the hostile peer aims: a FIFO (never shared, never opened), or
   * a folder with a file of the user's (shared like any file), or the user's link `ext -> ..`
   * (excluded in `.git/info/exclude`, so never shared; what the hostile peer writes below it
   * must be left alone).
   */
  private localObstacle(h: Honest): void {
    const name = this.rng.chance(0.4) ? OWN_LINK : this.rng.pick(NAMES);
    const abs = join(h.root, name);
    if (existsSync(abs) || isLink(abs)) return;
    if (name === OWN_LINK) {
      symlinkSync('..', abs);
      this.trace.push(`${h.name}: own link ext -> .. (not shared)`);
    } else if (this.rng.chance(0.5)) {
      execFileSync('mkfifo', [abs]);
      this.fifos.push(abs);
      this.trace.push(`${h.name}: fifo ${name}`);
    } else {
      mkdirSync(abs);
      writeFileSync(join(abs, 'mine.txt'), `${h.name}'s\n`);
      this.trace.push(`${h.name}: folder ${name}/mine.txt`);
    }
  }

  private clearObstacles(): void {
    for (const abs of this.fifos.splice(0)) rmSync(abs, { force: true });
    // The user's own `ext` goes, and with it the rule that kept it to this machine.
    for (const h of this.honest) {
      rmSync(join(h.root, OWN_LINK), { recursive: true, force: true });
      writeFileSync(join(h.root, '.git/info/exclude'), '');
    }
  }

  private checkConfined(): void {
    if (this.outside() !== this.outsideBefore) this.fail(`something changed outside the worktrees: ${this.outside()}`);
    this.honest.forEach((h, i) => {
      const now = gitListing(h.root);
      if (JSON.stringify(now) !== JSON.stringify(this.gitBefore[i])) this.fail(`${h.name}'s .git changed: ${JSON.stringify(now)}`);
    });
  }

  /** Everything under the sandbox but the worktrees, with file digests: must never change. */
  private outside(): string {
    return listing(this.base)
      .filter((p) => !/^(alice|bob)\//.test(p))
      .join('\n');
  }
}

/** `.git` of a worktree as {@link listing} gives it, but for the exclude file the test edits. */
function gitListing(root: string): string[] {
  return listing(join(root, '.git')).filter((p) => !p.startsWith('info/exclude:'));
}

function isLink(abs: string): boolean {
  return lstatSync(abs, { throwIfNoEntry: false })?.isSymbolicLink() === true;
}

/** Every path under `dir` (links not followed), with file contents' digests. */
function listing(dir: string, rel = ''): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(dir, r));
    if (st.isDirectory()) out.push(`${r}/`, ...listing(dir, r));
    else out.push(st.isFile() ? `${r}:${gitBlobId(readFileSync(join(dir, r)))}` : r);
  }
  return out;
}

/** A worktree as path -> content (links as "link:target"), without .git and .cshare. */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of listing(root)) {
    if (p.startsWith('.git/') || p.startsWith('.cshare/') || p.endsWith('/')) continue;
    const path = p.includes(':') ? p.slice(0, p.lastIndexOf(':')) : p;
    const abs = join(root, path);
    const st = lstatSync(abs);
    if (!st.isFile() && !st.isSymbolicLink()) continue;
    out[path] = isLink(abs) ? `link:${readlinkSync(abs)}` : `${lstatSync(abs).mode & 0o111 ? 'x' : '-'}:${readFileSync(abs, 'utf8')}`;
  }
  return out;
}

