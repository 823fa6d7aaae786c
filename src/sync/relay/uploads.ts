import { gitBlobId } from '../../core/digest.js';
import { CshareError } from '../../core/errors.js';
import type { BlobUploadRequest, BlobUploadResponse, FileUploadRequest, HistoryUploadRequest, ManifestOfferRequest, ManifestUploadRequest } from '../schema.js';
import { authorize } from './auth.js';
import { pacerFor, type RelayContext } from './relayContext.js';
import type { Appended, BlobUpload } from './RelayStorage.js';
import type { Room } from './Room.js';
import type { Binding, Session } from './sessions.js';
import { checkManifestUpdate, checkPath, checkPathSet } from './validate.js';
import { type CshareConnection } from '../connection.js';

/**
 * What sharers and read-write joiners send the relay: offers (which of these does the relay
 * lack?) and uploads of manifest updates, history entries, file updates and blobs. Each is
 * checked (paths: `validate.ts`; Yjs updates: `updateScan.ts`, in the storage), stored, and
 * only then acknowledged with its seq and published on the bus to the worktree's other
 * connections, in seq order (the storage announces there).
 */

/** Largest state vector in an offer (some 6,000 clients). */
const MAX_OFFER_VECTOR_BYTES = 64 * 1024;

/** Serves the upload messages on `conn` for `session`. */
export function serveUploads(conn: CshareConnection, session: Session, ctx: RelayContext): void {
  conn.handle('manifest/offer', (req) => offer(ctx, session, req));
  conn.handle('manifest/upload', (req) => uploadManifest(ctx, session, req));
  conn.handle('history/upload', (req) => uploadHistory(ctx, session, req));
  conn.handle('file/upload', (req) => uploadFile(ctx, session, req));
  conn.handle('blob/upload', (req) => uploadBlobChunk(ctx, session, req));
}

/**
 * `manifest/offer`: which entries the relay wants uploaded. The offerer of each blob it lacks
 * is remembered, so that a joiner fetching it can have it asked for (upload priority); only
 * blobs are fetched by what they are (a text file's updates come with the log).
 */
async function offer(ctx: RelayContext, session: Session, { worktreeId, entries }: ManifestOfferRequest): Promise<{ need: string[] }> {
  const { room } = authorize(ctx, session, worktreeId, true);
  const { maxOfferEntries, maxPathLength } = ctx.store.limits;
  if (entries.length > maxOfferEntries) throw new CshareError('TOO_LARGE', `an offer holds at most ${maxOfferEntries} entries; send several`, { max: maxOfferEntries });
  const pacer = pacerFor(ctx, room);
  for (const e of entries) {
    checkPath(e.path, maxPathLength);
    // A state vector is a few bytes per client that ever edited the file; decoding a
    // 15 MiB one would be millions of map entries.
    if (e.vector && e.vector.length > MAX_OFFER_VECTOR_BYTES) {
      throw new CshareError('TOO_LARGE', `the state vector offered for ${e.fileId} is over ${MAX_OFFER_VECTOR_BYTES} bytes`, { fileId: e.fileId });
    }
    if (pacer.due()) await pacer.step();
  }
  await checkPathSet(entries.map((e) => e.path), pacer);
  const need = await ctx.store.needs(worktreeId, entries);
  const byId = new Map(entries.map((e) => [e.fileId, e]));
  for (const fileId of need) {
    const e = byId.get(fileId)!;
    if (!e.vector && !room.rememberOffer(session, e.digest)) break;
  }
  return { need };
}

/** `manifest/upload`: each update's paths checked, then stored and published as stored. */
async function uploadManifest(ctx: RelayContext, session: Session, { worktreeId, updates }: ManifestUploadRequest): Promise<{ ok: true; seq: number }> {
  const { room, binding } = authorize(ctx, session, worktreeId, true);
  const pacer = pacerFor(ctx, room);
  const { maxPathLength, maxUpdateUnits } = ctx.store.limits;
  for (const u of updates) await checkManifestUpdate(u, { maxPathLength, maxUnits: maxUpdateUnits, pacer });
  const announce = ({ first }: Appended) =>
    updates.forEach((update, i) => ctx.bus.publish(worktreeId, { type: 'manifest', update, seq: first + i, by: binding.replicaId }, session));
  const { seq } = await stored(ctx, session, () => ctx.store.appendManifest(worktreeId, updates, binding.replicaId, pacer, announce));
  return { ok: true, seq };
}

/** `history/upload`: only shown in logs, never written to disk; still, no path a replica would refuse. */
async function uploadHistory(ctx: RelayContext, session: Session, { worktreeId, entries }: HistoryUploadRequest): Promise<{ ok: true; seq: number }> {
  const { binding } = authorize(ctx, session, worktreeId, true);
  const { maxPathLength } = ctx.store.limits;
  for (const e of entries) {
    checkPath(e.path, maxPathLength);
    if (e.from !== undefined) checkPath(e.from, maxPathLength);
  }
  const announce = (a: Appended) => ctx.bus.publish(worktreeId, { type: 'history', entries, seq: a.seq, by: binding.replicaId }, session);
  const { seq } = await ctx.store.appendHistory(worktreeId, entries, binding.replicaId, announce);
  return { ok: true, seq };
}

