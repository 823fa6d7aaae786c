import { Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { BaseCommand } from '../BaseCommand.js';
import type { MovedAddress } from '../sync/listenPorts.js';

/** Where a relay listens the first time without `--listen` (its ports are kept for later starts). */
const RELAY_DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'];

/** What a relay says when a port it listened on before is taken. */
function movedMessage(m: MovedAddress): string {
  return `${m.reason}, so this relay listens on ${m.now} instead of ${m.stored}: addresses and join codes that name the old port do not reach it until that port is free again and the relay restarts`;
}

/** `cshare relay`: run a relay and storage server that others share through. */
export default class Relay extends BaseCommand {
  static override summary = 'Run a relay that stores shared worktrees and forwards changes between peers';
  static override examples = [
    '<%= config.bin %> relay --listen /ip4/0.0.0.0/tcp/4001 --listen /ip4/0.0.0.0/tcp/4002/ws --data /var/lib/cshare',
    '<%= config.bin %> relay --json',
  ];
  static override flags = {
    listen: Flags.string({
      description: 'multiaddr to listen on (repeatable; default: the addresses of the last start, else a free TCP and a free WebSocket port on 127.0.0.1)',
      multiple: true,
    }),
    data: Flags.string({ description: 'where the relay keeps its identity and every worktree', default: './cshare-relay' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Relay);
    // Loaded on use: libp2p is most of cshare's start-up time (see share).
    const { startRelay } = await import('../sync/relayServer.js');
    const relay = await startRelay({ dataDir: resolve(flags.data), listen: flags.listen, defaultListen: RELAY_DEFAULT_LISTEN, signal: this.abort.signal });
    if (this.jsonEnabled()) {
      for (const m of relay.moved) process.stdout.write(`${JSON.stringify({ event: 'warning', message: movedMessage(m), ...m })}\n`);
      process.stdout.write(`${JSON.stringify({ event: 'listening', peerId: relay.peerId, addresses: relay.addresses })}\n`);
    } else {
      for (const m of relay.moved) process.stderr.write(`${this.color.yellow('warning')}: ${movedMessage(m)}\n`);
      process.stdout.write(`Relay ${relay.peerId} listening on:\n${relay.addresses.map((a) => `  ${a}`).join('\n')}\nShare through it with: cshare share --relay ${relay.addresses[0]}\n`);
    }
    await new Promise<void>((done) => {
      if (this.abort.signal.aborted) done();
      this.abort.signal.addEventListener('abort', () => done(), { once: true });
    });
    await relay.close();
  }
}
