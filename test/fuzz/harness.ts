/**
 * The convergence fuzzer's world and driver: replicas and a relay wired exactly as `share`
 * and `join` wire them (Replica + SyncLoop + hello + SyncSession, RelayStore + RelayService),
 * over the simulated network and stores of `sim.ts`, driven by one seeded PRNG.
 *
 * See `convergence.test.ts` for the fault model and the properties checked.
 */
import { createHash } from 'node:crypto';
import * as Y from 'yjs';
import { CshareError, toCshareError } from '../../src/core/errors.js';
import type { KvBatchOp } from '../../src/core/ports.js';
import { Replica } from '../../src/core/Replica.js';
import { jsonBytes } from '../../src/core/ReplicaStore.js';
import { helloAsJoiner, helloAsSharer } from '../../src/sync/hello.js';
import { worktreeIdToString, type ShareSecrets } from '../../src/sync/joinCode.js';
import { Prng } from '../../src/sync/prng.js';
import { RelayService } from '../../src/sync/relay/RelayService.js';
import { RelayStore } from '../../src/sync/relay/RelayStore.js';
import { SyncLoop } from '../../src/sync/SyncLoop.js';
import type { SyncState } from '../../src/sync/SyncSession.js';
import type { MemClock } from '../helpers/MemFs.js';
import { checkConvergence, manifestSets } from './checks.js';
import { FuzzFs, ProcFs } from './FuzzFs.js';
import { RuleWorld } from './rules.js';
import { SaveWorld } from './saves.js';
import { SimKv, SimLink, type Activity } from './sim.js';
import { kvMap, storeMap, type Features, type FuzzNode, type Proc, type WorldView } from './world.js';
import { cshareConnection, type CshareConnection } from '../../src/sync/connection.js';

/** Knobs of one run; the defaults are what CI runs. */
export interface FuzzOptions {
  /** Random actions before the faults are healed. */
  steps?: number;
  /** Replicas (3-5 unless given). */
  replicas?: number;
  /** Print each action as it happens. */
  verbose?: boolean;
  /**
   * Also put each replica's store writes that matter for a diagnosis in the trace: op entries,
   * manifest updates (with the clock they reach), the seq counter and the sync state.
   */
  traceStore?: boolean;
  /**
   * Which optional behaviours to use (see {@link Features}); each not given is drawn per seed.
   * {@link LEGACY} replays a seed as the fuzzer ran before they existed.
   */
  features?: Partial<Features>;
}

/** A failed property, with the seed and the tail of the trace. */
export class FuzzFailure extends Error {
  constructor(
    readonly seed: number,
    readonly reason: string,
    readonly trace: string[],
  ) {
    super(`convergence fuzz failed for seed ${seed}: ${reason}\n  replay: npm run fuzz -- --seed ${seed}\n  last actions:\n    ${trace.slice(-40).join('\n    ')}`);
  }
}

/** What a passing run did, for the summary and the determinism check. */
export interface FuzzResult {
  seed: number;
  steps: number;
  trace: string[];
  /** The final worktree, equal on every replica. */
  final: string;
  /** A hash of every replica's final store and of the run's counters: equal on a replay. */
  fingerprint: string;
  stats: Record<string, number>;
}

/** Errors a sync loop may report while the network and the relay misbehave. */
const TRANSIENT = new Set(['CONNECTION_CLOSED', 'OVERLOADED', 'NOT_FOUND']);

interface RelayProc {
  store: RelayStore;
  service: RelayService;
  links: Set<SimLink>;
  crashAtWrite?: number;
}

const DIRS = ['', 'src/', 'src/lib/', 'docs/'];
const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'];
const WORDS = ['alpha', 'beta', 'gamma', 'delta', '{', '}', 'x = 1;', '// note', 'é', '日本', ''];

