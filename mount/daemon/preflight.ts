import { access, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RdriveError } from '../../common/errors.js';
import { findMount, sameMount } from './mount-table.js';
import { runningDaemons } from './pid-registry.js';

const run = promisify(execFile);

/** Refuses, before anything is mounted, what would make the mount fail or surprise. */
export async function checkMountpoint(mountpoint: string, options: { allowOther?: boolean } = {}): Promise<string> {
  let mnt = resolve(mountpoint);
  // A live rdrive mount there is known from the table and the daemons' records, not by a stat:
  // a stat of a mount whose daemon is stopped (Ctrl-Z, kill -STOP) would hang this command.
  const listedAt = join(await realpath(dirname(mnt)).catch(() => dirname(mnt)), basename(mnt));
  const listed = await findMount(listedAt);
  if (listed !== undefined && (await runningDaemons()).some((d) => sameMount(d.mount, listed))) throw alreadyMounted(listedAt);
  let st: Stats;
  try {
    st = await stat(mnt);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'EACCES') throw new RdriveError('EACCES', `Mountpoint ${mnt} cannot be reached: permission denied on a folder on its path`);
    if (code !== 'ENOTCONN') throw new RdriveError('ENOENT', `Mountpoint ${mnt} does not exist: create it with "mkdir -p ${mnt}"`);
    st = await clearStaleMount(mnt);
  }
  if (!st.isDirectory()) throw new RdriveError('ENOTDIR', `Mountpoint ${mnt} is not a directory`);
  // Through a symbolic link the kernel mounts on the folder it names; the daemon must look for
  // that folder in the mount table (by the link's name it never found its mount and hung).
  mnt = await realpath(mnt);
  // fusermount refuses it too, but its reason would reach us only as "fuse failed".
  if (process.getuid?.() !== 0 && !(await access(mnt, constants.W_OK).then(() => true, () => false))) {
    throw new RdriveError('EACCES', `You may not mount on ${mnt}: FUSE lets a user other than root mount only on a folder they can write to; use one of your own, e.g. ~/rdrive`);
  }
  if (await isMounted(mnt)) throw alreadyMounted(mnt);
  if ((await readdir(mnt)).length > 0) throw new RdriveError('ENOTEMPTY', `Mountpoint ${mnt} is not empty: use an empty directory`);
  if (options.allowOther === true) await checkAllowOther();
  return mnt;
}

function alreadyMounted(mnt: string): RdriveError {
  return new RdriveError('EEXIST', `${mnt} is already a mountpoint: unmount it first ("rdrive unmount ${mnt}")`);
}

/** fusermount takes allow_other from a user other than root only when /etc/fuse.conf allows it. */
async function checkAllowOther(): Promise<void> {
  if (process.getuid?.() === 0) return;
  const conf = await readFile('/etc/fuse.conf', 'utf8').catch(() => '');
  if (!/^\s*user_allow_other\s*$/m.test(conf)) {
    throw new RdriveError('EACCES', '--allow-other needs the line "user_allow_other" in /etc/fuse.conf for a user other than root: ask an administrator to add it, or mount without --allow-other');
  }
}

export async function checkFuseAvailable(): Promise<void> {
  try {
    await access('/dev/fuse', constants.R_OK | constants.W_OK);
  } catch {
    throw new RdriveError('ENOSYS', 'FUSE is not available (/dev/fuse missing or not accessible): install it with "apt-get install fuse3 libfuse2" and load the module with "modprobe fuse"');
  }
  try {
    await run('fusermount', ['-V']);
  } catch {
    throw new RdriveError('ENOSYS', 'fusermount not found: install it with "apt-get install fuse3"');
  }
}

/**
 * "Transport endpoint is not connected": a FUSE mount whose daemon died. One of ours (its
 * daemon was killed, say) is lazily unmounted so the new mount can take its place; anything
 * else is left alone and reported.
 */
async function clearStaleMount(mnt: string): Promise<Stats> {
  const type = await mountTypeOf(mnt);
  if (type !== 'fuse.rdrive') {
    throw new RdriveError('EEXIST', `${mnt} is a stale ${type ?? 'FUSE'} mount (its daemon is gone): unmount it with "fusermount -uz ${mnt}"`);
  }
  await run('fusermount', ['-uz', mnt]).catch(() => undefined);
  process.stderr.write(`rdrive: cleared a stale rdrive mount at ${mnt} (its daemon had stopped)\n`);
  return stat(mnt);
}

/** True when `mnt` (absolute) is a mountpoint, from /proc/self/mountinfo. */
export async function isMounted(mnt: string): Promise<boolean> {
  return (await findMount(mnt)) !== undefined;
}

/** The filesystem type mounted at `mnt` (e.g. "fuse.rdrive"), undefined when none. */
async function mountTypeOf(mnt: string): Promise<string | undefined> {
  return (await findMount(mnt))?.fstype;
}
