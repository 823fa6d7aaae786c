/** The even seeds of the convergence property test (see `convergence.test.ts`). */
import { convergenceShard } from './suite.js';

convergenceShard(1);