/** One seeded run: build the world, act randomly with faults, heal, check. */
export class World implements WorldView {
  readonly rng: Prng;
  /** The optional behaviours' random source: without them, `rng` draws what it always drew. */
  readonly xrng: Prng;
  readonly features: Features;
  readonly trace: string[] = [];
  readonly stats: Record<string, number> = {};
  private readonly activity: Activity = { n: 0 };
  private readonly clock: MemClock = { now: 1_000_000_000_000 };
  readonly nodes: FuzzNode[] = [];
  private readonly rules: RuleWorld | undefined;
  private readonly saves: SaveWorld | undefined;
  private readonly relayKv: SimKv;
  private relay: RelayProc | undefined;
  private readonly secrets: ShareSecrets;
  private readonly worktreeId: string;
  private links: SimLink[] = [];
  private nextLink = 1;
  private epochs = 0;
  /** Virtual time (ms) for reconnect back-off. */
  private time = 0;
  private timers: { at: number; fire: () => void }[] = [];
  private failure: string | undefined;

  constructor(
    readonly seed: number,
    private readonly opts: FuzzOptions = {},
  ) {
    this.rng = new Prng(seed);
    this.xrng = new Prng(seed ^ 0x2545f491);
    const given = opts.features ?? {};
    this.features = {
      rules: given.rules ?? this.xrng.chance(0.5),
      saves: given.saves ?? this.xrng.chance(0.6),
      creates: given.creates ?? this.xrng.chance(0.5),
    };
    this.rules = this.features.rules ? new RuleWorld(this) : undefined;
    this.saves = this.features.saves || this.features.creates ? new SaveWorld(this, this.features) : undefined;
    this.relayKv = new SimKv(this.activity);
    this.secrets = { worktreeId: this.rng.bytes(16), readWrite: this.rng.bytes(16), readOnly: this.rng.bytes(16) };
    this.worktreeId = worktreeIdToString(this.secrets.worktreeId);
    const n = opts.replicas ?? 3 + this.rng.int(3);
    for (let i = 0; i < n; i++) {
      const node: FuzzNode = {
        index: i, name: i === 0 ? 'sharer' : `joiner${i}`, role: i === 0 ? 'sharer' : 'joiner',
        fs: new FuzzFs(`/mem/r${i}`, this.clock), kv: new SimKv(this.activity),
        clientId: 1000 + i * 7919 + this.rng.int(1000), replicaId: `r${i}${Buffer.from(this.rng.bytes(6)).toString('hex')}`,
        partitioned: false, joined: false, dirty: false, touched: new Set(), ledger: [], acked: -Infinity, privateUpTo: -Infinity, userRemoved: new Set(),
      };
      const saves = this.saves;
      if (saves) node.fs.hook = (point, rel, old) => saves.hook(node, point, rel, old);
      this.nodes.push(node);
    }
  }

  /** Are the optional behaviours all off (the fuzzer as it was before them)? */
  private get legacy(): boolean {
    return !this.features.rules && !this.features.saves && !this.features.creates;
  }

  log(line: string): void {
    this.trace.push(line);
    if (this.opts.verbose) process.stdout.write(`${line}\n`);
  }

  count(what: string): void {
    this.stats[what] = (this.stats[what] ?? 0) + 1;
  }

  fail(reason: string): never {
    throw new FuzzFailure(this.seed, reason, this.trace);
  }

  /** Lets every microtask and RPC outbox tick run until nothing more happens. */
  private async settle(): Promise<void> {
    for (let quiet = 0, turns = 0; quiet < 3; turns++) {
      if (turns > 20_000) this.fail('the world never went quiet (livelock)');
      const before = this.activity.n;
      await new Promise<void>((resolve) => setImmediate(resolve));
      quiet = this.activity.n === before ? quiet + 1 : 0;
    }
    if (this.failure) this.fail(this.failure);
  }

  // -------------------------------------------------------------------------------------------
  // The relay

  private startRelay(): void {
    const kv = this.relayKv.open({
      beforeWrite: () => {
        const r = this.relay;
        if (r?.crashAtWrite !== undefined && --r.crashAtWrite <= 0) this.crashRelay('mid-write');
      },
    });
    const store = new RelayStore(kv);
    // A fetch waits for an offered upload as long as the offerer is connected: no wall clock.
    const service = new RelayService({ store, relayId: 'relay-fuzz', needTimeoutMs: 2_000_000_000, sessions: { helloTimeoutMs: 2_000_000_000 } });
    this.relay = { store, service, links: new Set() };
    this.log('relay up');
  }

