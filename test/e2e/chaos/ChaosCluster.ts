/**
 * The processes of a chaos run: one `cshare relay`, one `cshare share` (alice) and two
 * `cshare join` (bob, carol), real processes on 127.0.0.1 in one temporary directory. Each can
 * be killed with SIGKILL and restarted exactly as a user would restart it: the relay on the
 * same port with the same data dir, `cshare share` again in alice's worktree (without `--yes`
 * first; when it refuses with CONFIRM_REQUIRED because files changed while it was down, again
 * with `--yes`), `cshare join <code> <dir>` again for a joiner (likewise: a rejoin asks before
 * uploading files changed while it was down).
 *
 * Every JSON line of every incarnation is kept (the `uploaded` events define what was
 * acknowledged). An exit that the cluster did not cause is a crash: it is recorded (the run
 * fails) and the process is started again so that the run can still settle and be checked.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, start, type Proc } from '../../helpers/procs.js';

/** A worktree's owner. */
export type Side = 'alice' | 'bob' | 'carol';
/** Every process of the cluster. */
export type Role = 'relay' | Side;

export const SIDES: readonly Side[] = ['alice', 'bob', 'carol'];
export const ROLES: readonly Role[] = ['relay', 'alice', 'bob', 'carol'];

/** An exit the cluster did not cause. */
export interface Crash {
  role: Role;
  code: number | null;
  signal: NodeJS.Signals | null;
  atMs: number;
  stderr: string;
  lastLines: string;
}

export class ChaosCluster {
  /** Worktree of each side. */
  readonly roots: Record<Side, string>;
  readonly crashes: Crash[] = [];
  /** Every incarnation of each role, oldest first. */
  readonly history: Record<Role, Proc[]> = { relay: [], alice: [], bob: [], carol: [] };
  /** How often `share` refused to resume without `--yes` (files changed while it was down). */
  confirmRefusals = 0;
  private readonly current = new Map<Role, Proc>();
  /** Roles that should be running (a crash restarts them; a kill takes them out). */
  private readonly wanted = new Set<Role>();
  private readonly killed = new WeakSet<Proc>();
  private readonly t0 = Date.now();
  private relayAddr = '';
  private code = '';

  private constructor(
    readonly base: string,
    private readonly port: number,
  ) {
    this.roots = { alice: join(base, 'alice'), bob: join(base, 'bob'), carol: join(base, 'carol') };
  }

  /**
   * Starts the relay and the sharer of `roots.alice` (which the caller has filled), waits for
   * the join code, then joins bob and carol and waits until both have joined.
   */
  static async create(base: string, fillAlice: (root: string) => void): Promise<ChaosCluster> {
    const c = new ChaosCluster(base, await freePort());
    mkdirSync(c.roots.alice, { recursive: true });
    fillAlice(c.roots.alice);
    c.up('relay');
    c.relayAddr = (((await c.proc('relay').line((l) => l.event === 'listening')).addresses as string[]) ?? [])[0]!;
    c.up('alice');
    const sharing = await c.proc('alice').line((l) => l.event === 'sharing');
    c.code = (sharing.codes as { readWrite: string }).readWrite;
    c.up('bob');
    c.up('carol');
    await Promise.all([c.proc('bob').line((l) => l.event === 'joined', 60_000), c.proc('carol').line((l) => l.event === 'joined', 60_000)]);
    return c;
  }

  /** Milliseconds since the cluster was created. */
  now(): number {
    return Date.now() - this.t0;
  }

  isUp(role: Role): boolean {
    return this.wanted.has(role);
  }

  /** The running (or last) process of `role`. */
  proc(role: Role): Proc {
    const p = this.current.get(role);
    if (!p) throw new Error(`${role} was never started`);
    return p;
  }

  /** SIGKILL, and keep it down until {@link up}. */
  async kill(role: Role): Promise<void> {
    this.wanted.delete(role);
    const p = this.current.get(role);
    if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
    this.killed.add(p);
    p.child.kill('SIGKILL');
    await p.exit;
  }

  /** Starts `role` (again) unless it runs. */
  up(role: Role, opts: { yes?: boolean } = {}): void {
    this.wanted.add(role);
    const old = this.current.get(role);
    if (old && old.child.exitCode === null && old.child.signalCode === null) return;
    const p = this.spawn(role, opts.yes ?? false);
    this.current.set(role, p);
    this.history[role].push(p);
    void p.exit.then(({ code, signal }) => this.exited(role, p, code, signal));
  }

  /**
   * Stops every process with SIGTERM (SIGKILL after 10 s); returns their exit codes, and in
   * `unclean` what those that did not exit 0 printed last.
   */
  async stopAll(unclean: string[] = []): Promise<Partial<Record<Role, number | null>>> {
    const out: Partial<Record<Role, number | null>> = {};
    await Promise.all(
      ROLES.map(async (role) => {
        this.wanted.delete(role);
        const p = this.current.get(role);
        if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
        this.killed.add(p);
        await p.stop('SIGTERM');
        out[role] = p.child.exitCode;
        if (p.child.exitCode !== 0) unclean.push(`${role} exited ${p.child.exitCode} on SIGTERM: ${p.lines.slice(-2).map((l) => JSON.stringify(l)).join(' ')} ${p.stderr.slice(-500)}`);
      }),
    );
    return out;
  }

  /** Every JSON line `role` printed, over all its incarnations. */
  lines(role: Role): Record<string, unknown>[] {
    return this.history[role].flatMap((p) => p.lines);
  }

  private spawn(role: Role, yes: boolean): Proc {
    switch (role) {
      case 'relay':
        return start('relay', this.base, ['relay', '--data', join(this.base, 'relay-data'), '--listen', `/ip4/127.0.0.1/tcp/${this.port}`]);
      case 'alice':
        // The first start names the relay; a resume takes it from the saved share state.
        return start('alice', this.roots.alice, this.history.alice.length === 0 ? ['share', '--relay', this.relayAddr] : ['share', ...(yes ? ['--yes'] : [])]);
      default:
        return start(role, this.base, ['join', this.code, this.roots[role], ...(yes ? ['--yes'] : [])]);
    }
  }

  private exited(role: Role, p: Proc, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.killed.has(p) || this.current.get(role) !== p) return;
    const refused = role !== 'relay' && code === 16 && p.lines.some((l) => l.code === 'CONFIRM_REQUIRED');
    if (refused) this.confirmRefusals++;
    else {
      this.crashes.push({ role, code, signal, atMs: this.now(), stderr: p.stderr.slice(-4000), lastLines: p.lines.slice(-5).map((l) => JSON.stringify(l)).join('\n') });
    }
    // Still wanted: start it again (a refused resume with --yes, as the user would).
    if (this.wanted.has(role)) {
      this.wanted.delete(role);
      this.up(role, { yes: refused });
    }
  }
}
