/**
 * Saves at awkward moments, and files created on several replicas at once (issue 14, items
 * 2, 3 and 6).
 *
 * Journal files (`j/<name>.txt`) only ever grow by whole lines, each unique in the run: users
 * append to them (in place, or by writing a new file and renaming it over), editors that hold
 * an older version save it with a line appended (a stale buffer; sometimes unchanged), a save
 * lands at a chosen moment inside an apply of remote changes (see `FuzzFs`: before any call,
 * right before the write's swap, into the replaced file, right after the write), and several
 * replicas, partitioned, create the same new journal file with different lines. The fuzzer's
 * other actions leave journal files alone (no edits, deletes or renames).
 *
 * Oracle: after the heal, every line any replica ever saved to a journal file is in that file
 * exactly once, on every replica (0 lost saves, 0 duplicates). Two things take a line out of
 * the count: an undo or redo of a change to the file (undoing a save is allowed to remove its
 * line: the file is then not counted), and a crash of the replica while a save it found during
 * an apply was held only in memory (as `NodeFs` holds a displaced save between the write and
 * its recording); both are counted in the stats.
 */
import { gitBlobId } from '../../src/core/digest.js';
import type { SavePoint } from './FuzzFs.js';
import { storeMap, type FuzzNode, type WorldView } from './world.js';

const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'x = 1;', 'é', '日本'];
const utf8 = new TextDecoder();
const enc = new TextEncoder();

/** How an armed save is made when its moment comes. */
type HookKind = 'append' | 'rename' | 'editor';

/** Journal files, their lines, and the saves that write them (see the header). */
export class SaveWorld {
  /** Every line saved to each journal file, with who saved it and how (for messages). */
  private readonly lines = new Map<string, Map<string, string>>();
  /** Files an undo or redo touched: their lines may be gone on purpose. */
  private readonly tainted = new Set<string>();
  /** Lines saved during an apply and held only in memory until recorded: a crash loses them. */
  private pending: { node: FuzzNode; path: string; line: string }[] = [];
  /** Open editors: the text each loaded, by replica and path. */
  private readonly editors = new Map<FuzzNode, Map<string, string>>();
  /** A save to make at the n-th chance inside an apply on a replica. */
  private readonly armed = new Map<FuzzNode, { n: number; kind: HookKind }>();
  private nextFile = 1;
  private nextLine = 1;

  constructor(
    private readonly w: WorldView,
    private readonly opts: { saves: boolean; creates: boolean; rules?: boolean },
  ) {}

  /** Is `path` a journal file (left alone by the fuzzer's other actions)? */
  static isJournal(path: string): boolean {
    return path.startsWith('j/');
  }

  /** One random act of a user (on a replica that has joined) about journal files. */
  act(node: FuzzNode): void {
    const { xrng } = this.w;
    if (!node.joined) return;
    if (!this.opts.saves) {
      // Creates alone: fewer, each on several replicas (each is many files, partitions and merges).
      if (xrng.chance(0.35)) this.create(node);
      return;
    }
    const r = xrng.int(100);
    if (r < 15) this.create(node);
    else if (r < 40) this.append(node);
    else if (r < 55) this.openEditor(node);
    else if (r < 75) this.saveEditor(node);
    else this.arm(node);
  }

  /** A new journal file, on one replica or (partitioned) on several at once. */
  private create(node: FuzzNode): void {
    const { xrng } = this.w;
    const path = `j/${xrng.pick(['a', 'b', 'c'])}${this.nextFile++}.txt`;
    const others = this.w.nodes.filter((n) => n !== node && n.joined);
    const makers = [node];
    if (this.opts.creates && others.length > 0 && xrng.chance(0.7)) {
      makers.push(xrng.pick(others));
      const third = others.filter((n) => !makers.includes(n));
      if (third.length > 0 && xrng.chance(0.3)) makers.push(xrng.pick(third));
    }
    for (const maker of makers) {
      if (makers.length > 1 && xrng.chance(0.8)) this.w.partition(maker);
      const text = Array.from({ length: 1 + xrng.int(3) }, () => this.line(maker, path, 'create')).join('');
      maker.fs.writeFile(path, enc.encode(text));
      this.w.touch(maker, path);
    }
    this.w.log(`${makers.map((m) => m.name).join(', ')}: create ${path}`);
    this.w.count(makers.length > 1 ? 'saves:concurrentCreates' : 'saves:creates');
  }

  /** Appends a line to a journal file, in place or by writing a new file over it. */
  private append(node: FuzzNode): void {
    const { xrng } = this.w;
    const path = this.pickJournal(node);
    if (!path) return;
    const inPlace = xrng.chance(0.5);
    this.write(node, path, utf8.decode(node.fs.readFile(path)) + this.line(node, path, 'append'), inPlace);
    this.w.log(`${node.name}: append to ${path} (${inPlace ? 'in place' : 'by rename'})`);
  }

