import { Flags } from '@oclif/core';
import { createInterface } from 'node:readline/promises';
import { BaseCommand } from '../cli/BaseCommand.js';
import type { ShareEvent } from '../sync/share.js';
import { EventPrinter } from '../cli/eventPrinter.js';
import { counted, shown } from '../core/display.js';

/** `cshare share`: share this worktree and print its join codes. */
export default class Share extends BaseCommand {
  static override summary = 'Share this worktree: print join codes, then sync every saved change until stopped';
  static override examples = [
    '<%= config.bin %> share',
    '<%= config.bin %> share --relay /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW...',
    '<%= config.bin %> share --once --yes --json',
  ];
  static override flags = {
    relay: Flags.string({ description: 'relay multiaddr (default: the relay this worktree was shared through before, else serve joiners from this process)' }),
    serve: Flags.boolean({ description: 'serve joiners from this process, although this worktree was shared through a relay before (a new share, new join codes)', exclusive: ['relay'] }),
    listen: Flags.string({ description: 'where to listen when serving joiners itself (repeatable)', multiple: true }),
    'read-only': Flags.boolean({ description: 'print only the read-only join code' }),
    yes: Flags.boolean({ char: 'y', description: 'upload changes made while cshare was not running without asking' }),
    once: Flags.boolean({ description: 'upload what the relay lacks, wait for the acknowledgement, and exit' }),
    retry: Flags.boolean({ description: 'keep trying to reach the relay however long it takes (default: give up after 30 s with exit code 12)' }),
    verbose: Flags.boolean({ description: 'list every file applied from peers (by default a big transfer is a progress line and a summary)' }),
    'relay-token': Flags.string({ description: "the relay operator's token, for a relay that registers new shares only with one", env: 'CSHARE_RELAY_TOKEN' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(Share);
    const json = this.jsonEnabled();
    // Loaded here, not at the top: oclif imports every command at start-up, and libp2p is
    // most of cshare's load time; commands that do not sync should not pay for it.
    const { share } = await import('../sync/share.js');
    const { startEditorServer } = await import('../sync/editorHost.js');
    const printer = (this.printer = new EventPrinter({ color: this.color, verbose: flags.verbose, tty: Boolean(process.stdout.isTTY) }));
    const result = await share({
      cwd: flags.cwd ?? process.cwd(),
      relay: flags.relay,
      relayToken: flags['relay-token'],
      listen: flags.listen,
      serve: flags.serve,
      yes: flags.yes,
      once: flags.once,
      retry: flags.retry,
      signal: this.abort.signal,
      // Editors connect to it (EDITOR-API.md; `cshare editor`).
      live: (host) => startEditorServer(host),
      onStop: (standing) => (this.standing = standing),
      confirm: process.stdin.isTTY && process.stdout.isTTY && !json ? (changed) => this.confirm(changed.map((c) => `${c.change} ${shown(c.path)}`)) : undefined,
      onEvent: (e: ShareEvent) => {
        if (e.type === 'sharing' && flags['read-only']) e = { ...e, codes: { readWrite: '', readOnly: e.codes.readOnly } };
        if (this.stopSaid) return; // the stopped line ends the output (a stop's late errors say nothing new)
        if (json) {
          // Said in JSON as the `resumed` field of `sharing` (and of the --once result).
          if (e.type === 'resuming') return;
          if (!flags.once) process.stdout.write(`${JSON.stringify({ event: e.type, ...e, type: undefined })}\n`);
          return;
        }
        if (e.type === 'resuming') process.stdout.write(`${e.message}\n`);
        else if (e.type === 'sharing') {
          const lines = [`Sharing ${shown(e.root)} (${counted(e.files, 'file')}). Join with:`];
          if (e.codes.readWrite) lines.push(`  cshare join ${e.codes.readWrite}      (read-write)`);
          lines.push(`  cshare join ${e.codes.readOnly}      (read-only)`);
          if (!flags.once) lines.push('Syncing; press Ctrl-C or run cshare unshare to stop.');
          printer.line(`${lines.join('\n')}\n`);
          printer.synced();
        } else printer.write(e);
      },
    });
    if (this.interrupted) {
      this.sayStopped();
      return undefined;
    }
    if (flags.once) return { ...result, codes: flags['read-only'] ? { readOnly: result.codes.readOnly } : result.codes };
    return undefined;
  }

  protected override stopsOnInterrupt = true;

  /** Prints the running share's events. */
  private printer: EventPrinter | undefined;
  /** Where the share stood when Ctrl-C stopped it. */
  private standing: { notUploaded: number; inSync: boolean } | undefined;

  protected override stoppedMessage(): { text: string; json: Record<string, unknown> } {
    const s = this.standing ?? { notUploaded: 0, inSync: false };
    // A progress line on screen ends before the message.
    this.printer?.line('');
    const n = s.notUploaded;
    const text =
      n > 0
        ? `Stopped sharing; ${n} ${n === 1 ? 'file' : 'files'} not uploaded yet, they go out on the next share`
        : s.inSync
          ? 'Stopped sharing; nothing was left to upload'
          : 'Stopped sharing before the relay acknowledged the first upload; what is left goes out on the next share';
    return { text, json: { command: 'share', notUploaded: n, inSync: s.inSync } };
  }

  private async confirm(changed: string[]): Promise<boolean> {
    process.stdout.write(`These files changed while cshare was not running:\n${changed.map((c) => `  ${c}`).join('\n')}\n`);
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    try {
      const answer = await rl.question('Upload them? [y/N] ');
      return /^y(es)?$/i.test(answer.trim());
    } finally {
      rl.close();
    }
  }
}
