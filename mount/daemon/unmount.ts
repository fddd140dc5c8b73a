import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { RdriveError } from '../../common/errors.js';
import { findMount, sameMount, type MountEntry } from './mount-table.js';
import { describeUsers, processesUsing } from './mount-users.js';
import type { LostUpload } from './mount-daemon.js';
import { defaultPidFile, isAlive, removePid, runningDaemons, takeLost } from './pid-registry.js';

const runFile = promisify(execFile);

/** How long `rdrive unmount` waits for a daemon to upload what is still open and exit. */
const DAEMON_EXIT_WAIT_MS = 120_000;
/**
 * With --force, how long before the mount is detached anyway: the daemon goes on uploading what
 * is open (a lazy detach leaves it its connection) and exits when done, but the mount point is
 * freed now, which is what --force asks for.
 */
export const FORCE_DETACH_AFTER_MS = 10_000;

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
export async function unmountRdrive(mnt: string, options: UnmountOptions): Promise<UnmountOutcome> {
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
  let stillRunning: number | undefined;
  let lost: LostUpload[] = [];
  if (pid !== undefined) {
    stillRunning = await stopDaemon(pid, options.force);
    if (stillRunning === undefined) lost = await takeLost(pid);
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
  return { ...(stillRunning === undefined ? {} : { stillRunning }), ...(lost.length === 0 ? {} : { lost }) };
}

export interface UnmountOutcome {
  /** With --force: the daemon, still uploading or stuck, was left running after the detach. */
  stillRunning?: number;
  /** Files whose changes the daemon could not upload as it stopped (it said why in its log). */
  lost?: LostUpload[];
}

/**
 * Asks the daemon to upload what is open, unmount and exit, and waits for it. A stopped daemon
 * (Ctrl-Z, kill -STOP) is continued, else it could not act on the request and every program
 * touching the mount would hang with it. Returns the pid when --force gave up waiting.
 */
async function stopDaemon(pid: number, force: boolean): Promise<number | undefined> {
  for (const signal of ['SIGTERM', 'SIGCONT'] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return undefined; // it exited meanwhile
    }
  }
  const traced = async (): Promise<boolean> => (await processState(pid)) === 't';
  await waitUntil(() => !isAlive(pid), force ? FORCE_DETACH_AFTER_MS : DAEMON_EXIT_WAIT_MS, traced);
  if (!isAlive(pid)) return undefined;
  if (force) return pid;
  if (await traced()) throw new RdriveError('EBUSY', `the mount daemon (pid ${pid}) is stopped by a debugger and cannot unmount: detach the debugger, or use "rdrive unmount --force"`);
  throw new RdriveError('ETIMEDOUT', `the mount daemon (pid ${pid}) did not exit within ${DAEMON_EXIT_WAIT_MS / 1000} s; see its log, use "rdrive unmount --force" to detach the mount, or stop the daemon with "kill ${pid}"`);
}

/** The state letter of /proc/<pid>/stat ('R', 'S', 'T' stopped, 't' traced...); undefined: gone. */
async function processState(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // The command name, in parentheses, may hold spaces or parentheses itself: the state follows the last ')'.
  return stat?.[stat.lastIndexOf(')') + 2];
}

/**
 * The daemon serving `mount`, from the records daemons keep of the mount they made. Not from a
 * pid file: one left by an earlier mount at the same path names another daemon (or none).
 */
async function daemonOf(mount: MountEntry): Promise<number | undefined> {
  return (await runningDaemons()).find((d) => sameMount(d.mount, mount) && d.mount.mountpoint === mount.mountpoint)?.pid;
}

/** Waits until `done`, at most `timeoutMs`; gives up early once `hopeless` says it cannot happen. */
async function waitUntil(done: () => boolean, timeoutMs: number, hopeless: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline && !(await hopeless())) await new Promise((r) => setTimeout(r, 100));
}
