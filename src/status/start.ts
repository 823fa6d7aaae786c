/**
 * What `bin/cshare` runs, once it has the plan of the command line (`cli.ts`), before it
 * knows whether oclif must load: the V8 settings (`cli/runtime.ts`) and the early answers of
 * a plain `status` (`statusFast.ts`) and `files` (`filesFast.ts`). `npm run build` bundles
 * this module and what it imports into one file in place (`scripts/bundle-vendor.mjs`):
 * resolving and loading its ~25 modules and `debug`'s CommonJS one by one was most of a
 * `status` on a small tree (git.git, 4,800 files: ~120 ms of ~300 ms). The commands still load the modules themselves, each once;
 * the bundle's copies serve only what runs before them, which keeps no state for them.
 */
export { tuneFor } from '../cli/runtime.js';
export { statusFast } from './statusFast.js';
export { filesFast } from './filesFast.js';