  private crashRelay(why: string): void {
    const r = this.relay;
    if (!r) return;
    this.relay = undefined;
    this.relayKv.crash();
    for (const link of r.links) link.break(0, 0);
    this.log(`relay crash (${why})`);
    this.count('relayCrashes');
  }

  // -------------------------------------------------------------------------------------------
  // Replica processes

  private async connect(node: FuzzNode, proc: Proc, signal: AbortSignal): Promise<{ conn: CshareConnection; access: 'rw' | 'ro' }> {
    signal.throwIfAborted();
    const relay = this.relay;
    if (!relay || node.partitioned || node.proc !== proc) throw new CshareError('CONNECTION_CLOSED', 'cannot reach the relay (simulated)');
    const link = new SimLink(this.nextLink++, node.index, this.activity);
    this.links.push(link);
    relay.links.add(link);
    proc.links.add(link);
    const server = cshareConnection(link.server, { peer: `${node.name}#${link.id}` });
    // The node's peer id (a replica id is bound to the peer that first used it).
    relay.service.attach(server, { id: node.name });
    // No request timeout: a request that never gets an answer is a liveness bug the final
    // quiescence check reports, deterministically, instead of a wall-clock timer.
    const conn = cshareConnection(link.client, { peer: 'relay', requestTimeoutMs: Infinity });
    try {
      const replica = proc.replica!;
      const hello =
        node.role === 'sharer'
          ? await helloAsSharer(conn, { replica, worktreeId: this.worktreeId, secrets: this.secrets, name: 'fuzz', signal })
          : await helloAsJoiner(conn, { replica, worktreeId: this.worktreeId, secret: this.secrets.readWrite, signal });
      return { conn, access: hello.access! };
    } catch (err) {
      conn.close();
      throw err;
    }
  }

