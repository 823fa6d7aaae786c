import { rmSync } from 'node:fs';
import { afterAll } from 'vitest';
import { madeTempDirs } from './helpers/tmp.js';

// Every test file's temporary directories go when the file ends (processes it started are
// stopped by then); a failure to remove one is not a test failure.
afterAll(() => {
  for (const dir of madeTempDirs.splice(0)) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // Something still writes there; /tmp is cleaned by the system eventually.
    }
  }
});
