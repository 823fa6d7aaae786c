/**
 * The editor server of a running `share`/`join` (`src/editor/`, EDITOR-API.md): its host made
 * of the replica (live documents, undo/redo), the loop (presence, connection) and the run's
 * role, started with the run and closed with it.
 */
import { logger } from '../core/log.js';
import type { Replica } from '../core/Replica.js';
import type { ConnectionState, EditorHost } from '../editor/ports.js';
import { serveEditor, type EditorServer } from '../editor/server.js';
import type { SyncLoop } from './SyncLoop.js';
import type { SyncRun } from './SyncRun.js';

const log = logger('editor');

/** How often the connection state is looked at for the editors' `status` (it has no event of its own). */
const CONNECTION_POLL_MS = 250;

/** Options of {@link startEditorServer}. */
export interface EditorServerOptions {
  replica: Replica;
  loop: SyncLoop;
  run: SyncRun;
  role: 'sharer' | 'joiner';
  readOnly: boolean;
}

/**
 * Serves editors for the run until it ends (held by `run`: closing tells every editor it is
 * offline and brings the disk of their open files to the merged text, before the store closes).
 */
export async function startEditorServer(opts: EditorServerOptions): Promise<EditorServer> {
  const { run } = opts;
  const host = editorHost(opts);
  const server = await serveEditor({ host });
  run.hold('closing the editor socket', async () => {
    host.stop();
    await server.close();
  });
  log('serving editors on %s', server.path);
  return server;
}

/** The host of {@link startEditorServer}; `stop` ends its connection watch. */
export function editorHost(opts: EditorServerOptions): EditorHost & { stop(): void } {
  const { replica, loop } = opts;
  const listeners = new Set<(s: ConnectionState) => void>();
  let everOnline = false;
  const state = (): ConnectionState => {
    if (loop.session !== null) {
      everOnline = true;
      return 'online';
    }
    return everOnline ? 'reconnecting' : 'offline';
  };
  let last = state();
  const timer = setInterval(() => {
    const now = state();
    if (now === last) return;
    last = now;
    for (const l of listeners) l(now);
  }, CONNECTION_POLL_MS);
  timer.unref();
  const undoRedo = async (which: 'undo' | 'redo', path: string | undefined) => {
    const r = await replica[which]({ path, signal: opts.run.stop.signal });
    await loop.localChange();
    return { changed: [r.path] };
  };
  return {
    root: replica.root,
    replicaId: replica.identity.replicaId,
    name: replica.identity.name,
    role: opts.role,
    readOnly: opts.readOnly,
    openLive: (o) => replica.openLive(o),
    undo: (path) => undoRedo('undo', path),
    redo: (path) => undoRedo('redo', path),
    presence: loop.presence,
    connection: state,
    onConnection: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    stop: () => clearInterval(timer),
  };
}
