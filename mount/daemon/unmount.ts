import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { RdriveError } from '../../common/errors.js';
import { findMount, sameMount, type MountEntry } from './mount-table.js';
import { describeUsers, processesUsing } from './mount-users.js';
import { defaultPidFile, isAlive, removePid, runningDaemons } from './pid-registry.js';

const runFile = promisify(execFile);

/** How long `rdrive unmount` waits for a daemon to upload what is still open and exit. */
const DAEMON_EXIT_WAIT_MS = 120_000;

export interface UnmountOptions {
  /** Detach lazily even while processes use the mount (they then get ENOTCONN). */
  force: boolean;
  /** The --pid-file given to `rdrive mount`, removed with the mount (default: the default pid file). */
  pidFile?: string;
}

/**
 * Stops the daemon of the rdrive mount at `mnt` and waits for it: the daemon uploads what is
 * still open, unmounts and exits. A busy mount is refused (EBUSY, naming the processes), as
 * umount does, unless `force`.
 */
export async function unmountRdrive(mnt: string, options: UnmountOptions): Promise<void> {
  const pidFile = options.pidFile === undefined ? defaultPidFile(mnt) : resolve(options.pidFile);
  const mount = await findMount(mnt);
  if (mount === undefined) {
    await removePid(pidFile);
    throw new RdriveError('EINVAL', `${mnt} is not mounted`);
  }
  if (mount.fstype !== 'fuse.rdrive') {
    throw new RdriveError('EINVAL', `${mnt} is not an rdrive mount (it is ${mount.fstype}): use umount or fusermount -u`);
  }
  if (!options.force) {
    const users = await processesUsing(mnt);
    if (users.length > 0) {
      throw new RdriveError('EBUSY', `${mnt} is busy, in use by ${describeUsers(users)}: close those files or leave that directory, or use "rdrive unmount --force" to detach it now (they then get errors)`);
    }
  }
  const pid = await daemonOf(mount);
  if (pid !== undefined) {
    process.kill(pid, 'SIGTERM');
    await waitUntil(() => !isAlive(pid), DAEMON_EXIT_WAIT_MS);
    if (isAlive(pid)) throw new RdriveError('ETIMEDOUT', `the mount daemon (pid ${pid}) did not exit within ${DAEMON_EXIT_WAIT_MS / 1000} s; see its log, or stop it with "kill ${pid}"`);
  }
  // No daemon (it was killed) or it left its mount behind: detach the mount itself, still only
  // if it is the one found above.
  if (sameMount(await findMount(mnt), mount)) {
    await runFile('fusermount', [options.force ? '-uz' : '-u', mnt]).catch((err: Error & { stderr?: string }) => {
      const busy = /busy/i.test(err.stderr ?? err.message);
      throw new RdriveError(busy ? 'EBUSY' : 'EIO', `fusermount could not unmount ${mnt}: ${(err.stderr ?? err.message).trim()}`);
    });
  }
  await removePid(pidFile);
}

/**
 * The daemon serving `mount`, from the records daemons keep of the mount they made. Not from a
 * pid file: one left by an earlier mount at the same path names another daemon (or none).
 */
async function daemonOf(mount: MountEntry): Promise<number | undefined> {
  return (await runningDaemons()).find((d) => sameMount(d.mount, mount) && d.mount.mountpoint === mount.mountpoint)?.pid;
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}
