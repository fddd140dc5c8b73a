import { fstatSync, lstatSync, openSync, rmdirSync, renameSync, unlinkSync, type Dirent } from 'node:fs';
import { opendir } from 'node:fs/promises';
import { at, DIR_FLAGS, fdPath, isTempName, openDirAt, release } from './confine.js';
import { tempFileName } from './temp-files.js';

/** Lets other requests run during a long walk. */
export const breathe = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/*
 * A user can build a tree far deeper than any path the API accepts (by renaming one deep chain
 * under another). Walks that held a descriptor per level ran the whole server out of them
 * (EMFILE for every user) and left such a tree undeletable and uncounted. These walks hold at
 * most HELD_LEVELS + 1 descriptors whatever the depth, and stay linear in the number of entries.
 */
export const HELD_LEVELS = 64;

/** A directory being walked: its subdirectories still to do. */
interface Level {
  fd: number | undefined;
  /** Names from the level above to this one: one, or a chain merged into one level (see treeUsage). */
  names: string[];
  dirs: string[];
  /** Which folder it was (dev:ino) when closed beyond the window, to check a reopen finds the same one. */
  id?: string | undefined;
}

/**
 * rm -r of `name` in `parentFd`, through held descriptors only: a symlink met is removed, never
 * entered. Returns the bytes and entries freed (see removeEntryNamed), so that quotas can be kept current
 * without walking the user's whole tree again. Directories below HELD_LEVELS are first moved up into the top one, under a temp name,
 * and removed from there.
 */
export async function removeTree(parentFd: number, name: string): Promise<{ bytes: number; entries: number }> {
  const stack: Level[] = [];
  let bytes = 0;
  // Entries as treeUsage counts them: each folder under a name of its own (not a temp name it
  // was moved to below), each file whose last name goes. A folder counts when this removal
  // takes its name (its rmdir, or its move under a temp name), not when it is entered: a
  // removal running at once inside it (rm -r a/b during rm -r a) may take it first, and then
  // counts it itself.
  let entries = 0;
  const folderGone = (folderName: string): void => {
    if (!isTempName(folderName)) entries++;
  };
  const removed = (dirFd: number, entryName: string): void => {
    const freed = removeEntryNamed(dirFd, entryName);
    bytes += freed.bytes;
    entries += freed.entries;
  };
  const removeEntry = async (dirFd: number, entry: Dirent): Promise<void> => {
    removed(dirFd, entry.name);
  };
  try {
    stack.push(await scanOwned(await openDirAt(parentFd, name), [name], removeEntry));
    let steps = 0;
    while (stack.length > 0) {
      if (++steps % 256 === 0) await breathe();
      const level = stack[stack.length - 1]!;
      const fd = level.fd!;
      const next = level.dirs.pop();
      if (next === undefined) {
        stack.pop();
        release(fd);
        level.fd = undefined;
        const above = stack[stack.length - 1]?.fd;
        // A folder inside that another removal took first is not an error; the top one is.
        if (above === undefined) rmdirSync(at(parentFd, level.names[0]!));
        else if (!unlessGone(() => rmdirSync(at(above, level.names[0]!)))) continue;
        folderGone(level.names[0]!);
      } else if (stack.length > HELD_LEVELS) {
        const moved = tempFileName('deep');
        if (unlessGone(() => renameSync(at(fd, next), at(stack[0]!.fd!, moved)))) {
          folderGone(next);
          stack[0]!.dirs.push(moved);
        }
      } else {
        const child = await enterable(fd, next);
        if (child === undefined) removed(fd, next);
        else stack.push(await scanOwned(child, [next], removeEntry));
      }
    }
    return { bytes, entries };
  } finally {
    for (const level of stack) if (level.fd !== undefined) release(level.fd);
  }
}

/**
 * Bytes in regular files below the held directory `topFd`, and entries (files and folders, the
 * top one left out) there: temp files and folders are left out (reservations, the in-flight
 * limit and the sweep bound those).
 */
export async function treeUsage(topFd: number, isTempName: (name: string) => boolean): Promise<{ bytes: number; entries: number }> {
  let total = 0;
  let entries = 0;
  // A file under two names (a mount's hidden one, see linkHidden) counts once.
  // Keyed by the exact inode number: a 64-bit one (XFS, btrfs) may not fit a JS number.
  const linked = new Set<bigint>();
  const count = async (dirFd: number, entry: Dirent): Promise<void> => {
    if (!entry.isFile() || isTempName(entry.name)) return;
    const st = lstatSync(at(dirFd, entry.name), { bigint: true, throwIfNoEntry: false });
    if (st === undefined || (st.nlink > 1n && linked.has(st.ino))) return;
    if (st.nlink > 1n) linked.add(st.ino);
    total += Number(st.size);
    entries++;
  };
  const stack: Level[] = [await scan(topFd, [], count)];
  try {
    let steps = 0;
    while (stack.length > 0) {
      if (++steps % 256 === 0) await breathe();
      const level = stack[stack.length - 1]!;
      const next = level.dirs.pop();
      if (next === undefined) {
        stack.pop();
        if (stack.length === 0) continue;
        // Going back up past the held window: the parent is reopened from here, by '..' (one
        // open, not a walk down from the top: a deep comb of folders stays linear).
        const above = stack[stack.length - 1]!;
        if (above.fd === undefined && level.fd !== undefined) above.fd = reopenUp(level.fd, level.names.length, above.id);
        close(level);
        continue;
      }
      const child = await enterable(await heldFd(stack, stack.length - 1), next);
      if (child === undefined) continue;
      if (!isTempName(next)) entries++;
      const inner = await scanOwned(child, [next], count);
      if (level.dirs.length === 0 && stack.length > 1) {
        // Nothing left here: the child takes this level's place (a chain costs one level).
        stack.pop();
        close(level);
        level.names.push(next);
        inner.names = level.names;
      }
      stack.push(inner);
      const far = stack[stack.length - 1 - HELD_LEVELS];
      if (far !== undefined && far !== stack[0]) closeFar(far);
    }
  } finally {
    for (const level of stack.slice(1)) close(level);
  }
  return { bytes: total, entries };
}

