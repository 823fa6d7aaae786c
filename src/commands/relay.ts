import { Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { BaseCommand } from '../BaseCommand.js';

/** `cshare relay`: run a relay and storage server that others share through. */
export default class Relay extends BaseCommand {
  static override summary = 'Run a relay that stores shared worktrees and forwards changes between peers';
  static override examples = [
    '<%= config.bin %> relay --listen /ip4/0.0.0.0/tcp/4001 --listen /ip4/0.0.0.0/tcp/4002/ws --data /var/lib/cshare',
    '<%= config.bin %> relay --json',
  ];
  static override flags = {
    listen: Flags.string({ description: 'multiaddr to listen on (repeatable)', multiple: true, default: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'] }),
    data: Flags.string({ description: 'where the relay keeps its identity and every worktree', default: './cshare-relay' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Relay);
    // Loaded on use: libp2p is most of cshare's start-up time (see share).
    const { startRelay } = await import('../sync/relayServer.js');
    const relay = await startRelay({ dataDir: resolve(flags.data), listen: flags.listen, signal: this.abort.signal });
    if (this.jsonEnabled()) {
      process.stdout.write(`${JSON.stringify({ event: 'listening', peerId: relay.peerId, addresses: relay.addresses })}\n`);
    } else {
      process.stdout.write(`Relay ${relay.peerId} listening on:\n${relay.addresses.map((a) => `  ${a}`).join('\n')}\nShare through it with: cshare share --relay ${relay.addresses[0]}\n`);
    }
    await new Promise<void>((done) => {
      if (this.abort.signal.aborted) done();
      this.abort.signal.addEventListener('abort', () => done(), { once: true });
    });
    await relay.close();
  }
}
