/**
 * The saves of a chaos run, made directly on the worktrees' disks (as an editor would, while
 * the side's cshare process runs or while it is down), and the model the final check needs.
 *
 * Files fall into four groups, so that every group has a property that can be checked:
 *
 * - `t/*.txt`, shared text: every side inserts marker lines at random line boundaries, often
 *   the same file on two sides at the same moment. Never deleted or renamed, and nothing but
 *   inserts: a marker, once recorded, has no legitimate way to leave the file. Each save's
 *   marker line holds one code point used by no other save ({@link MarkerAlphabet}), so
 *   whichever recorded change carries it can be found in the saver's history whatever shape
 *   the text diff took (a character that was not in the old text can only come from an insert).
 * - `o/<side>/`, owned files: created, edited, overwritten with binary content, renamed,
 *   deleted and chmod'ed by their owner only. No one else touches them, so the final state of
 *   these paths must equal exactly what the owner's disk was left with.
 * - `s/*.bin`, shared binaries: written by every side (concurrently too), never deleted; the
 *   final content must be one of the versions written.
 * - `x/`, a free-for-all: any side creates, overwrites, renames over and deletes any of a few
 *   paths. Concurrent delete/rename/edit has no simple expected result, so only convergence
 *   is checked there.
 *
 * A save is written in place (truncate and write) or atomically (a temporary file outside the
 * worktree, then rename), at random, as editors do both.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Prng } from '../../../src/sync/prng.js';
import { SIDES, type Side } from './ChaosCluster.js';

/** One marker save of a shared text file. */
export interface MarkerSave {
  id: number;
  side: Side;
  path: string;
  /** The code point no other save uses. */
  char: string;
  atMs: number;
  /** The side's process was down (an offline edit). */
  offline: boolean;
  /** Saved in the same tick as a save of the same file on another side. */
  concurrent: boolean;
}

/** An owned file as its owner's disk holds it. */
export interface OwnedFile {
  data: Buffer;
  exec: boolean;
}

/**
 * Code points for markers, one per save: CJK ideographs and Hangul syllables, all in the
 * Basic Multilingual Plane (one UTF-16 unit each, so no diff splits one), none of which any
 * other content of the run uses.
 */
export class MarkerAlphabet {
  private static readonly RANGES: [number, number][] = [
    [0x4e00, 0x9fff],
    [0x3400, 0x4dbf],
    [0xac00, 0xd7a3],
  ];
  private next = 0;

  /** The next unused code point; throws when all ~38,000 are used. */
  take(): string {
    let n = this.next++;
    for (const [lo, hi] of MarkerAlphabet.RANGES) {
      if (n <= hi - lo) return String.fromCodePoint(lo + n);
      n -= hi - lo + 1;
    }
    throw new Error('marker alphabet exhausted: make fewer saves per run');
  }
}

const SHARED_TEXT_MAX_LINES = 150;
const SHARED_TEXT_FILES_MAX = 16;
const OWNED_FILES_MAX = 12;
const SHARED_BINARIES = 3;
const FREE_PATHS = 8;

/** Counters printed at the end. */
export type SaveCounts = Record<'saves' | 'markers' | 'concurrentPairs' | 'sharedCreates' | 'ownedCreates' | 'ownedEdits' | 'binaryWrites' | 'renames' | 'deletes' | 'chmods' | 'freeOps' | 'offlineSaves' | 'staleRetries', number>;

export class ChaosDriver {
  readonly markers: MarkerSave[] = [];
  readonly owned: Record<Side, Map<string, OwnedFile>> = { alice: new Map(), bob: new Map(), carol: new Map() };
  /** Every version written to each shared binary (sha1 hex). */
  readonly binaryVersions = new Map<string, Set<string>>();
  /** Shared text files, by the side that created them. */
  readonly sharedText = new Map<string, Side>();
  readonly counts: SaveCounts = { saves: 0, markers: 0, concurrentPairs: 0, sharedCreates: 0, ownedCreates: 0, ownedEdits: 0, binaryWrites: 0, renames: 0, deletes: 0, chmods: 0, freeOps: 0, offlineSaves: 0, staleRetries: 0 };
  readonly alphabet = new MarkerAlphabet();
  private serial = 0;

