import { rmSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { RdriveError } from '../../common/errors.js';
import { isAlive } from './pid-registry.js';

/**
 * Each daemon keeps the unsent content of open files in a private temp folder named after its
 * pid. A clean unmount and a crash remove it; after a SIGKILL (or power loss) the next mount
 * removes the folders of daemons that no longer run, so they do not pile up in /tmp.
 */
const PREFIX = 'rdrive-cache-';

export async function createCacheDir(log: Logger): Promise<string> {
  await sweepStaleCacheDirs(log);
  const dir = await mkdtemp(join(tmpdir(), `${PREFIX}${process.pid}-`)).catch((err: NodeJS.ErrnoException) => {
    // Said with the folder and the way out: a bare "No such file or directory" names neither.
    throw new RdriveError(err.code === 'ENOSPC' ? 'ENOSPC' : err.code === 'EACCES' || err.code === 'EROFS' ? 'EACCES' : 'EIO',
      `Cannot create the mount's cache folder in ${tmpdir()} (${err.code ?? err.message}): the mount keeps unsent changes there; free space there or set TMPDIR to a writable folder`);
  });
  // process.exit() after a crash runs 'exit' listeners, not pending promises.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function removeCacheDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/** The names among `names` that are cache folders of daemons that are gone. */
export function staleCacheDirs(names: readonly string[], running: (pid: number) => boolean): string[] {
  return names.filter((name) => {
    // mkdtemp's suffix is six letters or digits.
    const match = /^(\d+)-[A-Za-z0-9]{6}$/.exec(name.startsWith(PREFIX) ? name.slice(PREFIX.length) : '');
    if (match === null) return false;
    const pid = Number(match[1]);
    return pid !== process.pid && !running(pid);
  });
}

async function sweepStaleCacheDirs(log: Logger): Promise<void> {
  const names = await readdir(tmpdir()).catch(() => []);
  for (const name of staleCacheDirs(names, isAlive)) {
    await rm(join(tmpdir(), name), { recursive: true, force: true }).then(
      () => log.info({ dir: name }, 'removed the cache folder of a mount daemon that is gone (its unsent changes were lost with it)'),
      (err: unknown) => log.warn({ dir: name, err }, 'could not remove a stale cache folder'),
    );
  }
}
