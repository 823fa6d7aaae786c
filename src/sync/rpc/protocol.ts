import type { Guard } from './guards.js';

/**
 * The shape of a protocol as the RPC layer sees it: which requests, streaming requests, sends
 * and subscription events exist, with their types. `src/sync/schema.ts` defines cshare's;
 * tests may define their own. Names are unique across `requests`, `streams` and `sends`.
 */
export type ProtocolTypes = {
  requests: Record<string, { request: unknown; response: unknown }>;
  streams: Record<string, { request: unknown; item: unknown }>;
  sends: Record<string, unknown>;
  event: unknown;
};

/** The runtime half of a protocol: its version and a validator for every incoming shape. */
export type ProtocolSchema<P extends ProtocolTypes> = {
  version: number;
  requests: { [K in keyof P['requests']]: { request: Guard<P['requests'][K]['request']>; response: Guard<P['requests'][K]['response']> } };
  streams: { [K in keyof P['streams']]: { request: Guard<P['streams'][K]['request']>; item: Guard<P['streams'][K]['item']> } };
  sends: { [K in keyof P['sends']]: Guard<P['sends'][K]> };
  event: Guard<P['event']>;
};

/** Request names of a protocol. */
export type RequestName<P extends ProtocolTypes> = keyof P['requests'] & string;
/** Streaming request names of a protocol. */
export type StreamName<P extends ProtocolTypes> = keyof P['streams'] & string;
/** Send (fire-and-forget) names of a protocol. */
export type SendName<P extends ProtocolTypes> = keyof P['sends'] & string;
