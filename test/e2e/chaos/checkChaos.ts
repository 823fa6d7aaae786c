/**
 * The end-of-run checks of a chaos run, on worktrees that have converged (identical file
 * trees, every process connected with nothing unrecorded or unacknowledged).
 *
 * **Acknowledged save.** A marker save S made on side X (see `ChaosDriver`) is acknowledged
 * when both hold:
 *  1. X's history (`cshare log`, answered by X's running process) has a change of X's own
 *     replica, with id `s`, whose patch inserts S's marker code point: X recorded S. No other
 *     save writes that code point, so this is the change that recorded S whatever shape the
 *     text diff took; a save that a remote change overwrote before any scan saw it (the apply
 *     window `core/apply.ts` describes) has no such change and is never acknowledged.
 *  2. Some process of side X printed an `uploaded` event with `upTo >= s`: the relay
 *     acknowledged every change of X up to `s` (`SyncSession.push`).
 *
 * **Properties.** Every acknowledged marker is in its file in the final tree (shared text
 * files are only ever inserted into, so nothing may remove it), and no marker is there twice
 * (a change applied twice as new text). A marker in the final tree that its saver never
 * recorded means the history lost a change. Owned paths (`o/<side>/`) equal exactly what
 * their owner's disk was left with; each shared binary holds one of the versions written;
 * every shared text file exists.
 */
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OpEntry } from '../../../src/core/history.js';
import { sha1, type ChaosDriver } from './ChaosDriver.js';
import { SIDES, type Side } from './ChaosCluster.js';

/** What one side's process said about itself, gathered before it was stopped. */
export interface SideRecord {
  replicaId: string;
  /** Its history, as `cshare log` returns it. */
  log: OpEntry[];
  /** Highest `upTo` of an `uploaded` event of any of its processes (-1: none). */
  ackedUpTo: number;
}

/** Figures of the checks. */
export interface CheckReport {
  failures: string[];
  markers: number;
  acknowledged: number;
  /** Recorded by their saver, but the relay never acknowledged them (not lost: counted). */
  recordedNotAcked: number;
  /** Never recorded by their saver and not in the final tree: overwritten before a scan saw them. */
  overwrittenBeforeRecorded: number;
  /** Saves whose recording change's patch was too large to keep (not classifiable). */
  truncatedPatches: number;
}

/** Runs every check against the final tree in `finalRoot` (all trees are equal by now). */
export function checkChaos(driver: ChaosDriver, finalRoot: string, sides: Record<Side, SideRecord>): CheckReport {
  const failures: string[] = [];
  const report: CheckReport = { failures, markers: driver.markers.length, acknowledged: 0, recordedNotAcked: 0, overwrittenBeforeRecorded: 0, truncatedPatches: 0 };

  // Where each side recorded each code point it inserted (the lowest change id).
  const recordedAt = new Map<Side, Map<string, number>>();
  for (const side of SIDES) {
    const at = new Map<string, number>();
    for (const op of sides[side].log) {
      if (op.replica !== sides[side].replicaId) continue;
      if (op.patchTruncated) report.truncatedPatches++;
      for (const p of op.patch ?? []) {
        for (const ch of p.ins) {
          const prev = at.get(ch);
          if (prev === undefined || op.seq < prev) at.set(ch, op.seq);
        }
      }
    }
    recordedAt.set(side, at);
  }

  const texts = new Map<string, string>();
  for (const path of driver.sharedText.keys()) {
    const p = join(finalRoot, path);
    if (!existsSync(p)) failures.push(`shared text file ${path} (created by ${driver.sharedText.get(path)}) is missing from the final tree`);
    texts.set(path, existsSync(p) ? readFileSync(p, 'utf8') : '');
  }
  for (const m of driver.markers) {
    const text = texts.get(m.path) ?? '';
    const count = text.split(m.char).length - 1;
    const seq = recordedAt.get(m.side)!.get(m.char);
    const acked = seq !== undefined && seq <= sides[m.side].ackedUpTo;
    const what = `marker ${m.side[0]}${m.id} (U+${m.char.codePointAt(0)!.toString(16)}) saved by ${m.side} in ${m.path} at ${(m.atMs / 1000).toFixed(2)} s${m.offline ? ' while its process was down' : ''}${m.concurrent ? ', concurrently with another side' : ''}`;
    if (acked) report.acknowledged++;
    else if (seq !== undefined) report.recordedNotAcked++;
    if (count > 1) failures.push(`${what}: present ${count} times in the final file`);
    if (acked && count === 0) failures.push(`LOST: ${what}: recorded as change ${seq}, acknowledged (upTo ${sides[m.side].ackedUpTo}), missing from the final tree`);
    if (count > 0 && seq === undefined) failures.push(`${what}: in the final tree, but no change of ${m.side}'s history records it`);
    if (count === 0 && seq === undefined) report.overwrittenBeforeRecorded++;
  }

  for (const side of SIDES) {
    const model = driver.owned[side];
    const onDisk = listFiles(finalRoot, `o/${side}`);
    for (const path of onDisk) if (!model.has(path)) failures.push(`owned file ${path} is in the final tree, but ${side} deleted or renamed it`);
    for (const [path, want] of model) {
      const p = join(finalRoot, path);
      if (!existsSync(p)) {
        failures.push(`owned file ${path} of ${side} is missing from the final tree`);
        continue;
      }
      const data = readFileSync(p);
      if (!data.equals(want.data)) failures.push(`owned file ${path} of ${side}: final content (${data.length} bytes, ${sha1(data)}) is not what ${side} saved last (${want.data.length} bytes, ${sha1(want.data)})`);
      const exec = (lstatSync(p).mode & 0o111) !== 0;
      if (exec !== want.exec) failures.push(`owned file ${path} of ${side}: executable bit ${exec}, ${side} left it ${want.exec}`);
    }
  }

  for (const [path, versions] of driver.binaryVersions) {
    const p = join(finalRoot, path);
    if (!existsSync(p)) failures.push(`shared binary ${path} is missing from the final tree`);
    else if (!versions.has(sha1(readFileSync(p)))) failures.push(`shared binary ${path} holds content no side wrote (${sha1(readFileSync(p))})`);
  }
  return report;
}

/** Paths of the regular files under `root/rel`, relative to `root`. */
function listFiles(root: string, rel: string): string[] {
  const out: string[] = [];
  const walk = (r: string) => {
    const dir = join(root, r);
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const child = `${r}/${e.name}`;
      if (e.isDirectory()) walk(child);
      else out.push(child);
    }
  };
  walk(rel);
  return out;
}
