import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { Logger } from 'pino';
import { exitOnCrash } from '../../common/logging.js';
import { findMountSync, sameMount, type MountEntry } from './mount-table.js';

/** How far a start got, filled in by createMount: what a crash must undo. */
export interface StartProgress {
  /** fuse.mount succeeded and the mount was not undone since: the rdrive mount at the path is ours. */
  mounted: boolean;
  /** Which mount exactly, once it was found in the mount table. */
  own?: MountEntry;
}

/** Installed before the start (see unmountOnCrash); told what the start did as it goes. */
export interface CrashGuard {
  /** Given to createMount, which fills it in. */
  readonly progress: StartProgress;
  /** The pid file, once written: removed at a crash. */
  pidFile?: string;
  /** The mount is ready (said so on stdout): a crash from now on unmounts a mount in use. */
  ready: boolean;
}

/**
 * A bug that escapes every handler must not leave a dead mount behind (every access would fail
 * with "Transport endpoint is not connected" until someone unmounts it by hand): log it, detach
 * the mount, remove the pid file, exit 70. Installed before the start, so that a crash between
 * fuse.mount and the mount being ready is undone too. Changes not yet uploaded are lost with
 * the process, as in any crash; what close() confirmed is on the server.
 */
export function unmountOnCrash(mountpoint: string, log: Logger): CrashGuard {
  const guard: CrashGuard = { progress: { mounted: false }, ready: false };
  exitOnCrash(log.child({ mountpoint }), {
    what: 'mount daemon',
    cleanup: () => {
      const { mounted, own } = guard.progress;
      const now = findMountSync(mountpoint);
      // Only our own mount: another may have taken the path since ours was removed from outside.
      // Between fuse.mount and finding it in the table, the rdrive mount on top there is ours
      // (fuse-native refuses to mount over one, see mountFailure).
      const ours = own !== undefined ? sameMount(now, own) : mounted && now?.fstype === 'fuse.rdrive';
      if (ours) {
        try {
          execFileSync('fusermount', ['-uz', mountpoint], { stdio: 'ignore', timeout: 10_000 });
        } catch {
          // already gone, or fusermount missing: nothing more to do on the way out
        }
      }
      if (guard.pidFile !== undefined) rmSync(guard.pidFile, { force: true });
    },
    tell: (reason) => guard.ready
      ? `rdrive: the mount daemon crashed (${reason}); ${mountpoint} was unmounted. Details in the log.\n`
      : `rdrive: the mount daemon crashed before the mount was ready (${reason}); nothing was left mounted. Details in the log.\n`,
  });
  return guard;
}
