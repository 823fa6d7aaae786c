import type { privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { Libp2p } from 'libp2p';

/*
 * libp2p types cshare needs, derived from the packages it depends on directly rather than
 * imported from `@libp2p/interface` (a transitive dependency that package.json does not list).
 */

type StreamHandler = Parameters<Libp2p['handle']>[1];

/** One libp2p stream (v3 message-stream API). */
export type Libp2pStream = Parameters<StreamHandler>[0];

/** One libp2p connection (direct, or relayed through a circuit relay). */
export type Libp2pConnection = Parameters<StreamHandler>[1];

/** A libp2p private key (cshare uses Ed25519). */
export type PrivateKey = Parameters<typeof privateKeyToProtobuf>[0];
