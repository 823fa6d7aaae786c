/**
 * The one thing the RPC layer needs from a transport: a reliable, ordered channel of
 * already-delimited binary frames. Length-prefixing is the transport's job (libp2p uses
 * `lpStream`; {@link MemoryTransport} passes whole arrays). The RPC layer never imports a
 * transport, so the same `RpcConnection` runs over libp2p and over the in-memory twin.
 *
 * The contract both keep is tested by `runFrameChannelContract`
 * (`test/sync/frameChannelContract.ts`): frames arrive whole and in order (0 bytes and the
 * size limit included), both ways at once; a close from either end ends the pending reads at
 * both ends, after the frames sent before it, and later sends reject with `CONNECTION_CLOSED`;
 * a frame over the limit is refused with `FRAME_TOO_LARGE` and the channel carries on; a slow
 * reader loses no frame. Backpressure is the transport's own: the memory twin holds a sender
 * at `capacity` unread frames, but libp2p does not wait for the reader: unread frames pile up
 * in the stream's buffers (about 36 MiB measured on loopback), then the stream is reset and
 * the channel closes. A reader must keep reading (the RPC layer does).
 */
export interface FrameChannel {
  /**
   * Writes one frame. Resolves when the transport has taken it (a transport with backpressure
   * resolves later); rejects with `CONNECTION_CLOSED` if the channel is closed, and with
   * `FRAME_TOO_LARGE` for a frame over the transport's limit (16 MiB + 1 KiB by default, both
   * transports), which leaves the channel open. A send made before `close()` still goes out.
   */
  send(frame: Uint8Array): Promise<void>;
  /** Incoming frames, in order. Ends when the channel closes; iterate it once. */
  readonly frames: AsyncIterable<Uint8Array>;
  /** Closes both directions. `err` says why (for logs and for the peer, where possible). Idempotent. */
  close(err?: Error): void;
  /** Resolves once the channel is closed, from either side. Never rejects. */
  readonly closed: Promise<void>;
  /**
   * Changes the largest frame read from now on, where the transport can refuse a frame from
   * its announced length (see `RpcConnection.setMaxFrameBytes`).
   */
  setMaxFrameBytes?(bytes: number): void;
}
