import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { announcementPath, readAnnouncement } from '../../src/store/announce.js';
import { callControl, controlEndpoint, serveControl } from '../../src/sync/control.js';
import { tempDir } from '../helpers/tmp.js';

it('answers commands over the control socket and reports errors with their code', async () => {
  const root = tempDir();
  mkdirSync(join(root, '.cshare'));
  expect(await callControl(root, 'status')).toBeUndefined();
  const server = await serveControl({
    root,
    command: 'share',
    handlers: {
      status: async () => ({ sharing: 'on', n: 3 }),
      undo: async () => {
        const { CshareError } = await import('../../src/core/errors.js');
        throw new CshareError('NOTHING_TO_UNDO', 'nothing to undo');
      },
    },
  });
  try {
    expect(await callControl(root, 'status')).toEqual({ result: { sharing: 'on', n: 3 } });
    await expect(callControl(root, 'undo')).rejects.toMatchObject({ code: 'NOTHING_TO_UNDO' });
    await expect(callControl(root, 'log')).rejects.toMatchObject({ code: 'USAGE' });
    await expect(serveControl({ root, handlers: {} })).rejects.toMatchObject({ code: 'STORE_LOCKED' });
  } finally {
    await server.close();
  }
  expect(await callControl(root, 'status')).toBeUndefined();
});

it('announces the socket with the pid and command of the process serving it, and withdraws it on close', async () => {
  const root = tempDir();
  mkdirSync(join(root, '.cshare'));
  const server = await serveControl({ root, command: 'join', handlers: {} });
  const announced = readAnnouncement(root);
  await server.close();
  expect(announced).toEqual({ socket: join(root, '.cshare', 'control.sock'), pid: process.pid, command: 'join' });
  expect(existsSync(announcementPath(root))).toBe(false);
  // The plain path an older cshare wrote still finds its socket.
  writeFileSync(announcementPath(root), '/nowhere/control.sock\n');
  expect(readAnnouncement(root)).toEqual({ socket: '/nowhere/control.sock' });
  expect(controlEndpoint(root)).toBeUndefined();
});

it('makes the control socket owner-only, inside .cshare and in the temp dir for a deep worktree', async () => {
  const shallow = tempDir();
  const deep = join(tempDir(), 'd'.repeat(60), 'e'.repeat(60));
  for (const root of [shallow, deep]) {
    mkdirSync(join(root, '.cshare'), { recursive: true });
    const server = await serveControl({ root, handlers: {} });
    try {
      const path = controlEndpoint(root)!;
      expect(path.startsWith(root) ? 'inside' : 'temp').toBe(root === shallow ? 'inside' : 'temp');
      expect(statSync(path).mode & 0o777).toBe(0o600);
    } finally {
      await server.close();
    }
  }
});
