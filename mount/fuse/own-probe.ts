import type { Stat } from 'fuse-native';
import type { HiddenOwner } from './hidden-names.js';

/**
 * A name that only this daemon answers, at its mount's root, never sent to the server. Mount ids
 * and device numbers are reused by the kernel as soon as they are free, so a mount made at the
 * same path after ours was removed from outside can look like ours in the mount table; a stat of
 * this name tells them apart (another daemon's mount answers ENOENT).
 */
export function probePath(mark: HiddenOwner): string {
  return `/.rdrive-daemon-${mark.host}.${mark.pid}.${mark.instance}`;
}

/**
 * While the daemon probes, the kernel's walk to the probe name may first ask for the root's
 * attributes; answering those locally keeps the probe off the server (an idle session must not
 * be revived just to check the mount, e.g. at unmount).
 */
export function probeStat(uid: number, gid: number, dir: boolean): Stat {
  const now = new Date();
  return { mode: dir ? 0o40755 : 0o100400, size: 0, mtime: now, atime: now, ctime: now, uid, gid, nlink: dir ? 2 : 1, blksize: 4096, blocks: 0 };
}

/** Set by the daemon around its own probe; read by the getattr that answers it. */
export interface ProbeState {
  active: boolean;
}
