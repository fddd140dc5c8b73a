import type { Stat, StatFsResult } from 'fuse-native';
import { LRUCache } from 'lru-cache';
import { type Attr, MAX_TIME_MS, MIN_TIME_MS, type StatFs } from '../../../common/api.js';
import { RdriveError } from '../../../common/errors.js';
import { NAME_MAX } from '../../../common/paths.js';
import { shownOwner } from '../ownership.js';
import { whileHeld } from './file-io.js';
import type { MountState } from '../state.js';

/** Each type's S_IFMT bits in st_mode. */
export const TYPE_BITS = { file: 0o100000, dir: 0o040000, symlink: 0o120000, fifo: 0o010000, socket: 0o140000, char: 0o020000, block: 0o060000 } as const;
const W_OK = 2;

/**
 * Server attributes as the kernel wants them: our uid/gid, type bits, block counts. ctime is the
 * server's, taken from its answer to each change (an upload's rename sets it): a later stat or
 * open of an unchanged file sees the same value, so readers that compare them (tar's "file
 * changed as we read it") see no change. Uploads carry the mount's mtime, so the mtime seen
 * before and after an upload is the same.
 */
export function toStat(attr: Attr, uid: number, gid: number, ino: number): Stat {
  return {
    ino,
    // A link's permission bits are meaningless on Linux and always shown as 0777.
    mode: TYPE_BITS[attr.type] | (attr.type === 'symlink' ? 0o777 : attr.mode & 0o7777),
    size: attr.size,
    mtime: new Date(attr.mtime),
    atime: new Date(attr.atime),
    ctime: new Date(attr.ctime),
    // The stored owner (chown, or the creator), else the mounting user.
    uid: attr.uid ?? uid,
    gid: attr.gid ?? gid,
    // A directory: 2 + its subdirectories, as the server's disk counts them (find and others rely on it).
    nlink: attr.type === 'dir' ? (attr.nlink ?? 2) : 1,
    blksize: 4096,
    // What the server's disk allocated for a sparse file (never more than its size needs).
    blocks: Math.min(attr.blocks ?? Number.POSITIVE_INFINITY, Math.ceil(attr.size / 512)),
    ...(attr.rdev === undefined ? {} : { rdev: attr.rdev }),
  };
}

export async function getattr(state: MountState, path: string): Promise<Stat> {
  const attr = await state.attr(path);
  const ctime = state.cache.shownCtime(path, attr.ctime);
  return toStat(ctime === attr.ctime ? attr : { ...attr, ctime }, state.options.uid, state.options.gid, state.inodes.of(path));
}

/** The uid (or gid) argument of chown that means "leave it": -1, as the kernel passes it unsigned too. */
function keeps(id: number): boolean {
  return id === -1 || id === 0xffffffff;
}

export async function access(state: MountState, path: string, mode: number): Promise<void> {
  await state.attr(path);
  if ((mode & W_OK) !== 0 && state.options.readOnly) throw new RdriveError('EROFS');
}

/**
 * Space figures are reused for a second: a file manager asks three or four times as it opens
 * a folder (its status bar shows the free space), each a request before the folder's listing.
 * Concurrent calls share one request. df may lag a write by up to that second.
 */
const STATFS_TTL_MS = 1_000;
const UINT32_MAX = 0xffff_ffff;
const spaceCaches = new WeakMap<MountState, LRUCache<'space', StatFs>>();

function space(state: MountState): Promise<StatFs> {
  let cache = spaceCaches.get(state);
  if (cache === undefined) {
    cache = new LRUCache<'space', StatFs>({ max: 1, ttl: STATFS_TTL_MS, fetchMethod: () => state.client.statfs() });
    spaceCaches.set(state, cache);
  }
  return cache.fetch('space') as Promise<StatFs>;
}

export async function statfs(state: MountState): Promise<StatFsResult> {
  const fs = await space(state);
  const bsize = fs.blockSize > 0 ? fs.blockSize : 4096;
  const blocks = Math.floor(fs.total / bsize);
  // df's "Used" is blocks - bfree: bfree counts all unused space (root's reserve too), bavail
  // what the user may still write.
  const bfree = Math.max(0, Math.floor((fs.total - fs.used) / bsize));
  const bavail = Math.min(bfree, Math.floor(fs.free / bsize));
  // Entries as inodes: the user's entry limit and what is left of it (df -i's Inodes and IFree),
  // or the server disk's. A server that sends none: zero counts, as NFS and sshfs give when they
  // have no figure, make `df -i` print "-" instead of made-up numbers.
  // fuse-native passes each figure as 32 bits: a larger count (an XFS disk's) is capped, not wrapped.
  const files = Math.min(fs.entriesTotal ?? 0, UINT32_MAX);
  const ffree = Math.min(files, fs.entriesFree ?? 0);
  return { bsize, frsize: bsize, blocks, bfree, bavail, files, ffree, favail: ffree, fsid: 0x7264, flag: 0, namemax: NAME_MAX };
}

