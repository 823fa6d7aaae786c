import type { Replica } from '../../src/core/Replica.js';
import { openReplica } from './replica.js';
import { tempDir } from './tmp.js';

/**
 * A one-way link between two replicas that remembers how far it has sent: it scans the sender,
 * then hands what changed since the last call to the receiver. Resolves with the size of what
 * went over and what the receiver recorded.
 */
export function link(from: Replica, to: Replica) {
  let since = -1;
  return async () => {
    from.keepLogAfter(since);
    await from.scan();
    const { changes, upTo } = await from.changesSince(since);
    since = upTo;
    const size = changes.manifest.reduce((n, u) => n + u.byteLength, 0)
      + changes.files.reduce((n, f) => n + f.updates.reduce((m, u) => m + u.byteLength, 0), 0)
      + changes.blobs.reduce((n, b) => n + b.bytes.byteLength, 0);
    const recorded = await to.applyChanges(changes, { replica: from.identity.replicaId, author: from.identity.name });
    return { size, recorded };
  };
}

/** Alice and Bob: two replicas in temporary folders, with a link each way. */
export async function pair() {
  const rootA = tempDir();
  const rootB = tempDir();
  const { replica: a } = await openReplica(rootA, undefined, 'alice');
  const { replica: b } = await openReplica(rootB, undefined, 'bob');
  return { rootA, rootB, a, b, ab: link(a, b), ba: link(b, a) };
}