  constructor(
    private readonly rng: Prng,
    private readonly roots: Record<Side, string>,
    private readonly scratch: string,
    private readonly isUp: (side: Side) => boolean,
    private readonly now: () => number,
  ) {
    mkdirSync(scratch, { recursive: true });
  }

  /** Alice's worktree before the first share: a few shared text files and owned files. */
  seed(root: string): void {
    mkdirSync(join(root, 't'), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const path = `t/common-${i}.txt`;
      writeFileSync(abs(root, path), `# shared file ${i}\n`);
      this.sharedText.set(path, 'alice');
    }
    for (let i = 0; i < 3; i++) this.ownedCreate('alice', root, i === 2);
    writeFileSync(abs(root, 'README.md'), '# chaos\n');
    for (const k of Object.keys(this.counts) as (keyof SaveCounts)[]) this.counts[k] = 0;
  }

  /** Makes one random save (sometimes the same file on two sides at once). */
  step(): string {
    const side = this.rng.pick(SIDES);
    const r = this.rng.next();
    if (r < 0.45) return this.markerSave(side);
    if (r < 0.5) return this.sharedCreate(side);
    if (r < 0.75) return this.ownedOp(side);
    if (r < 0.85) return this.binaryWrite(side);
    return this.freeOp(side);
  }

  private markerSave(side: Side): string {
    const onDisk = [...this.sharedText.keys()].filter((p) => this.lines(side, p) !== undefined);
    const open = onDisk.filter((p) => this.lines(side, p)!.length < SHARED_TEXT_MAX_LINES);
    if (open.length === 0) return this.sharedCreate(side);
    const path = this.rng.pick(open);
    const others = SIDES.filter((s) => s !== side && this.lines(s, path) !== undefined);
    const concurrent = others.length > 0 && this.rng.chance(0.3);
    this.insertMarker(side, path, concurrent);
    if (!concurrent) return `marker ${side} ${path}`;
    const other = this.rng.pick(others);
    this.insertMarker(other, path, true);
    this.counts.concurrentPairs++;
    return `marker ${side}+${other} ${path} (concurrent)`;
  }

  private insertMarker(side: Side, path: string, concurrent: boolean): void {
    const char = this.alphabet.take();
    const id = this.markers.length;
    const at = this.rng.int(this.lines(side, path)!.length + 1);
    // Like an editor that reloads a file changed on disk before saving over it: if cshare
    // wrote a remote change between this read and the save, read again and redo the edit.
    // Saving the stale text would delete that change (a real user action, but not one the
    // checks can tell from a lost save: shared text is only ever inserted into here).
    for (let attempt = 0; ; attempt++) {
      const read = existsSync(abs(this.roots[side], path)) ? readFileSync(abs(this.roots[side], path)) : Buffer.alloc(0);
      const lines = read.toString('utf8').split('\n');
      if (lines.at(-1) === '') lines.pop();
      lines.splice(Math.min(at, lines.length), 0, `${side[0]}${id} ${char}`);
      if (this.write(side, path, Buffer.from(`${lines.join('\n')}\n`), attempt < 5 ? read : undefined) !== 'stale') break;
      this.counts.staleRetries++;
    }
    this.markers.push({ id, side, path, char, atMs: this.now(), offline: !this.isUp(side), concurrent });
    this.counts.markers++;
  }

  /** A new shared text file (its name is the creator's, so two creates never collide). */
  private sharedCreate(side: Side): string {
    if (this.sharedText.size >= SHARED_TEXT_FILES_MAX) return this.ownedOp(side);
    const path = `t/${side}-${this.serial++}.txt`;
    this.sharedText.set(path, side);
    this.write(side, path, Buffer.from(`# created by ${side}\n`));
    this.counts.sharedCreates++;
    this.insertMarker(side, path, false);
    return `create ${side} ${path}`;
  }

