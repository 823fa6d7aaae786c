/**
 * A fake of the editor server's host (src/editor/ports.ts) for its unit tests: files as
 * strings, live docs that deliver each other's edits, a remote peer that edits, a presence hub
 * that records what is published.
 */
import { CshareError } from '../../src/core/errors.js';
import type { TextOp } from '../../src/core/hunkDiff.js';
import { diffToOps } from '../../src/core/textDiff.js';
import type { TextEdit } from '../../src/core/textEdits.js';
import type { ConnectionState, EditorHost, LiveDoc, LiveListener, PeerInfo, PresencePort, PresenceState } from '../../src/editor/ports.js';

class FakeLive implements LiveDoc {
  state: 'live' | 'waiting';
  text: string;
  closed = false;

  constructor(
    private readonly host: FakeHost,
    readonly path: string,
    readonly listener: LiveListener,
  ) {
    const t = host.files.get(path);
    this.state = t === undefined ? 'waiting' : 'live';
    this.text = t ?? '';
  }

  edit(plan: () => readonly TextEdit[]): Promise<void> {
    const edits = [...plan()].sort((a, b) => a.from - b.from);
    let text = this.host.files.get(this.path)!;
    const ops: TextOp[] = [];
    let shift = 0;
    for (const e of edits) {
      ops.push({ pos: e.from + shift, del: text.slice(e.from, e.to), ins: e.insert });
      shift += e.insert.length - (e.to - e.from);
    }
    for (const e of [...edits].reverse()) text = text.slice(0, e.from) + e.insert + text.slice(e.to);
    this.host.files.set(this.path, text);
    this.host.edits.push({ path: this.path, edits });
    if (ops.length) this.host.deliver(this.path, ops, this);
    return Promise.resolve();
  }

  reconcile(text: string): Promise<readonly TextOp[]> {
    // The fake merges by taking the buffer's text.
    const before = this.host.files.get(this.path)!;
    this.host.files.set(this.path, text);
    this.host.deliver(this.path, diffToOps(before, text), this);
    return Promise.resolve([]);
  }

  saved(text: string): void {
    this.host.saved.push({ path: this.path, text });
  }

  relativePosition(offset: number): Uint8Array {
    return Uint8Array.of(offset & 0xff, offset >> 8);
  }

  absolutePosition(rel: Uint8Array): number | undefined {
    return rel.length === 2 ? rel[0]! + (rel[1]! << 8) : undefined;
  }

  close(): Promise<void> {
    this.closed = true;
    this.host.lives.delete(this);
    return Promise.resolve();
  }
}

class FakeHub implements PresencePort {
  readonly published: (PresenceState | null)[] = [];
  list: PeerInfo[] = [];
  private readonly listeners = new Set<(p: readonly PeerInfo[]) => void>();

  publish(state: PresenceState | null): void {
    this.published.push(state);
  }

  peers(): PeerInfo[] {
    return this.list;
  }

  onChange(listener: (peers: readonly PeerInfo[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  set(peers: PeerInfo[]): void {
    this.list = peers;
    for (const l of this.listeners) l(peers);
  }
}

export class FakeHost implements EditorHost {
  readonly files = new Map<string, string>();
  readonly lives = new Set<FakeLive>();
  readonly edits: { path: string; edits: TextEdit[] }[] = [];
  readonly saved: { path: string; text: string }[] = [];
  readonly presence = new FakeHub();
  replicaId = 'r-test';
  name = 'tester';
  role = 'sharer' as const;
  /** Makes openLive wait (to back the queue up). */
  openGate: Promise<void> | undefined;
  undone: (string | undefined)[] = [];

  constructor(
    readonly root: string,
    readonly readOnly = false,
  ) {}

  async openLive(opts: { path: string; origin: string; listener: LiveListener }): Promise<LiveDoc> {
    if (opts.path.startsWith('ignored/')) throw new CshareError('BAD_PATH', `${opts.path} is ignored`);
    await this.openGate;
    const live = new FakeLive(this, opts.path, opts.listener);
    this.lives.add(live);
    return live;
  }

  /** `path` arrives with `text` (from a peer, or a save recorded): its waiting docs turn live. */
  arrive(path: string, text: string): void {
    this.files.set(path, text);
    for (const l of this.lives) {
      if (l.path !== path || l.state !== 'waiting') continue;
      l.state = 'live';
      l.text = text;
      l.listener.arrived(text);
    }
  }

  /** A remote peer's edit of `path`. */
  remote(path: string, op: TextOp): void {
    const t = this.files.get(path)!;
    this.files.set(path, t.slice(0, op.pos) + op.ins + t.slice(op.pos + op.del.length));
    this.deliver(path, [op]);
  }

  deliver(path: string, ops: TextOp[], except?: FakeLive): void {
    for (const l of this.lives) if (l.path === path && l !== except) l.listener.changed(ops);
  }

  undo(path: string | undefined): Promise<{ changed: string[] }> {
    this.undone.push(path);
    return Promise.resolve({ changed: path ? [path] : [] });
  }

  redo(path: string | undefined): Promise<{ changed: string[] }> {
    return this.undo(path);
  }

  connection(): ConnectionState {
    return 'online';
  }

  onConnection(): () => void {
    return () => undefined;
  }
}
