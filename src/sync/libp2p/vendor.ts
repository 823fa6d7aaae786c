/**
 * Every libp2p module cshare uses, re-exported from one place. The build bundles this file
 * (with esbuild, `scripts/bundle-vendor.mjs`) into one module: libp2p is a few hundred small
 * ES modules, and resolving and loading them one by one took ~0.4 s of every `share`, `join`
 * and `relay` start; bundled, 0.16 s. Source and tests import it unbundled.
 */
// libp2p needs Promise.withResolvers (Node 20 lacks it) from its first use.
import '../../cli/polyfills.js';

export { noise } from '@chainsafe/libp2p-noise';
export { yamux } from '@chainsafe/libp2p-yamux';
export { circuitRelayTransport } from '@libp2p/circuit-relay-v2';
export { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
export { identify } from '@libp2p/identify';
export { peerIdFromPrivateKey } from '@libp2p/peer-id';
export { tcp } from '@libp2p/tcp';
export { lpStream, type LengthPrefixedStream } from '@libp2p/utils';
export { webSockets } from '@libp2p/websockets';
export { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
export { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p';
