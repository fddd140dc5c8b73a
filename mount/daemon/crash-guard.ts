import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { Logger } from 'pino';
import { exitOnCrash } from '../../common/logging.js';
import { findMountSync, sameMount, type MountEntry } from './mount-table.js';

/**
 * A bug that escapes every handler must not leave a dead mount behind (every access would fail
 * with "Transport endpoint is not connected" until someone unmounts it by hand): log it, detach
 * the mount, remove the pid file, exit. Changes not yet uploaded are lost with the process, as
 * in any crash; what close() confirmed is on the server.
 */
export function unmountOnCrash(mountpoint: string, own: MountEntry, pidFile: string, log: Logger): void {
  exitOnCrash(log.child({ mountpoint }), {
    what: 'mount daemon',
    cleanup: () => {
      // Only our own mount: another may have taken the path since ours was removed from outside.
      if (sameMount(findMountSync(mountpoint), own)) {
        try {
          execFileSync('fusermount', ['-uz', mountpoint], { stdio: 'ignore', timeout: 10_000 });
        } catch {
          // already gone, or fusermount missing: nothing more to do on the way out
        }
      }
      rmSync(pidFile, { force: true });
    },
    tell: (reason) => `rdrive: the mount daemon crashed (${reason}); ${mountpoint} was unmounted. Details in the log.\n`,
  });
}
