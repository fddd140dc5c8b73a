import type { Stat } from 'fuse-native';
import { joinPath, splitPath } from '../../cache/attr-cache.js';
import { checkNameLengths, checkNewName } from '../names.js';
import type { Owner } from '../../../common/ownership.js';
import { currentCallerPid, newEntry } from '../ownership.js';
import type { MountState } from '../state.js';
import { RdriveError } from '../../../common/errors.js';
import { orphanJudge, removeOrphansIn } from '../../daemon/orphans.js';
import { toStat } from './attributes.js';
import { HIDDEN_PREFIX, type Attr } from '../../../common/api.js';

/** One request lists a directory with every entry's attributes, which fill the cache. */
export async function readdir(state: MountState, path: string): Promise<{ names: string[]; stats: Stat[] }> {
  const tickets = state.listingTickets();
  // The lister, read before the first await (see currentCallerPid): its walk may use the listing longer.
  const walker = currentCallerPid();
  const { entries } = await state.client.list(path);
  state.listed(path, entries, tickets, walker);
  state.prefetch.listed(path);
  const { uid, gid } = state.options;
  const names = ['.', '..'];
  const stats: Stat[] = [toStat({ type: 'dir', size: 0, mtime: 0, atime: 0, ctime: 0, mode: 0o755 }, uid, gid, state.inodes.of(path))];
  stats.push(stats[0]!);
  for (const entry of entries) {
    if (entry.name.startsWith(HIDDEN_PREFIX)) continue;
    const open = state.files.get(joinPath(path, entry.name));
    names.push(entry.name);
    stats.push(toStat(open === undefined ? entry : open.attr(), uid, gid, state.inodes.of(joinPath(path, entry.name))));
  }
  for (const pending of state.pendingNames(path)) {
    if (names.includes(pending.name)) continue;
    names.push(pending.name);
    stats.push(toStat(pending.attr, uid, gid, state.inodes.of(joinPath(path, pending.name))));
  }
  return { names, stats };
}

export async function mkdir(state: MountState, path: string, mode: number, caller?: Owner): Promise<void> {
  state.requireWritable();
  checkNewName(path);
  const made = await newEntry(state, path, caller, mode & 0o7777, true);
  const attr = await state.client.mkdir(path, { mode: made.mode, ...made.owner });
  state.cache.createdDir(path, attr);
  state.cache.subdirsChanged(splitPath(path).dir, +1);
}

export async function rmdir(state: MountState, path: string): Promise<void> {
  state.requireWritable();
  refuseIfHoldsOpenFiles(state, path);
  try {
    await state.client.rmdir(path);
  } catch (err) {
    // Files a killed daemon left (deleted while open) must not keep a directory alive for ever.
    if (!(err instanceof RdriveError && err.code === 'ENOTEMPTY')) throw err;
    if (!(await removeOrphansIn(state.client, path, await orphanJudge(), state.log))) throw err;
    await state.client.rmdir(path);
  }
  state.cache.removed(path);
  state.cache.subdirsChanged(splitPath(path).dir, -1);
  state.inodes.removed(path);
}

export async function unlink(state: MountState, path: string): Promise<void> {
  state.requireWritable();
  const file = state.files.get(path);
  if (file?.created === true) {
    forgetOpenFile(state, path);
    state.cache.removed(path, 'file');
    return;
  }
  await state.client.unlink(path);
  forgetOpenFile(state, path);
  state.cache.removed(path, 'file');
  state.inodes.removed(path);
}

/**
 * Atomic on the server (rename(2) there). A file still being written is uploaded first, so the
 * name that appears is never a half-written file.
 */
export async function rename(state: MountState, from: string, to: string): Promise<void> {
  // libfuse hiding an open file before a rename onto its name (see the adapter): `from` stays.
  const keepAsked = state.hidesBeforeRename.delete(to);
  state.requireWritable();
  checkNameLengths(from);
  checkNewName(to);
  if (to !== from) refuseIfHoldsOpenFiles(state, to);
  for (const file of state.filesUnder(from)) if (file.dirty) await state.upload(file);
  const replacedDir = state.cache.get(to)?.type === 'dir';
  const kept = keepAsked ? await linkHidden(state, from, to) : undefined;
  const keepSource = kept !== undefined;
  const moved = kept ?? (await state.client.rename(from, to));
  if (keepSource) state.linkedHides.set(from, to);
  else await refreshLinkedHide(state, to);
  state.inodes.renamed(from, to, moved.type === 'dir');
  forgetOpenFile(state, to);
  for (const file of state.filesUnder(from)) {
    state.files.delete(file.path);
    file.moveTo(to + file.path.slice(from.length));
    state.files.set(file.path, file);
  }
  state.files.get(to)?.refresh(moved);
  // A file renamed replaces only a file (or nothing): neither has entries below it.
  const kind = moved.type === 'dir' ? 'dir-or-unknown' : 'file';
  // Kept: the server still has it until the rename that follows replaces it.
  if (!keepSource) state.cache.removed(from, kind);
  state.cache.removed(to, kind);
  state.cache.added(to, moved);
  if (moved.type === 'dir') {
    state.cache.subdirsChanged(splitPath(from).dir, -1);
    if (!replacedDir) state.cache.subdirsChanged(splitPath(to).dir, +1);
  }
}

/**
 * The server's second name for a file libfuse hides before a rename replaces it; undefined when
 * the server cannot make one (no hard links there, too many links, an older server): the hide
 * is then a plain rename, as it used to be.
 */
async function linkHidden(state: MountState, from: string, to: string): Promise<Attr | undefined> {
  try {
    return await state.client.linkHidden(from, to);
  } catch (err) {
    if (err instanceof RdriveError && ['EPERM', 'EOPNOTSUPP', 'EMLINK', 'EINVAL'].includes(err.code)) return undefined;
    throw err;
  }
}

/**
 * A rename just replaced `to`, whose file lives on under a hidden second name: the link count
 * dropping moved that file's ctime, so its open copy's version is asked again (its reads name
 * the version, and would otherwise fail as if the file had been replaced).
 */
async function refreshLinkedHide(state: MountState, to: string): Promise<void> {
  const hidden = state.linkedHides.get(to);
  if (hidden === undefined) return;
  state.linkedHides.delete(to);
  const file = state.files.get(hidden);
  if (file === undefined) return;
  const attr = await state.client.stat(hidden).catch(() => undefined);
  if (attr !== undefined && state.files.get(hidden) === file) file.refresh(attr);
}

/**
 * A directory holding a file open here is not empty, whatever the server says: a file created
 * on this mount reaches the server only at its first close. Removing or replacing the directory
 * would lose that file, and leave libfuse without a path for its descriptors (fuse-native then
 * crashes on the NULL path).
 */
function refuseIfHoldsOpenFiles(state: MountState, dir: string): void {
  if (state.filesUnder(dir).some((file) => file.path !== dir)) throw new RdriveError('ENOTEMPTY');
}

/** A removed or replaced open file keeps serving its handles but is never uploaded again. */
function forgetOpenFile(state: MountState, path: string): void {
  const file = state.files.get(path);
  if (file === undefined) return;
  file.markUnlinked();
  state.files.delete(path);
}
