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

export function probeStat(uid: number, gid: number): Stat {
  const now = new Date();
  return { mode: 0o100400, size: 0, mtime: now, atime: now, ctime: now, uid, gid, nlink: 1, blksize: 4096, blocks: 0 };
}