  /** Starts a replica process the way `share`/`join` do (with `--yes`, no watcher). */
  private async startReplica(node: FuzzNode): Promise<void> {
    const epoch = ++this.epochs;
    const saves = this.saves;
    const fs = new ProcFs(node.fs, {
      // As `NodeFs` writes (see `FuzzFs`); the fuzzer without its optional parts ran without.
      guarded: !this.legacy,
      before: saves && ((rel) => void saves.hook(node, 'call', rel)),
      later: (fn) =>
        setImmediate(() => {
          this.activity.n++;
          fn();
        }),
      onLost: () => saves?.lateSaveLost(),
    });
    const proc: Proc = { epoch, stop: new AbortController(), fs, links: new Set(), applying: 0 };
    node.proc = proc;
    const own = /^(m:u:\d{12}(\.(?!r\d+$)[^.]+)?|f:[^:]+:u:\d{12}\.(?!r\d+$).+)$/;
    const kv = node.kv.open({
      beforeWrite: () => {
        if (proc.crashAtWrite !== undefined && --proc.crashAtWrite <= 0) this.crashReplica(node, 'mid-write');
      },
      onBatch: (ops: readonly KvBatchOp[]) => {
        if (this.opts.traceStore) this.traceBatch(node, epoch, ops);
        this.checkRemovals(node, ops);
        for (const op of ops) {
          if (op.type !== 'put' || !own.test(op.key)) continue;
          const clock = Y.parseUpdateMeta(op.value).to.get(node.clientId);
          const doc = op.key.startsWith('m:') ? 'm' : op.key.slice(2, op.key.indexOf(':', 2));
          const seq = Number(op.key.slice(op.key.indexOf(':u:') + 3, op.key.indexOf(':u:') + 15));
          if (clock !== undefined) node.ledger.push({ doc, seq, clock });
        }
      },
    });
    this.log(`${node.name} start (epoch ${epoch})`);
    try {
      // The identity a first start would draw at random, drawn from the seed instead.
      if (!(await kv.get('meta:replica'))) await kv.put('meta:replica', jsonBytes({ replicaId: node.replicaId, clientId: node.clientId, name: node.name }));
      const replica = await Replica.open({ fs: proc.fs, kv, env: { USER: node.name }, home: '/mem/home', now: () => this.clock.now, settleEmptiedMs: 0 });
      proc.replica = replica;
      // A save may be made to land inside an apply (see `saves.ts`): the process knows when one runs.
      const apply = replica.applyChanges.bind(replica);
      replica.applyChanges = (changes, origin, o) => {
        proc.applying++;
        return apply(changes, origin, o).finally(() => proc.applying--);
      };
      let state: SyncState;
      let firstJoin = false;
      const metaName = node.role === 'sharer' ? 'share' : 'join';
      const saved = await replica.getMeta<SyncState>(metaName);
      if (saved) state = { relaySeq: saved.relaySeq, acked: saved.acked };
      else if (node.role === 'sharer') {
        state = { relaySeq: 0, acked: -1 };
        await replica.putMeta(metaName, state);
      } else {
        await replica.detachLocalFiles();
        firstJoin = true;
        state = { relaySeq: 0, acked: replica.seq };
        node.privateUpTo = Math.max(node.privateUpTo, replica.seq);
        await replica.putMeta(metaName, state);
      }
      node.joined = true;
      const saveState = async (s: SyncState) => {
        await replica.putMeta(metaName, { relaySeq: s.relaySeq, acked: s.acked });
        if (node.proc === proc) node.acked = Math.max(node.acked, s.acked);
      };
      const loop = new SyncLoop({
        replica, worktreeId: this.worktreeId, state, saveState, signal: proc.stop.signal, firstCatchUpWithoutScan: firstJoin,
        connect: (signal) => this.connect(node, proc, signal),
        backoff: (attempt, signal) => this.sleep(Math.min(10_000, 250 * 2 ** Math.min(attempt, 6)) * (0.75 + this.rng.next() * 0.5), signal),
        sleep: (ms, signal) => this.sleep(ms, signal),
        onEvent: (e) => {
          if (node.proc !== proc) return;
          if (e.type === 'uploaded') node.acked = Math.max(node.acked, e.upTo);
          if (e.type === 'error') {
            this.count(`error:${e.code}`);
            if (!TRANSIENT.has(e.code)) this.failure ??= `${node.name} reported error ${e.code}: ${e.message}`;
          }
        },
        // What `watch` does once in sync: one extra pass for anything saved meanwhile.
        onInSync: () => void this.localChange(node, proc),
      });
      proc.loop = loop;
      proc.done = loop.run().then(
        () => {
          if (node.proc === proc && !proc.stop.signal.aborted) proc.exited = 'returned';
        },
        (err: unknown) => {
          if (node.proc === proc && !proc.stop.signal.aborted) {
            proc.exited = `${toCshareError(err).code}: ${(err as Error).message}`;
            this.failure ??= `${node.name}'s sync loop stopped: ${proc.exited}`;
          }
        },
      );
    } catch (err) {
      if (node.proc === proc) this.failure ??= `${node.name} failed to start: ${(err as Error).stack}`;
    }
  }

  private traceBatch(node: FuzzNode, epoch: number, ops: readonly KvBatchOp[]): void {
    for (const op of ops) {
      const { key } = op;
      if (!(key.startsWith('o:') || key.startsWith('m:u:') || key === 'meta:seq' || key.startsWith('meta:x:'))) continue;
      let what = 'deleted';
      if (op.type === 'put') what = key.startsWith('m:u:') ? `clocks ${JSON.stringify([...Y.parseUpdateMeta(op.value).to])} ${manifestSets(op.value)}` : new TextDecoder().decode(op.value).slice(0, 400);
      this.log(`  [${node.name}#${epoch} ${key}] ${what}`);
    }
  }

  /**
   * A rule never deletes: a replica records a file as deleted (or moved away) only if its user
   * removed it from its disk. Checked as each of its own changes is stored.
   */
  private checkRemovals(node: FuzzNode, ops: readonly KvBatchOp[]): void {
    const marker = `"replica":"${node.replicaId}"`;
    for (const op of ops) {
      if (op.type !== 'put' || !op.key.startsWith('o:')) continue;
      const text = new TextDecoder().decode(op.value);
      if (!text.includes(marker)) continue;
      const entry = JSON.parse(text) as { kind: string; path: string; from?: string };
      const gone = entry.kind === 'delete' ? entry.path : entry.kind === 'rename' ? entry.from : undefined;
      if (gone === undefined) continue;
      if (!node.userRemoved.delete(gone)) this.failure ??= `${node.name} recorded ${gone} as ${entry.kind === 'delete' ? 'deleted' : `moved to ${entry.path}`}, but its user never removed it (a rule deleted it?)`;
    }
  }