  private ownedOp(side: Side): string {
    const files = [...this.owned[side].keys()];
    const root = this.roots[side];
    if (files.length === 0 || (files.length < OWNED_FILES_MAX && this.rng.chance(0.25))) return `owned-create ${side} ${this.ownedCreate(side, root, this.rng.chance(0.4))}`;
    const path = this.rng.pick(files);
    const r = this.rng.next();
    if (r < 0.4) {
      const binary = this.rng.chance(0.4);
      this.write(side, path, binary ? this.binaryBytes() : this.asciiText());
      this.counts.ownedEdits++;
      if (binary) this.counts.binaryWrites++;
      this.noteOwned(side, path);
      return `owned-edit ${side} ${path}${binary ? ' (binary)' : ''}`;
    }
    if (r < 0.65) {
      const to = this.ownedName(side, this.rng.chance(0.5));
      this.rename(side, path, to);
      this.owned[side].delete(path);
      this.noteOwned(side, to);
      return `owned-rename ${side} ${path} -> ${to}`;
    }
    if (r < 0.85) {
      this.remove(side, path);
      this.owned[side].delete(path);
      return `owned-delete ${side} ${path}`;
    }
    const f = this.owned[side].get(path)!;
    chmodSync(abs(root, path), f.exec ? 0o644 : 0o755);
    this.counts.chmods++;
    this.noteSave(side);
    this.noteOwned(side, path);
    return `owned-chmod ${side} ${path}`;
  }

  private ownedCreate(side: Side, root: string, binary: boolean): string {
    const path = this.ownedName(side, false);
    mkdirSync(dirname(abs(root, path)), { recursive: true });
    writeFileSync(abs(root, path), binary ? this.binaryBytes() : this.asciiText());
    this.counts.ownedCreates++;
    if (binary) this.counts.binaryWrites++;
    this.noteSave(side);
    this.noteOwned(side, path);
    return path;
  }

  private ownedName(side: Side, nested: boolean): string {
    return `o/${side}/${nested ? `d${this.rng.int(3)}/` : ''}f${this.serial++}${this.rng.chance(0.5) ? '.txt' : '.dat'}`;
  }

  private noteOwned(side: Side, path: string): void {
    const p = abs(this.roots[side], path);
    this.owned[side].set(path, { data: readFileSync(p), exec: (lstatSync(p).mode & 0o111) !== 0 });
  }

  private binaryWrite(side: Side): string {
    const path = `s/b${this.rng.int(SHARED_BINARIES)}.bin`;
    const sides = this.rng.chance(0.3) ? [side, this.rng.pick(SIDES.filter((s) => s !== side))] : [side];
    for (const s of sides) {
      const bytes = this.binaryBytes();
      const versions = this.binaryVersions.get(path) ?? new Set<string>();
      versions.add(sha1(bytes));
      this.binaryVersions.set(path, versions);
      // An in-place save truncates first: for a moment the file is empty, and a scan that
      // reads it then records that state, which a remote apply may then write back over the
      // rest of the save (an unacknowledged save lost in the apply window; see the report).
      if (this.write(s, path, bytes)) versions.add(sha1(new Uint8Array()));
      this.counts.binaryWrites++;
    }
    if (sides.length > 1) this.counts.concurrentPairs++;
    return `binary ${sides.join('+')} ${path}`;
  }

  private freeOp(side: Side): string {
    this.counts.freeOps++;
    try {
      return this.freeOpUnguarded(side);
    } catch (err) {
      // The side's cshare may move or delete the file between the check and the save (a
      // remote change applied): the save did not happen.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return `free-skipped ${side} (file gone meanwhile)`;
      throw err;
    }
  }