  /** An editor loads a journal file (and keeps that text until it saves). */
  private openEditor(node: FuzzNode): void {
    const path = this.pickJournal(node);
    if (!path) return;
    this.editorsOf(node).set(path, utf8.decode(node.fs.readFile(path)));
    this.w.log(`${node.name}: editor opens ${path}`);
  }

  /**
   * An open editor saves its buffer with a line appended (sometimes unchanged), whatever the
   * disk holds now. cshare keeps a bounded number of each file's recent versions; an editor
   * whose text is none of them any more (nor the text now) has been open too long to merge
   * from, and reloads instead, as one would be told to. So does one over a save of this user's
   * that cshare has not recorded yet (another program's, here): overwriting that is the
   * editor's doing, and cshare never saw it (a real watcher records it within milliseconds;
   * here it fires when the driver says, see `recordedOnDisk`).
   */
  private saveEditor(node: FuzzNode): void {
    const { xrng } = this.w;
    const open = [...this.editorsOf(node).keys()].filter((p) => node.fs.lstat(p)?.kind === 'file');
    if (open.length === 0) return;
    const path = xrng.pick(open.sort());
    let buffer = this.editorsOf(node).get(path)!;
    const disk = utf8.decode(node.fs.readFile(path));
    if (buffer !== disk && (!recordedOnDisk(node, path, disk) || !knownVersion(node, gitBlobId(enc.encode(buffer))))) {
      this.w.count('saves:editorReloads');
      buffer = disk;
    }
    const unchanged = buffer !== disk && xrng.chance(0.15);
    const text = unchanged ? buffer : buffer + this.line(node, path, 'editor');
    const inPlace = xrng.chance(0.4);
    this.write(node, path, text, inPlace);
    this.editorsOf(node).set(path, text);
    this.w.log(`${node.name}: editor saves ${path}${buffer === disk ? '' : ' from a stale buffer'}${unchanged ? ', unchanged' : ''} (${inPlace ? 'in place' : 'by rename'})`);
    this.w.count(buffer === disk ? 'saves:editorSaves' : 'saves:staleSaves');
  }

  /** The next chance inside an apply on `node`, n chances from now, a save lands. */
  private arm(node: FuzzNode): void {
    const { xrng } = this.w;
    const kind: HookKind = this.editorsOf(node).size > 0 && xrng.chance(0.3) ? 'editor' : xrng.chance(0.5) ? 'append' : 'rename';
    this.armed.set(node, { n: 1 + xrng.int(12), kind });
    this.w.log(`${node.name}: a save will land inside an apply (${kind})`);
  }

  /**
   * A user's save at `point` of a call of `node`'s process on `rel` (see `FuzzFs.SaveHook`),
   * if one is armed, an apply is under way, and `rel` is a journal file there.
   */
  hook(node: FuzzNode, point: SavePoint, rel: string, old?: Uint8Array): Uint8Array | undefined {
    const armed = this.armed.get(node);
    if (!armed || !node.proc || node.proc.applying === 0 || !SaveWorld.isJournal(rel)) return undefined;
    if (point === 'oldInode' ? old === undefined : node.fs.lstat(rel)?.kind !== 'file') return undefined;
    if (--armed.n > 0) return undefined;
    this.armed.delete(node);
    // A stale buffer cshare cannot merge from, or over a save it has not recorded yet, would be
    // the editor's loss (see saveEditor): the editor reloaded then.
    let stale = armed.kind === 'editor' && recordedOnDisk(node, rel, utf8.decode(node.fs.readFile(rel))) ? this.editorsOf(node).get(rel) : undefined;
    if (stale !== undefined && !knownVersion(node, gitBlobId(enc.encode(stale)))) stale = undefined;
    const base = point === 'oldInode' ? utf8.decode(old) : stale;
    const before = base ?? utf8.decode(node.fs.readFile(rel));
    const line = this.line(node, rel, `${point} ${armed.kind}`);
    this.pending.push({ node, path: rel, line });
    this.w.log(`${node.name}: a save lands in ${rel} at ${point} (${armed.kind}${base !== undefined && point !== 'oldInode' ? ', stale buffer' : ''})`);
    this.w.count(`saves:during:${point}`);
    if (point === 'oldInode') return enc.encode(before + line);
    if (stale !== undefined) this.editorsOf(node).set(rel, before + line);
    this.write(node, rel, before + line, armed.kind !== 'rename');
    return undefined;
  }

