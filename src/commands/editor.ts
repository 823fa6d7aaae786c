import { BaseCommand } from '../cli/BaseCommand.js';
import { bridgeEditor } from '../cli/editorBridge.js';

/** `cshare editor`: the stdio bridge an editor plugin spawns to reach the running share/join (EDITOR-API.md). */
export default class Editor extends BaseCommand {
  static override summary = 'Connect an editor to the running cshare share or join of this worktree (stdio bridge, for editor plugins)';
  static override description = 'Pipes stdin and stdout to the editor socket of the share or join running in this worktree, byte for byte (JSON-RPC 2.0 with LSP framing; see EDITOR-API.md). Exits 0 when either side closes, 18 (NOT_SHARING) when nothing runs there.';
  static override examples = ['<%= config.bin %> editor', '<%= config.bin %> editor -C ~/project'];

  async run(): Promise<void> {
    const { flags } = await this.parse(Editor);
    await bridgeEditor({ cwd: flags.cwd ?? process.cwd(), input: process.stdin, output: process.stdout });
    // stdin may still hold the event loop (a pipe nobody closed): the bridge is over.
    process.stdin.destroy();
  }
}
