import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/**
 * Editing traces from josephg/editing-traces (CC BY 4.0, Joseph Gentle and contributors;
 * automerge-paper from Martin Kleppmann's automerge-perf). CI clones main with shared/ beside it.
 */
export const TRACES_DIR = new URL('../../../shared/traces/', import.meta.url);

/** A sequential trace: positions count Unicode code points. */
export interface SequentialTrace {
  startContent: string;
  endContent: string;
  txns: { time: string; patches: [number, number, string][] }[];
}

export function loadTrace<T = SequentialTrace>(name: string): T {
  return JSON.parse(gunzipSync(readFileSync(new URL(`${name}.json.gz`, TRACES_DIR))).toString('utf8')) as T;
}

/** Applies one txn's patches to a code-point array in place. */
export function applyPatches(chars: string[], patches: [number, number, string][]): void {
  for (const [pos, del, ins] of patches) chars.splice(pos, del, ...Array.from(ins));
}