  private crashReplica(node: FuzzNode, why: string): void {
    const proc = node.proc;
    if (!proc) return;
    node.proc = undefined;
    this.saves?.crashed(node);
    // Fence first: from here on the dead process can neither read nor write anything.
    node.kv.crash();
    proc.fs.fenced = true;
    for (const link of proc.links) link.break(0, 0);
    proc.stop.abort();
    this.log(`${node.name} crash (${why})`);
    this.count('replicaCrashes');
  }

  /**
   * What the file watcher does after a save: record and upload, scanning only the paths
   * changed since it last fired (`burst`) or the whole tree (a pass at start or after a heal).
   */
  private localChange(node: FuzzNode, proc: Proc, burst = false): void {
    if (node.proc !== proc || !proc.loop) return;
    node.dirty = false;
    const paths = burst ? [...node.touched] : undefined;
    node.touched.clear();
    // As the watcher does: resolved once recorded, the upload going on beside the next one.
    proc.loop.localChange(paths, undefined, { recordedOnly: true }).catch((err: unknown) => this.expectTransient(node, proc, 'local change', err));
  }

  private expectTransient(node: FuzzNode, proc: Proc, what: string, err: unknown): void {
    if (node.proc !== proc) return; // the process crashed meanwhile
    const e = toCshareError(err);
    this.count(`error:${e.code}`);
    if (!TRANSIENT.has(e.code)) this.failure ??= `${node.name}: ${what} failed with ${e.code}: ${e.stack}`;
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      this.timers.push({ at: this.time + ms, fire: resolve });
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  private advance(ms: number): void {
    this.time += ms;
    const due = this.timers.filter((t) => t.at <= this.time);
    this.timers = this.timers.filter((t) => t.at > this.time);
    for (const t of due) t.fire();
    this.activity.n++;
  }

  // -------------------------------------------------------------------------------------------
  // What users do

  private randomPath(): string {
    return `${this.rng.pick(DIRS)}${this.rng.pick(NAMES)}.${this.rng.pick(['txt', 'md'])}`;
  }

  private randomText(): string {
    const n = this.rng.int(4);
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(Array.from({ length: 1 + this.rng.int(3) }, () => this.rng.pick(WORDS)).join(' '));
    return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  }

  private userAction(node: FuzzNode): void {
    const fs = node.fs;
    // Journal files only grow (`saves.ts`) and private files stay as they are (`rules.ts`).
    const files = fs.files().filter((f) => !SaveWorld.isJournal(f) && !this.rules?.isPrivate(node, f));
    const texts = files.filter((f) => !f.startsWith('bin/') && fs.lstat(f)?.kind === 'file');
    const r = this.rng.int(100);
    const enc = new TextEncoder();
    if (r < 20 || texts.length === 0) {
      const path = this.randomPath();
      if (fs.lstat(path)?.kind === 'dir') return;
      fs.writeFile(path, enc.encode(this.randomText()));
      node.touched.add(path);
      node.userRemoved.delete(path);
      this.log(`${node.name}: write ${path}`);
    } else if (r < 60) {
      const path = this.rng.pick(texts);
      const old = new TextDecoder().decode(fs.readFile(path));
      const at = this.rng.int(old.length + 1);
      const del = this.rng.chance(0.4) ? this.rng.int(Math.min(8, old.length - at) + 1) : 0;
      const next = old.slice(0, at) + (this.rng.chance(0.8) ? this.rng.pick(WORDS) + (this.rng.chance(0.3) ? '\n' : ' ') : '') + old.slice(at + del);
      if (RuleWorld.hidesJournals(path, next)) {
        // Rules never cover journal files (rules.ts); dropped after the draws, so the run goes on as it would.
        this.log(`${node.name}: edit ${path} @${at} -${del} not made (a rule for journal files)`);
        this.count('rules:journalRuleEditsDropped');
        return;
      }
      fs.writeFile(path, enc.encode(next));
      node.touched.add(path);
      this.log(`${node.name}: edit ${path} @${at} -${del}`);
    } else if (r < 70 && files.length > 0) {
      const path = this.rng.pick(files);
      fs.remove(path);
      node.touched.add(path);
      node.userRemoved.add(path);
      this.log(`${node.name}: delete ${path}`);
    } else if (r < 80 && files.length > 0) {
      const from = this.rng.pick(files);
      const to = from.startsWith('bin/') ? `bin/${this.rng.pick(NAMES)}.dat` : from.endsWith('.lnk') ? `${this.rng.pick(DIRS)}${this.rng.pick(NAMES)}.lnk` : this.randomPath();
      if (to === from || fs.lstat(to)) return;
      fs.rename(from, to);
      node.touched.add(from).add(to);
      node.userRemoved.add(from);
      node.userRemoved.delete(to);
      this.log(`${node.name}: rename ${from} -> ${to}`);
    } else if (r < 84) {
      // A symlink to a file beside it (or to nothing): stays inside the worktree.
      const dir = this.rng.pick(DIRS);
      const path = `${dir}${this.rng.pick(NAMES)}.lnk`;
      if (fs.lstat(path)) return;
      const target = `${this.rng.pick(NAMES)}.${this.rng.pick(['txt', 'md'])}`;
      fs.symlink(path, target);
      node.touched.add(path);
      node.userRemoved.delete(path);
      this.log(`${node.name}: symlink ${path} -> ${target}`);
    } else if (r < 90) {
      const path = `bin/${this.rng.pick(NAMES)}.dat`;
      const bytes = this.rng.bytes(1 + this.rng.int(40));
      bytes[0] = 0; // NUL: binary
      fs.writeFile(path, bytes);
      node.touched.add(path);
      node.userRemoved.delete(path);
      this.log(`${node.name}: binary ${path} (${bytes.length} bytes)`);
    } else if (files.length > 0) {
      const path = this.rng.pick(files);
      const st = fs.lstat(path)!;
      fs.chmod(path, st.mode & 0o111 ? 0o644 : 0o755);
      node.touched.add(path);
      this.log(`${node.name}: chmod ${path}`);
    }
    node.dirty = true;
  }

  /** `cshare undo` (or `redo`) through the control socket of the running process, then upload. */
  private undo(node: FuzzNode, which: 'undo' | 'redo'): void {
    const proc = node.proc;
    if (!proc?.replica || !proc.loop) return;
    const path = this.rng.chance(0.3) && node.fs.files().length > 0 ? this.rng.pick(node.fs.files()) : undefined;
    this.log(`${node.name}: ${which}${path ? ` ${path}` : ''}`);
    this.count(`${which}s`);
    const replica = proc.replica;
    const loop = proc.loop;
    // An undo of a create removes a file: the user's doing, even if a crash stops its recording.
    const before = node.fs.files();
    // And an undo stopped by a crash may have written its text already (the disk first, the
    // store after): what it took out of a journal file was taken out on purpose too.
    const texts = new Map(before.filter((p) => SaveWorld.isJournal(p) && node.fs.lstat(p)?.kind === 'file').map((p) => [p, node.fs.readFile(p)] as const));
    let stopped = false;
    void (async () => {
      try {
        const done = await (which === 'undo' ? replica.undo({ path }) : replica.redo({ path }));
        // Undoing a save may take its line out of a journal file, on purpose.
        for (const p of [done.path, done.from]) if (p !== undefined) this.saves?.undone(p);
        await loop.localChange();
      } catch (err) {
        const e = toCshareError(err);
        if (['NOTHING_TO_UNDO', 'NOTHING_TO_REDO', 'UNDO_CONFLICT'].includes(e.code)) this.count(`${which}:${e.code}`);
        else {
          stopped = true;
          this.expectTransient(node, proc, which, err);
        }
      } finally {
        for (const p of before) {
          if (stopped && texts.has(p) && node.fs.lstat(p)?.kind === 'file' && !sameBytes(node.fs.readFile(p), texts.get(p))) this.saves?.undone(p);
          if (node.fs.lstat(p)) continue;
          node.userRemoved.add(p);
          this.saves?.undone(p);
        }
      }
    })();
  }

  // -------------------------------------------------------------------------------------------
  // The run

  async run(): Promise<FuzzResult> {
    const steps = this.opts.steps ?? 120;
    const enc = new TextEncoder();
    // The sharer starts with a small tree; a joiner sometimes with files of its own.
    const sharer = this.nodes[0]!;
    for (let i = 0; i < 1 + this.rng.int(4); i++) sharer.fs.writeFile(this.randomPath(), enc.encode(this.randomText()));
    for (const node of this.nodes.slice(1)) if (this.rng.chance(0.2)) node.fs.writeFile(this.randomPath(), enc.encode(this.randomText()));
    if (!this.legacy) {
      this.log(`features: ${Object.entries(this.features).flatMap(([k, on]) => (on ? [k] : [])).join(', ') || 'none'}`);
      for (const [k, on] of Object.entries(this.features)) if (on) this.count(`features:${k}`);
    }
    this.rules?.setup();
    this.startRelay();
    await this.startReplica(sharer);
    // A join code exists only once the share is registered (and has uploaded its manifest).
    await this.quiesce();
    if (!sharer.proc?.loop?.session) this.fail('the sharer did not connect');
    for (const node of this.nodes.slice(1)) if (this.rng.chance(0.7)) await this.startReplica(node);
    await this.settle();

    for (let step = 0; step < steps; step++) {
      await this.step();
      await this.settle();
    }
    await this.heal();
    await this.check();
    const final = this.nodes[0]!.fs.snapshot();
    const hash = createHash('sha256').update(JSON.stringify(this.stats));
    for (const node of this.nodes) {
      for (const [key, value] of storeMap(node)) hash.update(key).update(value);
    }
    return { seed: this.seed, steps, trace: this.trace, final: JSON.stringify(final), fingerprint: hash.digest('hex'), stats: this.stats };
  }

  private async step(): Promise<void> {
    // The optional behaviours act between the driver's own steps, from their own random source.
    if (!this.legacy && this.xrng.chance(0.15)) return this.partStep();
    const rng = this.rng;
    const r = rng.int(1000);
    const node = rng.pick(this.nodes);
    const open = this.links.filter((l) => !l.done);
    this.links = open;
    if (r < 350) {
      // Deliver some frames of one connection, one direction.
      const busy = open.flatMap((l) => [l.client, l.server]).filter((e) => e.out.length > 0);
      if (busy.length === 0) return;
      const end = rng.pick(busy);
      const replay = () => (rng.chance(0.03) ? rng.int(1 << 20) : undefined);
      const n = end.link.deliver(end, 1 + rng.int(rng.chance(0.3) ? 50 : 5), replay);
      if (n > 0) this.count('delivered');
    } else if (r < 500) {
      this.userAction(node);
      if (rng.chance(0.5) && node.proc) this.localChange(node, node.proc, true);
    } else if (r < 580) {
      if (node.dirty && node.proc) {
        this.log(`${node.name}: watcher fires`);
        this.localChange(node, node.proc, true);
      }
    } else if (r < 610) {
      this.undo(node, rng.chance(0.75) ? 'undo' : 'redo');
    } else if (r < 650) {
      this.advance(100 + rng.int(3000));
    } else if (r < 670) {
      if (open.length === 0) return;
      const link = rng.pick(open);
      this.log(`break link ${link.id} of ${this.nodes[link.owner]!.name}`);
      this.count('breaks');
      link.break(rng.int(link.client.out.length + 1), rng.int(link.server.out.length + 1));
    } else if (r < 690) {
      if (node.partitioned) return;
      node.partitioned = true;
      this.log(`${node.name} partitioned`);
      this.count('partitions');
      for (const link of node.proc?.links ?? []) link.break(rng.int(link.client.out.length + 1), rng.int(link.server.out.length + 1));
    } else if (r < 720) {
      if (!node.partitioned) return;
      node.partitioned = false;
      this.log(`${node.name} reachable`);
    } else if (r < 745) {
      if (!node.proc) return;
      if (rng.chance(0.5)) this.crashReplica(node, 'now');
      else {
        node.proc.crashAtWrite = 1 + rng.int(12);
        this.log(`${node.name} will crash at write ${node.proc.crashAtWrite}`);
      }
    } else if (r < 800) {
      if (node.proc) return;
      await this.startReplica(node);
    } else if (r < 815) {
      if (!this.relay) return;
      if (rng.chance(0.5)) this.crashRelay('now');
      else {
        this.relay.crashAtWrite = 1 + rng.int(12);
        this.log(`relay will crash at write ${this.relay.crashAtWrite}`);
      }
    } else if (r < 850) {
      if (this.relay) return;
      this.startRelay();
    } else {
      // Flush: everything in flight arrives (keeps runs from being all backlog).
      for (const l of open) {
        l.deliver(l.client, Infinity);
        l.deliver(l.server, Infinity);
      }
    }
  }

  /** A step of the optional parts: a user acts on ignore rules (`rules.ts`) or journal files (`saves.ts`). */
  private partStep(): void {
    const node = this.xrng.pick(this.nodes);
    if (this.rules && (!this.saves || this.xrng.chance(0.4))) this.rules.act(node);
    else this.saves?.act(node);
    if (node.dirty && node.proc && this.xrng.chance(0.5)) {
      this.log(`${node.name}: watcher fires`);
      this.localChange(node, node.proc, true);
    }
  }

  touch(node: FuzzNode, path: string): void {
    node.touched.add(path);
    node.dirty = true;
    node.userRemoved.delete(path);
  }

  partition(node: FuzzNode): void {
    if (node.partitioned) return;
    node.partitioned = true;
    this.log(`${node.name} partitioned`);
    this.count('partitions');
    for (const link of node.proc?.links ?? []) link.break(this.xrng.int(link.client.out.length + 1), this.xrng.int(link.server.out.length + 1));
  }

  /** Ends every fault and lets the world run until nothing is left to do. */
  private async heal(): Promise<void> {
    this.log('--- heal ---');
    if (this.relay) this.relay.crashAtWrite = undefined;
    else this.startRelay();
    for (const node of this.nodes) {
      node.partitioned = false;
      if (node.proc) node.proc.crashAtWrite = undefined;
      else await this.startReplica(node);
    }
    await this.quiesce();
    // The watcher fires for whatever is still unrecorded on disk, and again for a save that
    // landed during the applies this brought (each armed save lands once: this ends).
    for (let round = 0; round < 5; round++) {
      for (const node of this.nodes) if (node.proc && (round === 0 || node.dirty)) this.localChange(node, node.proc);
      await this.quiesce();
      if (!this.nodes.some((n) => n.dirty)) break;
    }
    if (!this.relay) this.fail('the relay is down after healing');
    for (const node of this.nodes) {
      if (!node.proc) this.fail(`${node.name} is down after healing (crashed on its own?)`);
      if (node.proc.exited) this.fail(`${node.name}'s sync loop ended: ${node.proc.exited}`);
      if (!node.proc.loop?.session) this.fail(`${node.name} is not connected after healing (stuck?)`);
    }
  }

  private async quiesce(): Promise<void> {
    for (let round = 0; ; round++) {
      if (round > 500) this.fail('no quiescence after healing');
      await this.settle();
      const open = this.links.filter((l) => !l.done);
      this.links = open;
      let moved = 0;
      for (const l of open) moved += l.deliver(l.client, Infinity) + l.deliver(l.server, Infinity);
      if (moved > 0) continue;
      if (this.timers.length > 0) {
        this.advance(Math.max(0, Math.min(...this.timers.map((t) => t.at)) - this.time));
        continue;
      }
      await this.settle();
      if (this.links.every((l) => l.client.out.length === 0 && l.server.out.length === 0) && this.timers.length === 0) return;
    }
  }

  // -------------------------------------------------------------------------------------------
  // The properties

  private async check(): Promise<void> {
    await checkConvergence({ nodes: this.nodes, fail: (reason) => this.fail(reason), rulesDiffer: this.features.rules });
    this.rules?.checkPrivate(kvMap(this.relayKv));
    this.saves?.check();
  }
}

/** Runs one seed; throws {@link FuzzFailure} if a property fails. */
export async function runSeed(seed: number, opts: FuzzOptions = {}): Promise<FuzzResult> {
  const world = new World(seed, opts);
  try {
    return await world.run();
  } catch (err) {
    if (err instanceof FuzzFailure) throw err;
    throw new FuzzFailure(seed, `crashed: ${(err as Error)?.stack ?? err}`, world.trace);
  }
}

/** Do `a` and `b` hold the same bytes (both absent counts as the same)? */
function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
