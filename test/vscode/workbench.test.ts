import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stopAll } from '../helpers/procs.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { openFile, openWorkbench, startCodeServer } from './codeServer.js';

afterEach(stopAll);

describe('code-server in Chromium (the platform of the VS Code tests)', () => {
  it('starts code-server on a temp folder, opens the workbench in Chromium through playwright-core and shows an opened file', async () => {
    const base = tempDir('cshare-vscode-wb-');
    const folder = join(base, 'project');
    writeTree(folder, { 'hello.txt': 'first line from the disk\nsecond line\n' });
    const server = await startCodeServer({ base: join(base, 'cs') });
    const { browser, page } = await openWorkbench(server, folder);
    try {
      // The explorer lists the folder's file: the workbench reads the folder through the server.
      await page.locator('.explorer-folders-view .monaco-list-row[aria-label^="hello.txt"]').first().waitFor({ timeout: 60_000 });
      await openFile(page, 'hello.txt');
      const lines = page.locator('.editor-instance .monaco-editor .view-lines');
      await expect.poll(async () => (await lines.first().innerText()).replace(/\u00a0/g, ' '), { timeout: 30_000 }).toContain('first line from the disk');
    } finally {
      await browser.close();
      await server.stop();
    }
  }, 180_000);
});
