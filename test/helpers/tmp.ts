import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reapDir } from './reaper.js';

/** A fresh temp directory; `remove()` deletes it (call it in an after/finally). */
export async function makeTempDir(prefix = 'rdrive-test-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  const forget = reapDir(path);
  return {
    path,
    remove: async () => {
      await rm(path, { recursive: true, force: true, maxRetries: 3 });
      forget();
    },
  };
}