  /** `node`'s process crashed: saves it held only in memory are gone (see the header). */
  crashed(node: FuzzNode): void {
    this.pending = this.pending.filter((p) => {
      if (p.node !== node) return true;
      const disk = node.fs.lstat(p.path)?.kind === 'file' ? utf8.decode(node.fs.readFile(p.path)) : '';
      if (disk.split('\n').includes(p.line.slice(0, -1))) return false; // recorded and written back
      this.lines.get(p.path)?.delete(p.line);
      this.w.log(`  (lost with the crash: ${p.line.slice(0, -1)} in ${p.path})`);
      this.w.count('saves:lostInCrashWindow');
      return false;
    });
  }

  /** An undo or redo on a replica changed `path`: its lines are not counted. */
  undone(path: string): void {
    if (!SaveWorld.isJournal(path) || !this.lines.has(path)) return;
    this.tainted.add(path);
    this.w.count('saves:undoneFiles');
  }

  /** A late save reached a process that had crashed: counted (its line was dropped at the crash). */
  lateSaveLost(): void {
    this.w.count('saves:lateLostToCrash');
  }

  /**
   * Fails unless every line saved to each journal file is in it exactly once, on every replica.
   * With different rules, a replica may hold a file of its own at the path, never shared (its
   * rules ignore it there, as `checkSharedFiles` allows: an ignore rule the user wrote, a `*`,
   * is kept whatever a peer's merge does to the rule file, and a peer's file at the path never
   * replaces it): that copy is not compared, and the lines saved into it there may never have
   * left (fuzz seed 6352490 with all features: the sharer's own `.gitignore` held `*`).
   */
  check(): void {
    for (const [path, lines] of this.lines) {
      if (this.tainted.has(path) || lines.size === 0) continue;
      const own = this.opts.rules ? this.w.nodes.filter((n) => n.fs.lstat(path)?.kind === 'file' && !storeMap(n).has(`s:${path}`)) : [];
      if (own.length > 0) this.w.count('saves:filesKeptUnshared');
      for (const node of this.w.nodes) {
        if (own.includes(node)) continue;
        const st = node.fs.lstat(path);
        if (st?.kind !== 'file') this.w.fail(`journal ${path} is missing on ${node.name} (${lines.size} saved lines)`);
        const counts = new Map<string, number>();
        for (const l of utf8.decode(node.fs.readFile(path)).split('\n')) counts.set(l, (counts.get(l) ?? 0) + 1);
        for (const [line, who] of lines) {
          if (own.some((n) => who.startsWith(`${n.name},`))) continue;
          const n = counts.get(line.slice(0, -1)) ?? 0;
          if (n !== 1) this.w.fail(`${n === 0 ? 'lost save' : `save found ${n} times`}: "${line.slice(0, -1)}" (${who}) in ${path} on ${node.name}`);
        }
      }
      this.w.count('saves:filesChecked');
      this.w.count(`saves:linesChecked`);
    }
  }

  /** A new unique line saved to `path` by `node`, registered for the oracle. */
  private line(node: FuzzNode, path: string, how: string): string {
    const k = this.nextLine++;
    const line = `#${k} ${node.name} ${this.w.xrng.pick(WORDS)}\n`;
    let byPath = this.lines.get(path);
    if (!byPath) this.lines.set(path, (byPath = new Map()));
    byPath.set(line, `${node.name}, ${how}`);
    return line;
  }

  private write(node: FuzzNode, path: string, text: string, inPlace: boolean): void {
    if (inPlace) node.fs.writeInPlace(path, enc.encode(text));
    else node.fs.writeFile(path, enc.encode(text));
    this.w.touch(node, path);
  }

  private pickJournal(node: FuzzNode): string | undefined {
    const files = node.fs.files().filter((p) => SaveWorld.isJournal(p) && node.fs.lstat(p)?.kind === 'file');
    return files.length === 0 ? undefined : this.w.xrng.pick(files);
  }

  private editorsOf(node: FuzzNode): Map<string, string> {
    let m = this.editors.get(node);
    if (!m) this.editors.set(node, (m = new Map()));
    return m;
  }
}

/**
 * Does cshare know what the disk holds at `path` (its stat cache says so: it recorded or wrote
 * `text` there)? A save it has not recorded yet is not (the watcher fires when the driver says,
 * and a scan may wait behind a catch-up).
 */
function recordedOnDisk(node: FuzzNode, path: string, text: string): boolean {
  const cached = storeMap(node).get(`s:${path}`);
  return cached !== undefined && (JSON.parse(utf8.decode(cached)) as { digest?: string }).digest === gitBlobId(enc.encode(text));
}

/** Is the text with `digest` one cshare noted as a version of some file here (or the recorded text of one)? */
function knownVersion(node: FuzzNode, digest: string): boolean {
  for (const [key, value] of storeMap(node)) {
    if (key.startsWith('d:') && utf8.decode(value) === digest) return true;
    if (key.startsWith('v:') && utf8.decode(value).includes(`"d":"${digest}"`)) return true;
  }
  return false;
}
