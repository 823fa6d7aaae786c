// Bundles the extension into out/extension.js (CommonJS, as VS Code loads extensions; `vscode`
// is provided by the editor) and, with --vsix, packages it with @vscode/vsce into
// cshare-vscode.vsix. Run by `npm run vsix` at the repository's root, whose node_modules hold
// esbuild and vsce: the extension has no runtime dependency.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
await build({
  entryPoints: [join(here, 'src', 'extension.ts')],
  outfile: join(here, 'out', 'extension.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['vscode'],
  sourcemap: true,
  logLevel: 'warning',
});
if (process.argv.includes('--vsix')) {
  const vsce = join(dirname(createRequire(import.meta.url).resolve('@vscode/vsce/package.json')), 'vsce');
  execFileSync(process.execPath, [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '--no-rewrite-relative-links', '-o', join(here, 'cshare-vscode.vsix')], { cwd: here, stdio: 'inherit' });
}
