import { Flags } from '@oclif/core';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { BaseCommand } from '../cli/BaseCommand.js';
import type { MovedAddress } from '../sync/listenPorts.js';

/** Where a relay listens the first time without `--listen` (its ports are kept for later starts). */
const RELAY_DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'];

/** What a relay says when a port it listened on before is taken. */
function movedMessage(m: MovedAddress): string {
  return `${m.reason}, so this relay listens on ${m.now} instead of ${m.stored}: addresses and join codes that name the old port do not reach it until that port is free again and the relay restarts`;
}
import { CshareError } from '../core/errors.js';

/** `cshare relay`: run a relay and storage server that others share through. */
export default class Relay extends BaseCommand {
  static override summary = 'Run a relay that stores shared worktrees and forwards changes between peers';
  static override examples = [
    '<%= config.bin %> relay --listen /ip4/0.0.0.0/tcp/4001 --listen /ip4/0.0.0.0/tcp/4002/ws --data /var/lib/cshare --token-file /etc/cshare/tokens',
    '<%= config.bin %> relay --json',
  ];
  static override flags = {
    listen: Flags.string({
      description: 'multiaddr to listen on (repeatable; default: the addresses of the last start, else a free TCP and a free WebSocket port on 127.0.0.1)',
      multiple: true,
    }),
    data: Flags.string({ description: 'where the relay keeps its identity and every worktree', default: './cshare-relay' }),
    token: Flags.string({ description: 'register new shares only with this relay token (repeatable; see --token-file)', multiple: true }),
    'token-file': Flags.string({ description: 'a file of relay tokens, one per line (kept out of ps)' }),
    open: Flags.boolean({ description: 'let anyone register new shares, without a rate limit' }),
    quota: Flags.string({ description: 'most bytes one worktree may store (e.g. 4GiB)', default: '4GiB' }),
    'min-free': Flags.string({ description: 'stop storing uploads while the disk has less free (e.g. 1GiB)', default: '1GiB' }),
    'pack-bytes': Flags.string({ description: 'size of a blob pack (for tests)', hidden: true }),
    'compact-after': Flags.string({ description: 'compact the packs once aborted uploads left this much (for tests)', hidden: true }),
    'compact-throttle-ms': Flags.integer({ description: 'pause after each chunk a compaction copies (for tests)', hidden: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Relay);
    const tokens = [...(flags.token ?? []), ...(flags['token-file'] ? readTokens(flags['token-file']) : [])];
    if (flags.open && tokens.length > 0) throw new CshareError('USAGE', '--open and --token exclude each other: with a token, only its holders register new shares');
    // Everything the relay writes (its store, its packs) is the owner's only.
    process.umask(0o077);
    // Loaded on use: libp2p is most of cshare's start-up time (see share).
    const { startRelay } = await import('../sync/relayServer.js');
    const { RelayLog } = await import('../sync/relay/RelayLog.js');
    const json = this.jsonEnabled();
    const relay = await startRelay({
      dataDir: resolve(flags.data),
      listen: flags.listen,
      defaultListen: RELAY_DEFAULT_LISTEN,
      signal: this.abort.signal,
      service: { admission: { open: flags.open, tokens } },
      limits: { maxWorktreeBytes: bytes(flags.quota, '--quota') },
      minFreeBytes: bytes(flags['min-free'], '--min-free'),
      packBytes: flags['pack-bytes'] ? bytes(flags['pack-bytes'], '--pack-bytes') : undefined,
      compactAfterBytes: flags['compact-after'] ? bytes(flags['compact-after'], '--compact-after') : undefined,
      compactThrottleMs: flags['compact-throttle-ms'],
      log: new RelayLog({ json }),
    });
    const admission = relay.service.admissionRule;
    if (json) {
      for (const m of relay.moved) process.stdout.write(`${JSON.stringify({ event: 'warning', message: movedMessage(m), ...m })}\n`);
      process.stdout.write(`${JSON.stringify({ event: 'listening', peerId: relay.peerId, addresses: relay.addresses, admission })}\n`);
    } else {
      for (const m of relay.moved) process.stderr.write(`${this.color.yellow('warning')}: ${movedMessage(m)}\n`);
      process.stdout.write(
        `Relay ${relay.peerId} listening on:\n${relay.addresses.map((a) => `  ${a}`).join('\n')}\nShare through it with: cshare share --relay ${relay.addresses[0]}\nNew shares: ${admission}\n`,
      );
    }
    await new Promise<void>((done) => {
      if (this.abort.signal.aborted) done();
      this.abort.signal.addEventListener('abort', () => done(), { once: true });
    });
    await relay.close();
  }
}

/** The tokens in a token file: one per line, blank lines and `#` comments skipped. */
function readTokens(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CshareError('USAGE', `cannot read the token file ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
  const tokens = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (tokens.length === 0) throw new CshareError('USAGE', `the token file ${path} holds no token`, { path });
  return tokens;
}

/** `4GiB`, `512MiB`, `100k`, `1000`: a byte count. */
export function bytes(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)$/i.exec(text.trim());
  if (!m) throw new CshareError('USAGE', `${flag} takes a size such as 4GiB, 512MiB or 1000000, not ${JSON.stringify(text)}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * unit);
}
