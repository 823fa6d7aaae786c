// Writes oclif.manifest.json after a build, so `cshare <command>` loads only that command's
// module instead of importing every command to learn their flags (half of start-up time).
// Run by `npm run build`; the manifest is generated, never edited by hand, and not committed.
import { writeFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Config } from '@oclif/core';

const root = fileURLToPath(new URL('..', import.meta.url));
const target = `${root}oclif.manifest.json`;
rmSync(target, { force: true }); // never build a manifest from a stale one
const config = await Config.load(root);
const plugin = config.plugins.get(config.pjson.name);
if (!plugin || Object.keys(plugin.manifest.commands).length === 0) {
  process.stderr.write('write-oclif-manifest: no commands found\n');
  process.exit(1);
}
writeFileSync(target, JSON.stringify(plugin.manifest));
