/**
 * The editor server (`src/editor/`, EDITOR-API.md) on a running `share`/`join`: its host made
 * of what the process hands it (`liveHost.ts`: the replica's live documents and undo/redo, the
 * connection state, presence). `share`/`join` start it through their `live` option, and close
 * it before the store when they end.
 */
import { logger } from '../core/log.js';
import type { EditorHost } from '../editor/ports.js';
import { serveEditor, type EditorServer } from '../editor/server.js';
import { readAnnouncement, writeAnnouncement } from '../store/announce.js';
import type { LiveHost } from './liveHost.js';

const log = logger('editor');

/**
 * Serves editors for the running process `live` (its `StartLive`). The editor socket is added
 * to the process's announcement, so that `cshare editor` finds it (the control socket wrote
 * the announcement before this starts).
 */
export async function startEditorServer(live: LiveHost): Promise<EditorServer> {
  const server = await serveEditor({ host: editorHost(live) });
  const a = readAnnouncement(live.root);
  if (a) writeAnnouncement(live.root, { ...a, editor: server.path });
  log('serving editors on %s', server.path);
  return server;
}

/** The editor server's view of a running share or join. */
export function editorHost(live: LiveHost): EditorHost {
  const { replica } = live;
  const undoRedo = async (which: 'undo' | 'redo', path: string | undefined) => {
    const r = await replica[which]({ path, signal: live.signal });
    await live.localChange();
    return { changed: [r.path] };
  };
  return {
    root: live.root,
    replicaId: replica.identity.replicaId,
    name: replica.identity.name,
    role: live.role,
    readOnly: live.readOnly,
    openLive: (o) => replica.openLive(o),
    undo: (path) => undoRedo('undo', path),
    redo: (path) => undoRedo('redo', path),
    presence: live.presence,
    connection: () => live.connection(),
    onConnection: (listener) => live.onStatus(() => listener(live.connection())),
  };
}
