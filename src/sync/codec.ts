/**
 * The frame and value codec, for the modules of `sync/` that store or size codec values (the
 * relay's store, the libp2p channel's frame bound). It belongs to the RPC layer, which frames
 * every message with it: the code is in `rpc/codec.ts`, and `rpc/` imports nothing from
 * `sync/`. New code imports `rpc/codec.ts` directly; this re-export spares the relay and
 * libp2p modules an import change while others edit them.
 */
export * from './rpc/codec.js';
