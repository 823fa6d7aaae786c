/**
 * Replicas with different ignore rules and git-tracked sets (issue 14, item 1).
 *
 * Each replica may get its own global excludes file (`~/.config/git/ignore`), a repository
 * (`.git/` with `info/exclude` and an index: its tracked set, `git add -f` of ignored files
 * included), and users add and remove rules in `.gitignore` files at several depths, which
 * are shared and so reach the others late or (during a partition) not at all. Rules cover
 * shared files, never the journal files of `saves.ts` (whose lines must all arrive).
 *
 * Oracles:
 * - no rule deletes anything: a replica records a file as deleted only if its user removed it
 *   (checked as each change is stored, see {@link checkOwnRemovals});
 * - files ignored on one side still converge on the sides that share them (the final check of
 *   `checks.ts` compares the shared files of every replica, and lets a replica keep a local
 *   file it never shared at a shared path);
 * - nothing a replica ignores locally and never shared goes out: private files (`*.local`
 *   where the replica's own excludes ignore them, editor swap files anywhere) hold a unique
 *   marker that must never reach any store, the relay's, or another disk
 *   ({@link checkPrivate}).
 */
import { posix } from 'node:path';
import { compileLayer } from '../../src/core/ignore/IgnoreRules.js';
import { gitIndexBytes } from '../helpers/gitIndexFile.js';
import { storeMap, type FuzzNode, type WorldView } from './world.js';

/** Rules users add to and remove from `.gitignore` files. */
export const PATTERNS = ['*.md', 'docs/', 'lib/', '*.log', 'c.txt', 'b.*', 'bin/', '*.dat', '/a.txt', '!b.md', 'src/lib/', 'e.*', 'tmp/'];
/** The `.gitignore` files users edit. */
const RULE_FILES = ['.gitignore', 'src/.gitignore', 'docs/.gitignore'];
/** Folders private and log files go to. */
const DIRS = ['', 'src/', 'docs/', 'tmp/'];
const HOME = '/mem/home';

/**
 * Stand-ins for the journal files of `saves.ts` (`j/<a|b|c><n>.txt`). Patterns a random edit
 * can make hold no digits that could tell one number from another, so these speak for all.
 */
const JOURNAL_SAMPLES = ['j/a1.txt', 'j/b22.txt', 'j/c333.txt'];

/** One replica's own rules (what only it has). */
interface LocalRules {
  /** `*.local` is ignored here (global excludes or `info/exclude`): such files are private. */
  privateLocal: boolean;
  /** The repository's tracked set, if the replica has a repository. */
  tracked?: Set<string>;
}

/** Ignore rules and tracked sets that differ between replicas (see the header). */
export class RuleWorld {
  private readonly local = new Map<FuzzNode, LocalRules>();
  /** Unique texts of private files, by the replica whose disk alone may hold them. */
  private readonly markers: { node: FuzzNode; path: string; marker: string }[] = [];
  private nextMarker = 1;

  constructor(private readonly w: WorldView) {}

  /** Gives each replica its rules, before anything starts (the sharer's tree is written). */
  setup(): void {
    const { xrng } = this.w;
    for (const node of this.w.nodes) {
      const rules: LocalRules = { privateLocal: false };
      this.local.set(node, rules);
      const enc = (lines: string[]) => new TextEncoder().encode(`${lines.join('\n')}\n`);
      if (xrng.chance(0.6)) {
        const lines = ['*.local', ...['*.log', 'tmp/', '*.bak'].filter(() => xrng.chance(0.4))];
        node.fs.external.set(`${HOME}/.config/git/ignore`, enc(lines));
        rules.privateLocal = true;
        this.w.log(`${node.name}: global excludes ${lines.join(' ')}`);
      }
      if (xrng.chance(node.role === 'sharer' ? 0.8 : 0.4)) {
        node.fs.mkdir('.git');
        const lines = [...(xrng.chance(0.5) ? ['*.local'] : []), ...['docs/', '*.log', 'e.*'].filter(() => xrng.chance(0.3))];
        if (lines.length > 0) node.fs.external.set(`${node.fs.root}/.git/info/exclude`, enc(lines));
        if (lines.includes('*.local')) rules.privateLocal = true;
        rules.tracked = new Set(node.fs.files().filter(() => xrng.chance(0.5)));
        this.w.log(`${node.name}: a repository (info/exclude ${lines.join(' ') || 'none'}, tracking ${[...rules.tracked].join(' ') || 'nothing'})`);
      }
    }
    // The case: a file git tracks although it matches .gitignore (`git add -f`).
    const sharer = this.w.nodes[0]!;
    const tracked = this.local.get(sharer)!.tracked;
    if (tracked && xrng.chance(0.7)) {
      sharer.fs.writeFile('.gitignore', new TextEncoder().encode('*.log\n'));
      sharer.fs.writeFile('t/sample.log', new TextEncoder().encode('tracked although ignored\n'));
      tracked.add('t/sample.log').add('.gitignore');
      this.w.log('sharer: .gitignore *.log, git add -f t/sample.log');
    }
    for (const node of this.w.nodes) this.writeIndex(node);
  }

  /** One random act of a user about rules and private files. */
  act(node: FuzzNode): void {
    const { xrng } = this.w;
    const r = xrng.int(100);
    if (r < 40) this.editRules(node);
    else if (r < 55) this.gitAdd(node);
    else if (r < 75) this.writePrivate(node);
    else this.writeLog(node);
  }