export async function chmod(state: MountState, path: string, mode: number): Promise<void> {
  state.requireWritable();
  const file = state.files.get(path);
  if (file !== undefined && file.dirty) {
    // Sent with the content at close, in the same request (see AttrCache.showCtime).
    file.setPendingMode(mode & 0o7777);
    return;
  }
  const attr = await state.client.setAttr(path, { mode: mode & 0o7777 });
  state.cache.set(path, attr);
  file?.refresh(attr);
}

/**
 * chown/chgrp: the new owner is stored with the entry on the server (see mount/fuse/ownership.ts);
 * the kernel has already checked that the caller may make this change, and sent the setuid/
 * setgid bits it drops as a chmod of its own.
 */
export async function chown(state: MountState, path: string, uid: number, gid: number): Promise<void> {
  state.requireWritable();
  const current = shownOwner(await state.attr(path), state);
  const owner = { uid: keeps(uid) ? current.uid : uid, gid: keeps(gid) ? current.gid : gid };
  // tar x sets the owner it already has on every file: nothing to send.
  if (owner.uid === current.uid && owner.gid === current.gid) return;
  const file = state.files.get(path);
  // Unsent content gets there first, so that its owner has something to go with.
  if (file !== undefined && file.dirty) await state.upload(file);
  const attr = await state.client.setAttr(path, owner);
  state.cache.set(path, attr);
  file?.refresh(attr);
}

/** What scripts/patch-fuse-native.py passes for UTIME_OMIT (leave this time as it is). */
export const UTIME_OMIT_MS = 2 ** 48 - 1;

export async function utimens(state: MountState, path: string, atime: number | Date, mtime: number | Date): Promise<void> {
  state.requireWritable();
  const times: { atime?: number; mtime?: number } = {};
  if (toMs(atime) !== UTIME_OMIT_MS) times.atime = toMs(atime);
  if (toMs(mtime) !== UTIME_OMIT_MS) times.mtime = toMs(mtime);
  if (times.atime === undefined && times.mtime === undefined) return;
  const file = state.files.get(path);
  if (file !== undefined && file.dirty) {
    // Sent with the content at close, so the upload itself does not bump mtime afterwards.
    // An atime alone is dropped, as the upload would have moved it anyway.
    if (times.mtime !== undefined) file.setPendingMtime(times.mtime);
    return;
  }
  const attr = await state.client.setAttr(path, times);
  state.cache.set(path, attr);
  file?.refresh(attr);
}

export async function truncate(state: MountState, path: string, size: number): Promise<void> {
  state.requireWritable();
  const file = state.files.get(path);
  if (file !== undefined) {
    // Unsent writes take the truncate with them, at their close. A copy open only for reading
    // (tail -f) or with all of it sent is truncated on the server now, as a file nobody holds
    // open would be: a reader must not keep a truncate back until it closes.
    await whileHeld(state, file, async () => {
      const unsent = file.dirty;
      await file.truncate(size);
      if (!unsent) await state.upload(file);
    });
    return;
  }
  state.cache.set(path, await state.client.setAttr(path, { size }));
}

export async function ftruncate(state: MountState, fd: number, size: number): Promise<void> {
  state.requireWritable();
  await state.handle(fd).file.truncate(size);
}

/** scripts/patch-fuse-native.py passes a time before 1970 as ms + 2^49 (see there). */
const NEGATIVE_TIME_OFFSET = 2 ** 49;

function toMs(time: number | Date): number {
  const ms = typeof time === 'number' ? time : time.getTime();
  if (ms === UTIME_OMIT_MS) return ms;
  // As the kernel does for a local disk (ext4: `touch -d 1800-01-01` stores 1901-12-13), a time
  // beyond what the store keeps is clamped to its range, not refused.
  return clampTime(ms > UTIME_OMIT_MS ? ms - NEGATIVE_TIME_OFFSET : ms);
}

function clampTime(ms: number): number {
  return Math.min(MAX_TIME_MS, Math.max(MIN_TIME_MS, ms));
}

