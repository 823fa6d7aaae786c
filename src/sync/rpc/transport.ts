/**
 * The one thing the RPC layer needs from a transport: a reliable, ordered channel of
 * already-delimited binary frames. Length-prefixing is the transport's job (libp2p uses
 * `lpStream`; {@link MemoryTransport} passes whole arrays). The RPC layer never imports a
 * transport, so the same `RpcConnection` runs over libp2p and over the in-memory twin.
 */
export interface FrameChannel {
  /**
   * Writes one frame. Resolves when the transport has taken it (a transport with backpressure
   * resolves later); rejects if the channel is closed.
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