  /** Adds a rule to a `.gitignore` (or creates it), or takes one out. */
  private editRules(node: FuzzNode): void {
    const { xrng } = this.w;
    const path = xrng.pick(RULE_FILES);
    const st = node.fs.lstat(path);
    if (st && st.kind !== 'file') return;
    const lines = st ? new TextDecoder().decode(node.fs.readFile(path)).split('\n').filter((l) => l !== '') : [];
    let what: string;
    if (lines.length > 0 && xrng.chance(0.4)) {
      const gone = lines.splice(xrng.int(lines.length), 1)[0]!;
      what = `-${gone}`;
    } else {
      const rule = xrng.pick(PATTERNS);
      lines.push(rule);
      what = `+${rule}`;
    }
    node.fs.writeFile(path, new TextEncoder().encode(lines.length > 0 ? `${lines.join('\n')}\n` : ''));
    this.w.touch(node, path);
    this.w.log(`${node.name}: ${path} ${what}`);
    this.w.count('rules:edits');
  }

  /** `git add -f` of a file on disk, or `git rm --cached` of a tracked one. */
  private gitAdd(node: FuzzNode): void {
    const { xrng } = this.w;
    const tracked = this.local.get(node)?.tracked;
    if (!tracked) return;
    if (tracked.size > 0 && xrng.chance(0.3)) {
      const path = xrng.pick([...tracked].sort());
      tracked.delete(path);
      this.w.log(`${node.name}: git rm --cached ${path}`);
    } else {
      const candidates = node.fs.files().filter((p) => !this.isPrivate(node, p) && !tracked.has(p));
      if (candidates.length === 0) return;
      const path = xrng.pick(candidates);
      tracked.add(path);
      this.w.log(`${node.name}: git add -f ${path}`);
    }
    this.writeIndex(node);
    this.w.count('rules:index');
  }

  /** A file only this replica may ever hold: `*.local` where its own excludes ignore it, or a swap file. */
  private writePrivate(node: FuzzNode): void {
    const { xrng } = this.w;
    const k = this.nextMarker++;
    const dir = xrng.pick(DIRS);
    const path = this.local.get(node)!.privateLocal && xrng.chance(0.6) ? `${dir}p${k}.local` : `${dir}.p${k}.txt.swp`;
    if (node.fs.lstat(path) || storeMap(node).has(`s:${path}`)) return;
    const marker = `private ${node.name} ${k} ${xrng.int(1 << 30)}`;
    node.fs.writeFile(path, new TextEncoder().encode(`${marker}\n`));
    this.markers.push({ node, path, marker });
    this.w.touch(node, path);
    this.w.log(`${node.name}: private ${path}`);
    this.w.count('rules:private');
  }

  /** A log file: ignored where a rule says so (then kept here only), shared elsewhere. */
  private writeLog(node: FuzzNode): void {
    const { xrng } = this.w;
    const path = `${xrng.pick(DIRS)}${xrng.pick(['a', 'b', 'run'])}.log`;
    if (node.fs.lstat(path)?.kind === 'dir') return;
    node.fs.writeFile(path, new TextEncoder().encode(`log ${node.name} ${xrng.int(1000)}\n`));
    this.w.touch(node, path);
    this.w.log(`${node.name}: write ${path}`);
  }

  /**
   * Would `text`, as the rule file at `path`, ignore journal files (or their folder `j/`)?
   * The driver's random text edits reach `.gitignore` files too, and one can turn `*.log` into
   * `*` and `.log`: journal files made after it are then ignored where they are made, never
   * shared (rightly: a rule stops syncing a path that was never shared), and the journal oracle,
   * which wants every line everywhere, would fail. Such an edit is not made (see the header:
   * rules never cover journal files).
   */
  static hidesJournals(path: string, text: string): boolean {
    const name = posix.basename(path);
    if (name !== '.gitignore' && name !== '.cshareignore') return false;
    const dir = posix.dirname(path);
    const base = dir === '.' ? '' : `${dir}/`;
    if (!'j/'.startsWith(base)) return false;
    const layer = compileLayer(text, base, path);
    if (!layer) return false;
    const hides = (rel: string) => layer.test(rel.slice(base.length)).ignored;
    return hides('j/') || JOURNAL_SAMPLES.some(hides);
  }

  /** Is `path` one of `node`'s private files (never to be touched by its user's other actions)? */
  isPrivate(node: FuzzNode, path: string): boolean {
    return this.markers.some((m) => m.node === node && m.path === path);
  }

  private writeIndex(node: FuzzNode): void {
    const tracked = this.local.get(node)?.tracked;
    if (tracked) node.fs.external.set(posix.join(node.fs.root, '.git', 'index'), gitIndexBytes(tracked));
  }

  /**
   * Fails if a private file's marker is anywhere but on its own replica's disk: in any store
   * (its own included: it was never to be recorded), the relay's, or another replica's disk.
   */
  checkPrivate(relay: Map<string, Uint8Array>): void {
    if (this.markers.length === 0) return;
    const places: [string, Iterable<[string, Uint8Array]>][] = [['the relay', relay]];
    for (const node of this.w.nodes) {
      places.push([`${node.name}'s store`, storeMap(node)]);
      places.push([`${node.name}'s disk`, node.fs.files().flatMap((p): [string, Uint8Array][] => (node.fs.lstat(p)?.kind === 'file' ? [[p, node.fs.readFile(p)!]] : []))]);
    }
    for (const { node, path, marker } of this.markers) {
      const bytes = Buffer.from(marker);
      for (const [where, entries] of places) {
        for (const [key, value] of entries) {
          if (where === `${node.name}'s disk` && key === path) continue;
          if (Buffer.from(value.buffer, value.byteOffset, value.byteLength).indexOf(bytes) !== -1) {
            this.w.fail(`${node.name}'s private ${path} (ignored there, never shared) went out: found in ${where} at ${key}`);
          }
        }
      }
    }
  }
}
