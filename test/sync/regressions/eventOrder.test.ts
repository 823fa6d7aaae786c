import { describe, expect, it } from 'vitest';
import { gitBlobId } from '../../../src/core/digest.js';
import { waitFor } from '../helpers.js';
import { manifestUpdate, recorder, RelayHarness, textUpdate } from '../relay/harness.js';

const enc = new TextEncoder();

// Convergence fuzz seed 1685738 (`--legacy`): a blob's event went out after the events of a
// file update stored after it. A joiner took that update's seq as how far it had caught up,
// then failed to fetch the blob (the relay went down); reconnected, it caught up from after the
// blob, and never got that file's content.
describe('events of uploads stored at once (convergence fuzz)', () => {
  it('reach a subscriber in seq order, a blob among updates and manifest changes', async () => {
    const relay = new RelayHarness();
    const alice = await relay.sharer('alice');
    const bob = await relay.joiner('bob');
    const W = relay.worktreeId;
    const events = recorder(bob, `/worktrees/${W}`);
    await events.ready;

    // Uploads in flight together, as a replica's push sends them: blobs (whole and chunked), a
    // file's updates and a manifest change.
    const blobs = ['one\n', 'two\n', 'three\n'].map((t) => enc.encode(t));
    const sent = await Promise.all([
      ...blobs.map((data, i) =>
        i === 0
          ? alice.request('file/upload', { worktreeId: W, fileId: 'f0', blob: data })
          : alice.request('blob/upload', { worktreeId: W, digest: gitBlobId(data), size: data.byteLength, offset: 0, data }),
      ),
      alice.request('file/upload', { worktreeId: W, fileId: 'f1', updates: [textUpdate('a'), textUpdate('b', 2)] }),
      alice.request('manifest/upload', { worktreeId: W, updates: [manifestUpdate({ f1: 'a.txt' })] }),
      alice.request('file/upload', { worktreeId: W, fileId: 'f2', updates: [textUpdate('c', 3)] }),
    ]);
    expect(sent.every((r) => r.ok)).toBe(true);

    const seqOf = (e: (typeof events.events)[number]) => ('seq' in e ? e.seq : undefined);
    await waitFor(() => events.events.filter((e) => seqOf(e) !== undefined).length === 7, 5000, 'every upload to be announced');
    const seqs = events.events.flatMap((e) => seqOf(e) ?? []);
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7]);
    events.stop();
    relay.close();
  });
});
