import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { callControl, serveControl } from '../../src/sync/control.js';
import { tempDir } from '../helpers/tmp.js';

it('answers commands over the control socket and reports errors with their code', async () => {
  const root = tempDir();
  mkdirSync(join(root, '.cshare'));
  expect(await callControl(root, 'status')).toBeUndefined();
  const server = await serveControl(root, {
    status: async () => ({ sharing: 'on', n: 3 }),
    undo: async () => {
      const { CshareError } = await import('../../src/core/errors.js');
      throw new CshareError('NOTHING_TO_UNDO', 'nothing to undo');
    },
  });
  try {
    expect(await callControl(root, 'status')).toEqual({ result: { sharing: 'on', n: 3 } });
    await expect(callControl(root, 'undo')).rejects.toMatchObject({ code: 'NOTHING_TO_UNDO' });
    await expect(callControl(root, 'log')).rejects.toMatchObject({ code: 'USAGE' });
    await expect(serveControl(root, {})).rejects.toMatchObject({ code: 'STORE_LOCKED' });
  } finally {
    await server.close();
  }
  expect(await callControl(root, 'status')).toBeUndefined();
});
