import { timingSafeEqual } from 'node:crypto';
import { CshareError, toCshareError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import { hashSecret } from '../joinCode.js';
import { checkPeerProtocol, type Access, type HelloRequest, type HelloResponse, type WorktreeInfoRequest, type WorktreeInfoResponse } from '../schema.js';
import type { RelayContext } from './relayContext.js';
import type { Registration } from './RelayStorage.js';
import type { Room } from './Room.js';
import type { Binding, Pool, Session } from './sessions.js';

const log = logger('relay');

/**
 * Authentication and authorization on the relay: `hello` proves a join code's secret and
 * binds the connection to its worktree (registering it for a sharer that asks), `worktree/info`
 * answers the same proof with the worktree's name, and every later request is checked against
 * the binding ({@link authorize}).
 */

/** Stands in for the secret hashes of a worktree the relay does not have (see {@link accessOf}). */
const UNKNOWN = new Uint8Array(32).fill(0xff);

const NO_SUCH_WORKTREE = 'this relay has no worktree with that join code: check the code (ask its sharer for a new one) and the relay address';

/**
 * `hello`: binds the connection, once. A refused connection is closed once the refusal is
 * sent (a client tries again on a new one): left open, refused connections would hold the
 * slots of those waiting for hello.
 */
export async function hello(ctx: RelayContext, session: Session, req: HelloRequest): Promise<HelloResponse> {
  if (session.binding || session.helloInFlight) throw new CshareError('PROTOCOL', 'hello was already said on this connection');
  session.helloInFlight = true;
  try {
    return await bind(ctx, session, req);
  } catch (err) {
    const e = toCshareError(err);
    ctx.log.log({ event: 'refused', peer: session.peerId, code: e.code, reason: e.message, worktree: req.worktreeId });
    setImmediate(() => session.conn.close());
    throw e;
  } finally {
    session.helloInFlight = false;
  }
}

/**
 * `worktree/info`: the worktree's name to a peer that proves a join code's secret, as `hello`
 * checks it (the same constant-time comparisons, the same refusal, the connection closed on
 * it), binding nothing.
 */
export async function info(ctx: RelayContext, session: Session, req: WorktreeInfoRequest): Promise<WorktreeInfoResponse> {
  const registration = await ctx.store.getWorktree(req.worktreeId);
  if (registration && accessOf(registration, hashSecret(req.secretProof))) return { name: registration.name };
  const e = new CshareError('UNAUTHORIZED', NO_SUCH_WORKTREE);
  ctx.log.log({ event: 'refused', peer: session.peerId, code: e.code, reason: e.message, worktree: req.worktreeId });
  setImmediate(() => session.conn.close());
  throw e;
}

/**
 * Checks a request against the connection's binding: said hello (`UNAUTHORIZED`), same
 * worktree (`FORBIDDEN`), and read-write access for writes (`FORBIDDEN`).
 */
export function authorize(ctx: RelayContext, session: Session, worktreeId: string, write: boolean): { room: Room; binding: Binding } {
  const binding = session.binding;
  if (!binding) throw new CshareError('UNAUTHORIZED', 'say hello with a join code first');
  if (worktreeId !== binding.worktreeId) {
    throw new CshareError('FORBIDDEN', `this connection joined worktree ${binding.worktreeId}, not ${worktreeId}`, { worktreeId });
  }
  if (write && binding.access !== 'rw') throw new CshareError('FORBIDDEN', 'this join code is read-only: it cannot change the worktree');
  return { room: ctx.rooms.of(worktreeId), binding };
}

/** The steps of `hello`: check it, register, prove the secret, claim the replica id, join the room. */
async function bind(ctx: RelayContext, session: Session, req: HelloRequest): Promise<HelloResponse> {
  const { worktreeId, secretProof } = checkHello(req);
  const hash = hashSecret(secretProof);
  const { registration, created } = await registerIfAsked(ctx, session, req, worktreeId, hash);
  const access = accessOf(registration, hash);
  if (!registration || !access) throw new CshareError('UNAUTHORIZED', NO_SUCH_WORKTREE);
  if (req.role === 'sharer' && access === 'ro') throw new CshareError('FORBIDDEN', 'this join code is read-only: sharing needs the read-write code');
  await claimReplica(ctx, session, worktreeId, req.replicaId, access);
  if (!ctx.table.sessions.has(session)) throw new CshareError('CONNECTION_CLOSED', 'the connection closed during hello');
  joinRoom(ctx, session, req, worktreeId, access);
  return { ok: true, relayId: ctx.relayId, access, seq: await ctx.store.head(worktreeId), created };
}

/** The protocol version, the role and the join code's proof of a `hello`. */
function checkHello(req: HelloRequest): { worktreeId: string; secretProof: Uint8Array } {
  checkPeerProtocol(req);
  if (req.role === 'relay') throw new CshareError('FORBIDDEN', 'this relay does not accept connections from other relays');
  const { worktreeId, secretProof } = req;
  if (worktreeId === undefined || secretProof === undefined) {
    throw new CshareError('UNAUTHORIZED', 'a join code is required: hello must carry the worktree id and its secret');
  }
  return { worktreeId, secretProof };
}

/**
 * The worktree's registration; a sharer that asks registers it if the relay does not have it
 * (within the admission rule and while the disk has room).
 */
async function registerIfAsked(
  ctx: RelayContext,
  session: Session,
  req: HelloRequest,
  worktreeId: string,
  hash: Uint8Array,
): Promise<{ registration: Registration | undefined; created: boolean }> {
  const registration = await ctx.store.getWorktree(worktreeId);
  if (registration || req.role !== 'sharer' || !req.register) return { registration, created: false };
  if (req.register.readOnlyHash.length !== hash.length) throw new CshareError('PROTOCOL', 'the read-only secret hash must be a sha256 (32 bytes)');
  await ctx.admission.check(session.peerId, req.register.token, (max) => ctx.store.registeredBy(session.peerId, max));
  ctx.checkDisk();
  const { readOnlyHash, name } = req.register;
  const done = await ctx.store.register({ worktreeId, readWriteHash: hash, readOnlyHash, name, by: session.peerId });
  if (done.created) ctx.log.log({ event: 'registered', peer: session.peerId, worktree: worktreeId });
  return done;
}

/**
 * The access a secret's `hash` proves (undefined: none). Both comparisons always run, in
 * constant time, and against stand-in hashes for a worktree the relay does not have: the
 * answer and its timing are the same for a wrong secret and an unknown worktree, so a
 * stranger learns nothing about which exist.
 */
function accessOf(registration: Registration | undefined, hash: Uint8Array): Access | undefined {
  const rw = sameHash(hash, registration?.readWriteHash ?? UNKNOWN);
  const ro = sameHash(hash, registration?.readOnlyHash ?? UNKNOWN);
  return rw ? 'rw' : ro ? 'ro' : undefined;
}

/**
 * A writer's replica id is the peer's that first wrote with it here: another peer claiming it
 * (to have its uploads taken for the sharer's) is refused. Readers upload nothing, so their
 * ids are not bound (nor can a read-only code fill the worktree's table of them).
 */
async function claimReplica(ctx: RelayContext, session: Session, worktreeId: string, replicaId: string, access: Access): Promise<void> {
  const owner = access === 'rw' ? await ctx.store.bindReplica(worktreeId, replicaId, session.peerId) : session.peerId;
  if (owner !== session.peerId) {
    throw new CshareError('FORBIDDEN', `replica ${replicaId} belongs to another peer on this relay: a copied or restored .cshare/ needs a new replica id (move .cshare/ aside and join again)`, {
      replicaId,
    });
  }
}

/** Binds the connection: a slot in its room's pool, no frame limit, and the others told. */
function joinRoom(ctx: RelayContext, session: Session, req: HelloRequest, worktreeId: string, access: Access): void {
  const pool: Pool = req.role === 'sharer' ? 'sharer' : access;
  const room = ctx.rooms.of(worktreeId);
  ctx.table.bind(session, room, pool);
  session.binding = { worktreeId, access, replicaId: req.replicaId, name: req.name, role: req.role, pool };
  session.conn.setMaxFrameBytes(Infinity);
  ctx.bus.publish(worktreeId, { type: 'peer-joined', replicaId: req.replicaId, name: req.name, role: req.role, ...(access === 'ro' ? { readOnly: true as const } : {}) }, session);
  log('%s: %s %s (%s) joined %s with %s access', session.peerId, req.role, req.name, req.replicaId, worktreeId, access);
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
