/**
 * A subscriber in a process of its own (`node --import tsx subscriber.ts <relay> <worktree id>
 * <secret hex>`), for tests that stop it (SIGSTOP) to play a subscriber that reads nothing:
 * a frozen process stops reading its socket, so the relay sees what a slow peer makes it
 * see. Prints `{"ready":true}` once subscribed, then `{"events":n,"end":payload}` when the
 * subscription ends, or `{"events":n,"closed":message}` when the relay closed the stream
 * instead (it may close one whose writes stalled for long).
 */
import '../../src/cli/polyfills.js';
import { multiaddr } from '@multiformats/multiaddr';
import { FrameKind, decodeFrames, encodeFrame, type Frame } from '../../src/sync/rpc/codec.js';
import { CSHARE_PROTOCOL, createCshareNode } from '../../src/sync/libp2p/Libp2pNode.js';
import { lpStream } from '../../src/sync/libp2p/vendor.js';
import { PROTOCOL_VERSION as V } from '../../src/sync/schema.js';

const [addr, worktreeId, secretHex] = process.argv.slice(2) as [string, string, string];
const node = await createCshareNode({ listen: [], relayClient: false });
const stream = await node.libp2p.dialProtocol(multiaddr(addr), CSHARE_PROTOCOL);
const lp = lpStream(stream, { maxDataLength: 32 * 1024 * 1024, maxBufferSize: 64 * 1024 * 1024 });
const read = async (): Promise<Frame[]> => decodeFrames((await lp.read()).subarray(), V);
const hello = { protocol: V, worktreeId, secretProof: Buffer.from(secretHex, 'hex'), replicaId: 'slow', name: 'slow', role: 'joiner' };
await lp.write(encodeFrame({ kind: FrameKind.REQUEST, seq: 1, replyTo: 0, name: 'hello', payload: hello }, V));
for (let ok = false; !ok; ) ok = (await read()).some((f) => f.replyTo === 1);
await lp.write(encodeFrame({ kind: FrameKind.SUBSCRIBE, seq: 2, replyTo: 0, name: `/worktrees/${worktreeId}`, payload: null }, V));
for (let ok = false; !ok; ) ok = (await read()).some((f) => f.replyTo === 2);
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
let events = 0;
for (;;) {
  let frames: Frame[];
  try {
    frames = await read();
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ events, closed: (err as Error).message })}\n`);
    await node.stop();
    process.exit(0);
  }
  for (const f of frames) {
    if (f.kind === FrameKind.EVENT && f.replyTo === 2) events++;
    if ((f.kind === FrameKind.ERROR || f.kind === FrameKind.STREAM_END) && f.replyTo === 2) {
      process.stdout.write(`${JSON.stringify({ events, end: f.payload })}\n`);
      await node.stop();
      process.exit(0);
    }
  }
}