/** `file/upload`: a text file's doc updates, or a small blob whole. */
async function uploadFile(ctx: RelayContext, session: Session, { worktreeId, fileId, updates, blob }: FileUploadRequest): Promise<{ ok: true; seq: number }> {
  const { room, binding } = authorize(ctx, session, worktreeId, true);
  if (updates) {
    const announce = ({ first }: Appended) =>
      updates.forEach((update, i) => ctx.bus.publish(worktreeId, { type: 'file-update', fileId, update, seq: first + i, by: binding.replicaId }, session));
    const { seq } = await stored(ctx, session, () => ctx.store.appendFile(worktreeId, fileId, updates, binding.replicaId, pacerFor(ctx, room), announce));
    return { ok: true, seq };
  }
  const bytes = blob!;
  const digest = gitBlobId(bytes);
  const announce = (a: Appended) => blobStored(ctx, session, binding, digest, bytes.byteLength, a.seq);
  const info = await stored(ctx, session, () => ctx.store.putBlob(worktreeId, digest, bytes, binding.replicaId, announce));
  return { ok: true, seq: info.seq };
}

/**
 * `blob/upload`: one chunk of a blob, in order from offset 0, into the connection's upload of
 * it (started by the chunk at 0). A failed chunk drops the upload.
 */
async function uploadBlobChunk(ctx: RelayContext, session: Session, req: BlobUploadRequest): Promise<BlobUploadResponse> {
  const { room, binding } = authorize(ctx, session, req.worktreeId, true);
  const { digest, size, offset, data } = req;
  let writer = session.uploads.get(digest);
  if (!writer) {
    writer = await startBlobUpload(ctx, session, room, binding, req);
    if (writer.stored) return { ok: true, received: size, seq: writer.stored.seq };
    session.uploads.set(digest, writer);
  }
  if (writer.size !== size) throw new CshareError('PROTOCOL', `blob ${digest}: size changed from ${writer.size} to ${size} mid-upload`, { digest });
  let info;
  try {
    ctx.checkDisk();
    info = await writer.write(offset, data);
  } catch (err) {
    session.uploads.delete(digest);
    await writer.abort();
    throw err;
  }
  if (!info) return { ok: true, received: writer.received };
  session.uploads.delete(digest);
  return { ok: true, received: info.size, seq: info.seq };
}

/** A new chunked upload, within the connection's number of them; a blob refused for good is asked for no more. */
async function startBlobUpload(ctx: RelayContext, session: Session, room: Room, binding: Binding, req: BlobUploadRequest): Promise<BlobUpload> {
  const { worktreeId, digest, size, offset } = req;
  if (offset !== 0) throw new CshareError('PROTOCOL', `blob ${digest}: no upload in progress; start at byte 0`, { digest });
  if (session.uploads.size >= ctx.maxUploadsPerConnection) {
    throw new CshareError('OVERLOADED', `at most ${ctx.maxUploadsPerConnection} blob uploads at once per connection`);
  }
  const announce = (a: Appended) => blobStored(ctx, session, binding, digest, size, a.seq);
  return stored(ctx, session, () => ctx.store.blobWriter(worktreeId, digest, size, binding.replicaId, announce)).catch((err: unknown) => {
    // Refused for good (over the size limit): nobody waits for it, or asks for it again.
    if (err instanceof CshareError && err.code === 'TOO_LARGE') ctx.bus.refused(room.worktreeId, digest, err);
    throw err;
  });
}

/**
 * A store write on `session`'s behalf, after checking the disk: a worktree over its quota is
 * logged (once in a while) as well as refused.
 */
async function stored<T>(ctx: RelayContext, session: Session, write: () => Promise<T>): Promise<T> {
  try {
    ctx.checkDisk();
    return await write();
  } catch (err) {
    const e = err as CshareError;
    if (e.code === 'OVERLOADED' && e.data?.quota === true) {
      ctx.log.log({ event: 'quota', peer: session.peerId, worktree: String(e.data.worktreeId), used: Number(e.data.used), max: Number(e.data.max) });
    }
    throw err;
  }
}

/** A blob was stored: its event goes out, and fetches waiting for it go on. */
function blobStored(ctx: RelayContext, session: Session, binding: Binding, digest: string, size: number, seq: number): void {
  ctx.bus.publish(binding.worktreeId, { type: 'blob', digest, size, seq, by: binding.replicaId }, session);
  ctx.bus.uploaded(binding.worktreeId, digest);
}
