import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/**
 * Editing traces from josephg/editing-traces (CC BY 4.0, Joseph Gentle and contributors;
 * automerge-paper from Martin Kleppmann's automerge-perf, CC BY 4.0). They ship in the
 * repository (see its README for the attribution and the format): nothing a test reads may
 * live outside the checkout, which `.ci/run` enforces.
 */
export const TRACES_DIR = new URL('../fixtures/traces/', import.meta.url);

/** A sequential trace: positions count Unicode code points. */
export interface SequentialTrace {
  startContent: string;
  endContent: string;
  txns: { time: string; patches: [number, number, string][] }[];
}

/** Reads and parses the trace `name` (`<name>.json.gz` in {@link TRACES_DIR}). */
export function loadTrace<T = SequentialTrace>(name: string): T {
  return JSON.parse(gunzipSync(readFileSync(new URL(`${name}.json.gz`, TRACES_DIR))).toString('utf8')) as T;
}

/** Applies one txn's patches to a code-point array in place. */
export function applyPatches(chars: string[], patches: [number, number, string][]): void {
  for (const [pos, del, ins] of patches) chars.splice(pos, del, ...Array.from(ins));
}