/**
 * Reads the held directory: non-directories go to `onEntry` as they are read, subdirectories
 * are returned to do. Read a buffer of entries at a time, not whole: a 100,000-entry folder
 * read whole was ~12 MB of entries held for the seconds its walk took, per request (rm -r,
 * a quota's first count).
 */
async function scan(fd: number, names: string[], onEntry: (dirFd: number, entry: Dirent) => Promise<void>): Promise<Level> {
  const dirs: string[] = [];
  const dir = await opendir(fdPath(fd), { bufferSize: SCAN_BUFFER });
  try {
    // From Dir's buffer on the event loop (see sorted-names.ts); an entry removed meanwhile
    // (rm -r removes each file as it is read) does not disturb the read of the others.
    for (let i = 1, entry = dir.readSync(); entry !== null; i++, entry = dir.readSync()) {
      if (i % 256 === 0) await breathe();
      if (entry.isDirectory()) dirs.push(entry.name);
      else await onEntry(fd, entry);
    }
  } finally {
    dir.closeSync();
  }
  return { fd, names, dirs };
}

/** Directory entries a walk reads per getdents(2) call. */
const SCAN_BUFFER = 1024;

/** scan() of a directory the walk opened: released if it fails. */
async function scanOwned(fd: number, names: string[], onEntry: (dirFd: number, entry: Dirent) => Promise<void>): Promise<Level> {
  try {
    return await scan(fd, names, onEntry);
  } catch (err) {
    release(fd);
    throw err;
  }
}

/**
 * Unlinks `name` in `dirFd`; one already gone (a race with another removal) is not an error.
 * Returns what it freed as treeUsage counts it (a file's size and one entry; nothing for a
 * temp file, nor for a file that keeps another name): lstat and unlink run back to back on the event loop,
 * so no change of this server's slips between them.
 */
function removeEntryNamed(dirFd: number, name: string): { bytes: number; entries: number } {
  const st = lstatSync(at(dirFd, name), { throwIfNoEntry: false });
  if (!unlessGone(() => unlinkSync(at(dirFd, name))) || st === undefined || !st.isFile() || st.nlink !== 1 || isTempName(name)) return { bytes: 0, entries: 0 };
  return { bytes: st.size, entries: 1 };
}

/** Runs `fn`; false when what it acts on is gone already (ENOENT), which is no error here. */
function unlessGone(fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
    return false;
  }
}

/** The descriptor of stack[i], reopening the levels closed above it by name from the nearest held one. */
async function heldFd(stack: Level[], i: number): Promise<number> {
  let j = i;
  while (stack[j]!.fd === undefined) j--;
  for (let k = j + 1; k <= i; k++) {
    const from = stack[k - 1]!.fd!;
    let fd = from;
    try {
      for (const name of stack[k]!.names) {
        const next = await openDirAt(fd, name);
        if (fd !== from) release(fd);
        fd = next;
      }
    } catch (err) {
      if (fd !== from) release(fd);
      throw err;
    }
    stack[k]!.fd = fd;
    if (k - 1 > j && k - 1 <= i - HELD_LEVELS) closeFar(stack[k - 1]!);
  }
  return stack[i]!.fd!;
}

/** The folder `up` levels above the held `fd`, if it is still the one scanned (`id`); else undefined (reopened by name later). */
function reopenUp(fd: number, up: number, id: string | undefined): number | undefined {
  if (id === undefined) return undefined;
  let parent: number;
  try {
    parent = openSync(at(fd, Array.from({ length: up }, () => '..').join('/')), DIR_FLAGS);
  } catch {
    return undefined;
  }
  if (idOf(parent) === id) return parent;
  release(parent);
  return undefined;
}

function idOf(fd: number): string | undefined {
  try {
    const st = fstatSync(fd, { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** Closes a level beyond the held window, noting which folder it was (see reopenUp). */
function closeFar(level: Level): void {
  if (level.fd !== undefined) level.id = idOf(level.fd);
  close(level);
}

function close(level: Level): void {
  if (level.fd !== undefined) release(level.fd);
  level.fd = undefined;
}

/** The directory `name` opened for the walk; undefined when it is a link (ELOOP, ENOTDIR) or gone. */
async function enterable(dirFd: number, name: string): Promise<number | undefined> {
  try {
    return await openDirAt(dirFd, name);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ELOOP' || code === 'ENOTDIR' || code === 'ENOENT') return undefined;
    throw err;
  }
}