  private freeOpUnguarded(side: Side): string {
    const root = this.roots[side];
    const path = `x/f${this.rng.int(FREE_PATHS)}`;
    if (!existsSync(abs(root, path))) {
      this.write(side, path, this.rng.chance(0.3) ? this.binaryBytes() : this.asciiText());
      return `free-create ${side} ${path}`;
    }
    const r = this.rng.next();
    if (r < 0.4) {
      this.write(side, path, this.rng.chance(0.3) ? this.binaryBytes() : this.asciiText());
      return `free-edit ${side} ${path}`;
    }
    if (r < 0.7) {
      const to = `x/f${this.rng.int(FREE_PATHS)}`;
      if (to === path) return `free-noop ${side}`;
      this.rename(side, path, to);
      return `free-rename ${side} ${path} -> ${to}`;
    }
    this.remove(side, path);
    return `free-delete ${side} ${path}`;
  }

  /** The lines of a shared text file on `side`'s disk (undefined if it is not there). */
  private lines(side: Side, path: string): string[] | undefined {
    const p = abs(this.roots[side], path);
    if (!existsSync(p)) return undefined;
    const text = readFileSync(p, 'utf8');
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines;
  }

  /**
   * Writes a file in place or atomically; returns whether it was in place. With `unless`, the
   * file is read again just before the write and left alone ('stale') if it no longer holds
   * those bytes.
   */
  private write(side: Side, path: string, data: Buffer, unless?: Buffer): boolean | 'stale' {
    const p = abs(this.roots[side], path);
    mkdirSync(dirname(p), { recursive: true });
    const inPlace = this.rng.chance(0.5);
    // Checked right before the write itself, to keep the window for a stale save small.
    const stale = () => unless !== undefined && !(existsSync(p) && readFileSync(p).equals(unless));
    if (inPlace) {
      if (stale()) return 'stale';
      writeFileSync(p, data);
    } else {
      // Like an editor's atomic save: the new version is renamed over the old one (a new
      // inode, default mode: the exec bit of an owned file is re-read by noteOwned).
      const tmp = join(this.scratch, `save-${this.serial++}`);
      writeFileSync(tmp, data);
      if (stale()) {
        rmSync(tmp);
        return 'stale';
      }
      renameSync(tmp, p);
    }
    this.noteSave(side);
    return inPlace;
  }

  private rename(side: Side, from: string, to: string): void {
    const root = this.roots[side];
    mkdirSync(dirname(abs(root, to)), { recursive: true });
    renameSync(abs(root, from), abs(root, to));
    this.counts.renames++;
    this.noteSave(side);
  }

  private remove(side: Side, path: string): void {
    rmSync(abs(this.roots[side], path));
    this.counts.deletes++;
    this.noteSave(side);
  }

  /** Every write, rename, delete or chmod on one side is one save. */
  private noteSave(side: Side): void {
    this.counts.saves++;
    if (!this.isUp(side)) this.counts.offlineSaves++;
  }

  private asciiText(): Buffer {
    const n = 1 + this.rng.int(20);
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(`line ${this.rng.int(1e6)} ${'abcdefgh'.slice(0, this.rng.int(8))}`);
    return Buffer.from(`${lines.join('\n')}\n`);
  }

  /** Random bytes with a NUL (binary), mostly small, now and then over a megabyte (chunked). */
  private binaryBytes(): Buffer {
    // At least 8 bytes: the NUL and the serial number below (a 1–3 byte file failed the save).
    const size = this.rng.chance(0.03) ? 1_100_000 + this.rng.int(400_000) : 8 + this.rng.int(20_000);
    const b = Buffer.from(this.rng.bytes(Math.min(size, 4096)));
    const out = Buffer.alloc(size);
    for (let o = 0; o < size; o += b.length) b.copy(out, o, 0, Math.min(b.length, size - o));
    out[0] = 0;
    // Distinct content per save even when the random prefix repeats.
    out.writeUInt32LE(this.serial++ >>> 0, 4);
    return out;
  }

}

function abs(root: string, rel: string): string {
  return join(root, rel);
}

/** Hex SHA-1 of `bytes`. */
export function sha1(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex');
}
