// Bundles dist/sync/libp2p/vendor.js (every libp2p module cshare uses) into one ES module in
// place, after `tsc`: loading libp2p's few hundred small modules one by one took ~0.4 s of
// every share/join/relay start. Likewise dist/status/start.js, what bin/cshare runs before
// oclif (src/status/start.ts). Run by `npm run build`.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

for (const rel of ['../dist/sync/libp2p/vendor.js', '../dist/status/start.js']) await bundle(fileURLToPath(new URL(rel, import.meta.url)));

/** Bundles the module at `file` and what it imports into one ES module, in place. */
async function bundle(file) {
  await build({
    entryPoints: [file],
    outfile: file,
    allowOverwrite: true,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    // Optional native helpers some packages try to require; absent is fine.
    external: ['bufferutil', 'utf-8-validate'],
    // CommonJS dependencies inside the bundle call require() for Node's built-ins.
    banner: { js: "import { createRequire as __cshareCreateRequire } from 'node:module'; const require = __cshareCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  });
}
