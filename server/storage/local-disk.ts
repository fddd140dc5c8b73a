import { chmodSync, closeSync, constants, fchmodSync, fstat as fstatCb, fstatSync, read as readCb, futimesSync, linkSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, utimesSync, type Stats } from 'node:fs';
import {
  copyFile, mkdir, open, readdir, rename as renameOffLoop, rmdir, statfs, truncate, unlink as unlinkOffLoop,
  type FileHandle,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { etagOf, HIDDEN_PREFIX, sameContent, type Attr, type DirEntry, type FolderTimes, type SetAttrRequest, type StatFs } from '../../common/api.js';
import { RdriveError, fromForeign } from '../../common/errors.js';
import { writeFullySync } from '../../common/write-fully.js';
import type { ByteRange, Durability, HeadsOptions, MkdirOptions, StorageBackend, WriteLimits, WriteOptions } from './backend.js';
import { CommitGroup, syncFilesystem } from './commit-group.js';
import {
  at, fdPath, isTempName, loopError, lstatAt, lstatAtSync, openDirAt, openDirPath, openEntryAt, openRoot, refuseSymlink, release, withParent,
} from './confine.js';
import { readExtents } from './extent-reader.js';
import type { Owner } from '../../common/ownership.js';
import { copyOwner, copyOwnerSync, readOwner, readOwnerSync, writeOwner, writeOwnerSync } from './owner-xattr.js';
import { tempFileName } from './temp-files.js';
import { firstNames, byName, namesInOrder } from './sorted-names.js';
import { breathe, removeTree, treeUsage } from './tree-walk.js';
import { NOTHING, plus, type Usage } from '../state/usage-tracker.js';
import { type SharedUserLock, UserLocks } from './user-locks.js';
import { SPECIAL_MODE, encodeSpecial, isSpecialCandidate, readSpecial, readSpecialFd, type Special } from './special-file.js';

const DEFAULT_FILE_MODE = 0o644;
const DEFAULT_DIR_MODE = 0o755;
const LIST_STAT_CONCURRENCY = 64;
/**
 * Names a listing holds at once (see namesInOrder): a folder within it is read once, a bigger
 * one once per window. 100,000 names of 15 characters take three reads (each ~0.15 s here).
 */
const LIST_WINDOW = { count: Number.MAX_SAFE_INTEGER, bytes: 2 * 1024 * 1024 };
const WRITE_BATCH = 1024 * 1024;
/** Ranges up to this size are read into memory and sent in one piece instead of streamed. */
const SMALL_READ = 256 * 1024;
/**
 * Bodies up to this size are received whole, then written through synchronous calls on the
 * event loop: a dozen microsecond-scale file calls beat as many thread-pool hand-offs (measured
 * on the 2-vCPU machine: 0.15 ms against 0.44 ms per 4 KiB file). Durable writes keep the
 * asynchronous path, as an fsync can take milliseconds.
 */
const SMALL_WRITE = 256 * 1024;
/** Files of a folder read (GET /heads) read at once. */
const HEADS_READ_CONCURRENCY = 16;
/** Enough for the names a folder read looks at (4 × 256 + 64 of them), however long they are. */
const HEADS_NAMES_BYTES = 1024 * 1024;
/** Opens a file to read it: never through a final symlink, never blocking on a FIFO an admin left. */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** What an entry's path answers once it is no longer there as a file (see syncFile). */
const GONE_CODES = new Set(['ENOENT', 'ENOTDIR', 'ELOOP']);

// Name-only metadata calls run on the event loop like the confinement walk's (see confine.ts):
// microseconds on a local disk, against a thread-pool hand-off each. Still async: a failure is a rejection.
const rename = async (from: string, to: string): Promise<void> => renameSync(from, to);
const unlink = async (path: string): Promise<void> => unlinkSync(path);
const link = async (existing: string, name: string): Promise<void> => linkSync(existing, name);
/**
 * Publishes a large file: on the thread pool, since replacing a name on ext4 (auto_da_alloc)
 * first pushes the new file's dirty data to the disk: 0.1-0.6 s for 256 MiB, measured, which on
 * the event loop would stall every other request.
 */
const publishLarge = (temp: string, name: string): Promise<void> => renameOffLoop(temp, name);
/**
 * A file this large takes ~0.5 ms or more to free, which ext4 does inside the unlink or rename
 * that drops its last name (256 MiB: 86-169 ms, measured): such a file is removed or replaced
 * on the thread pool, not on the event loop every user shares.
 */
const LARGE_VICTIM = 1024 * 1024;
const isLarge = (st: Stats | undefined): boolean => st !== undefined && st.isFile() && st.size > LARGE_VICTIM;

const fstatFd = promisify(fstatCb) as (fd: number) => Promise<Stats>;

/** Attributes as the API reports them; `special` (what a stored special file stands for) makes it a link or a node. */
export function toAttr(st: Stats, special?: Special, owner?: Owner): Attr {
  const common = { mtime: st.mtimeMs, atime: st.atimeMs, ctime: st.ctimeMs, ...owner };
  if (special?.type === 'symlink') return { type: 'symlink', size: Buffer.byteLength(special.target), ...common, mode: 0o777, target: special.target };
  if (special !== undefined) {
    return { type: special.type, size: 0, ...common, mode: special.mode, ...(special.type === 'char' || special.type === 'block' ? { rdev: special.rdev } : {}) };
  }
  if (st.isDirectory()) return { type: 'dir', size: 0, ...common, mode: st.mode & 0o7777, nlink: st.nlink };
  // Holes kept on the server stay holes for readers: du, cp --sparse=auto and tar --sparse go by it.
  const sparse = st.blocks * 512 < st.size;
  return { type: 'file', size: st.size, ...common, mode: st.mode & 0o7777, ...(sparse ? { blocks: st.blocks } : {}), id: st.ino.toString(36) };
}

/** The attributes of the entry `name` in `dirFd` whose lstat is `st` (a stored special file costs one small read). */
async function attrAt(dirFd: number, name: string, st: Stats): Promise<Attr> {
  const [special, owner] = await Promise.all([specialAt(dirFd, name, st), readOwner(at(dirFd, name))]);
  return toAttr(st, special, owner);
}

/** What the entry `name` in `dirFd` (lstat `st`) stands for when it is a stored link or node. */
async function specialAt(dirFd: number, name: string, st: Stats): Promise<Special | undefined> {
  return isSpecialCandidate(st) ? readSpecial(at(dirFd, name)) : undefined;
}

/** Only regular files and directories (stored links and nodes are regular files) are visible. */
function isVisible(st: Stats): boolean {
  return st.isFile() || st.isDirectory();
}

/**
 * Every user's folder is `<root>/<user>/` on the local disk. Every access goes through a held
 * descriptor of the folder and its directories (see confine.ts): no symlink in storage is ever
 * followed, and a symlink found there is refused with ELOOP and not listed.
 */
export class LocalDiskBackend implements StorageBackend {
  /** Changes not written `durable` reach stable storage in groups (see commit-group.ts). */
  private readonly commits: CommitGroup;
  /** Measure-then-change steps of one user, one at a time (quota accounting). */
  private readonly locks: UserLocks;

  /** `sharedLock`: with other servers on the same storage, their common lock per user. */
  constructor(private readonly root: string, onCommitError: (err: unknown) => void = () => undefined, sharedLock?: SharedUserLock) {
    this.commits = new CommitGroup(syncFilesystem(root), undefined, onCommitError);
    this.locks = new UserLocks(sharedLock);
  }

  sync(): Promise<void> {
    return guard(() => this.commits.sync());
  }

  syncFile(user: string, segments: string[]): Promise<void> {
    return guard(async () => {
      if (segments.length === 0) return this.commits.sync();
      // Two fsyncs, as --sync pays per upload: far less than a syncfs of the whole disk, which
      // also waits for everyone else's dirty pages.
      const synced = await withParent(this.userRoot(user), segments, async (dir, name) => {
        const fh = await open(at(dir, name), READ_FLAGS);
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
        await syncDir(fdPath(dir));
        return true;
      }).catch((err: unknown) => {
        // Gone, or moved out of the way, meanwhile (its folder too): the commit covers the rest.
        if (GONE_CODES.has(String((err as { code?: unknown }).code))) return false;
        throw err;
      });
      if (!synced) await this.commits.sync();
    });
  }

  close(): Promise<void> {
    return guard(() => this.commits.close());
  }

  /** Makes a change durable now (two fsyncs) or hands it to the group commit. */
  private async settle(durable: boolean | undefined, dir: string): Promise<void> {
    if (durable === true) await syncDir(dir);
    else this.commits.noteWrite();
  }

  private userRoot(user: string): string {
    return join(this.root, user);
  }

  async ensureUserRoot(user: string): Promise<void> {
    // The storage folder too, if it went away under the running server: private (0700) as at
    // start, since users' folders are 0755; made as their parent it would be 0755 as well,
    // opening every user's files to every account on the machine.
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await mkdir(this.userRoot(user), { recursive: true, mode: DEFAULT_DIR_MODE });
  }

  async stat(user: string, segments: string[]): Promise<Attr> {
    return guard(async () => {
      if (segments.length === 0) {
        return withFd(await openRoot(this.userRoot(user)), async (fd) => toAttr(await fstatFd(fd), undefined, await readOwner(this.userRoot(user))));
      }
      return withParent(this.userRoot(user), segments, async (dir, name) => {
        const st = await lstatAt(dir, name);
        refuseSymlink(st);
        if (st === undefined || !isVisible(st)) throw new RdriveError('ENOENT');
        return attrAt(dir, name, st);
      });
    });
  }

  async folderTimes(user: string, segments: string[]): Promise<FolderTimes> {
    return guard(async () => {
      const st = await withFd(await openDirPath(this.userRoot(user), segments.slice(0, -1)), async (fd) => fstatSync(fd));
      return { mtime: st.mtimeMs, ctime: st.ctimeMs };
    });
  }

  async list(user: string, segments: string[], take: (entries: DirEntry[]) => Promise<void>): Promise<void> {
    return guard(async () => withFd(await openDirPath(this.userRoot(user), segments), async (dir) => {
      for await (const names of namesInOrder(dir, (d) => d.isFile() || d.isDirectory(), LIST_WINDOW)) {
        for (let i = 0; i < names.length; i += LIST_STAT_CONCURRENCY) {
          const batch = names.slice(i, i + LIST_STAT_CONCURRENCY);
          const attrs = await Promise.all(batch.map(async (name) => {
            const st = await lstatAt(dir, name).catch(() => undefined);
            return st !== undefined && isVisible(st) ? attrAt(dir, name, st) : undefined;
          }));
          const entries: DirEntry[] = [];
          attrs.forEach((attr, k) => {
            if (attr !== undefined) entries.push({ name: batch[k]!, ...attr });
          });
          await take(entries);
          // The lstats run on the event loop (confine.ts): let other requests in between batches,
          // or a 100,000-entry listing would hold every other user for its whole duration.
          await breathe();
        }
      }
    }));
  }

  async readHeads(user: string, segments: string[], options: HeadsOptions): Promise<{ files: Array<{ name: string; attr: Attr; content: Buffer }>; more: boolean }> {
    return guard(async () => withFd(await openDirPath(this.userRoot(user), segments), async (dir) => {
      // A folder of big files must not make one request lstat all of it on the event loop,
      // nor a big folder make it hold every name.
      const { names, more } = await firstNames(dir, (d) => d.isFile() && byName(d.name, options.from) >= 0, { count: 4 * options.count + 64, bytes: HEADS_NAMES_BYTES });
      const chosen: string[] = [];
      let planned = 0;
      let i = 0;
      for (; i < names.length && chosen.length < options.count; i++) {
        const name = names[i]!;
        const st = await lstatAt(dir, name).catch(() => undefined);
        if (st === undefined || !st.isFile() || isSpecialCandidate(st) || st.size > options.fileMax) continue;
        if (planned + st.size > options.bytesMax) break;
        // The lease (admit) comes before the read: a change starting later waits for it.
        if (!options.admit(name)) continue;
        chosen.push(name);
        planned += st.size;
      }
      // Read asynchronously (a cold folder must not hold the event loop on the disk), several
      // at a time so the thread-pool hand-offs overlap.
      const reads: Array<Awaited<ReturnType<typeof readSmall>>> = [];
      for (let k = 0; k < chosen.length; k += HEADS_READ_CONCURRENCY) {
        reads.push(...(await Promise.all(chosen.slice(k, k + HEADS_READ_CONCURRENCY).map((name) => readSmall(dir, name)))));
      }
      const files: Array<{ name: string; attr: Attr; content: Buffer }> = [];
      let bytes = 0;
      reads.forEach((read, k) => {
        // Gone or grown since it was listed: left out, within the byte budget.
        if (read === undefined || read.content.length > options.fileMax || bytes + read.content.length > options.bytesMax) return;
        files.push({ name: chosen[k]!, attr: read.attr, content: read.content });
        bytes += read.content.length;
      });
      return { files, more: more || i < names.length };
    }));
  }

  async statfs(user: string): Promise<StatFs> {
    return guard(async () => {
      const s = await statfs(this.userRoot(user));
      const total = s.blocks * s.bsize;
      const free = s.bavail * s.bsize;
      // The disk's inodes, shared by every user: what statfs shows when there is no entry limit.
      return { total, free, used: total - s.bfree * s.bsize, blockSize: s.bsize, entriesTotal: s.files, entriesUsed: s.files - s.ffree, entriesFree: s.ffree };
    });
  }

  async usage(user: string): Promise<Usage> {
    return guard(async () => {
      // A folder not made yet (no login so far) holds nothing.
      const root = await openRoot(this.userRoot(user)).catch((err: unknown) => {
        if ((err as { code?: string }).code === 'ENOENT') return undefined;
        throw err;
      });
      return root === undefined ? NOTHING : withFd(root, (fd) => treeUsage(fd, isTempName));
    });
  }

  async openRead(user: string, segments: string[], rangeFor?: (size: number) => ByteRange | undefined) {
    return guard(async () => {
      if (segments.length === 0) throw new RdriveError('EISDIR');
      const { fh, owner, small } = await withParent(this.userRoot(user), segments, async (dir, name) => {
        const whole = readSmallSync(dir, name, rangeFor);
        if (whole !== undefined) return { small: whole, fh: undefined, owner: undefined };
        const opened = await open(at(dir, name), READ_FLAGS);
        return { fh: opened, owner: await readOwner(at(dir, name)).catch(() => undefined) };
      });
      if (small !== undefined) return small;
      try {
        // Only an in-place truncate racing this read makes a pass come up short: look again.
        for (let attempt = 1; ; attempt++) {
          const st = await fh.stat();
          await checkReadable(fh, st);
          const range = rangeFor?.(st.size);
          const length = range === undefined ? st.size : range.end - range.start + 1;
          if (length > SMALL_READ) {
            const stream = fh.createReadStream({ ...(range ?? {}), autoClose: true, highWaterMark: 256 * 1024 });
            return { content: stream as Readable, attr: toAttr(st, undefined, owner), range };
          }
          const content = await readExactly(fh, length, range?.start ?? 0);
          if (content.length === length) {
            await fh.close();
            return { content, attr: toAttr(st, undefined, owner), range };
          }
          if (attempt === 3) throw new RdriveError('EIO', 'The file kept changing while being read; retry');
        }
      } catch (err) {
        await fh.close().catch(() => undefined);
        throw err;
      }
    });
  }

  async writeAtomic(user: string, segments: string[], body: Readable, options: WriteOptions): Promise<Attr> {
    return guard(async () => {
      if (segments.length === 0) throw new RdriveError('EISDIR');
      return withParent(this.userRoot(user), segments, async (dir, name) => {
        // O_CREAT|O_EXCL semantics: anything at the name, a link too, is EEXIST.
        if (options.exclusive === true && (await lstatAt(dir, name)) !== undefined) throw new RdriveError('EEXIST');
        const existing = await existingFile(dir, name);
        if (existing === undefined) await options.creating?.();
        const mode = options.mode ?? (existing === undefined ? DEFAULT_FILE_MODE : existing.mode & 0o7777);
        if (options.length !== undefined && options.length <= SMALL_WRITE && options.durable !== true && !isLarge(existing)) {
          const data = await receiveWhole(body, options);
          await checkNotAborted(options.isAborted);
          // With a quota, what this replaces is measured and settled just before (see UserLocks);
          // without one the whole write stays on the event loop.
          const replacing = options.replacing;
          const { st, owner } = replacing === undefined
            ? writeSmallSync(dir, name, data, mode, existing !== undefined, options)
            : await this.locks.run(user, async () => {
              await replacing(storedUsage(lstatAtSync(dir, name)), data.length);
              return writeSmallSync(dir, name, data, mode, existing !== undefined, options);
            });
          this.commits.noteWrite();
          return toAttr(st, undefined, owner);
        }
        return withTempFile(dir, name, async (temp, fh) => {
          // Runs beside the body's arrival; awaited before the file is synced.
          const chmodDone = fh.chmod(mode);
          chmodDone.catch(() => undefined);
          // The new file is the entry from now on: it keeps the old one's owner, or a new file
          // takes the one asked for.
          const ownerDone = existing !== undefined ? copyOwner(at(dir, name), at(dir, temp)) : options.owner !== undefined ? writeOwner(at(dir, temp), options.owner) : Promise.resolve();
          ownerDone.catch(() => undefined);
          const written = options.sparseSize === undefined ? await receiveInto(fh, body, options) : await receiveExtentsInto(fh, body, options.sparseSize, options);
          await chmodDone;
          await keepSpecialBits(fh, mode);
          await ownerDone;
          if (options.mtime !== undefined) await fh.utimes(new Date(), utime(options.mtime));
          // The data must be stable before the rename publishes it, or a machine crash could
          // leave the new name on an empty file.
          if (options.durable === true) await fh.sync();
          await checkNotAborted(options.isAborted);
          const aside = await this.locks.run(user, async () => {
            const current = lstatAtSync(dir, name);
            if (options.replacing !== undefined) await options.replacing(storedUsage(current), written);
            if (options.exclusive === true) {
              await link(at(dir, temp), at(dir, name));
              await unlink(at(dir, temp));
              return undefined;
            }
            return replaceKeepingAside(dir, name, current, () => publishLarge(at(dir, temp), at(dir, name)));
          });
          await dropAside(dir, aside);
          // Taken after the rename (or link), which changes ctime: what a later stat will say.
          const st = await fh.stat();
          await fh.close();
          await this.settle(options.durable, fdPath(dir));
          return toAttr(st, undefined, existing === undefined ? options.owner : await readOwner(at(dir, name)));
        });
      });
    });
  }

  async patchAtomic(
    user: string,
    segments: string[],
    body: Readable,
    options: WriteLimits & Durability & { size?: number; offset?: number; extents: boolean; mtime?: number; ifMatch?: string; isAborted?: () => boolean | Promise<boolean> },
  ): Promise<Attr> {
    return guard(async () => {
      if (segments.length === 0) throw new RdriveError('EISDIR');
      return withParent(this.userRoot(user), segments, async (dir, name) => {
        const source = await open(at(dir, name), READ_FLAGS);
        try {
          const existing = await source.stat();
          await checkReadable(source, existing);
          // Checked on the very file the copy is made from: a replace just before cannot slip in.
          if (options.ifMatch !== undefined && !sameContent(options.ifMatch, toAttr(existing))) throw new RdriveError('CHANGED');
          if (options.size !== undefined) {
            checkLimit(options.size, options);
            await options.reserve?.(options.size);
          }
          // The copy is new bytes on disk until it replaces the file (see limitedWrite).
          await options.reserve?.(existing.size);
          return await withTempFile(dir, name, async (temp, out) => {
            // Both ends through their descriptors: the copy follows no name.
            if (isSparse(existing)) await copyKeepingHoles(source, out, existing.size);
            else await copyFile(fdPath(source.fd), fdPath(out.fd), constants.COPYFILE_FICLONE);
            await copyOwner(at(dir, name), at(dir, temp));
            let end = existing.size;
            const pieces = options.extents ? readExtents(keepOnError(body)) : rawPieces(keepOnError(body), options.offset ?? 0);
            for await (const { offset, data } of pieces) {
              end = Math.max(end, offset + data.length);
              // The temp file holds every extent until the truncate to ?size: each byte counts.
              checkLimit(end, options);
              await options.reserve?.(end);
              await writeAll(out, data, offset);
            }
            if (options.size !== undefined) await out.truncate(options.size);
            await keepSpecialBits(out, existing.mode & 0o7777);
            if (options.mtime !== undefined) await out.utimes(new Date(), utime(options.mtime));
            if (options.durable === true) await out.sync();
            await checkNotAborted(options.isAborted);
            const aside = await this.locks.run(user, async () => {
              const current = lstatAtSync(dir, name);
              // Checked again where no other change of this user can slip in: two patches based
              // on one version, sent at once, both passed the check above; the second to land
              // would have undone the first (an fsync() that had returned).
              if (options.ifMatch !== undefined && (current === undefined || current.ino !== existing.ino || !sameContent(etagOf(toAttr(existing)), toAttr(current)))) {
                throw new RdriveError('CHANGED');
              }
              // A chmod, chown or rename since the copy was made (same content): the copy takes
              // the mode and owner the file has now, or the patch would undo them.
              if (current !== undefined && current.ino === existing.ino && current.ctimeMs !== existing.ctimeMs) {
                await out.chmod(current.mode & 0o7777);
                await copyOwner(at(dir, name), at(dir, temp));
              }
              await options.replacing?.(storedUsage(current), options.size ?? end);
              return replaceKeepingAside(dir, name, current, () => publishLarge(at(dir, temp), at(dir, name)));
            });
            await dropAside(dir, aside);
            const st = await out.stat();
            await out.close();
            await this.settle(options.durable, fdPath(dir));
            return toAttr(st, undefined, await readOwner(at(dir, name)));
          });
        } finally {
          await source.close().catch(() => undefined);
        }
      });
    });
  }

  async unlink(user: string, segments: string[]): Promise<Usage> {
    return guard(async () => {
      if (segments.length === 0) throw new RdriveError('EISDIR');
      return withParent(this.userRoot(user), segments, async (dir, name) => {
        const { freed, aside } = await this.locks.run(user, async () => {
          const st = await lstatAt(dir, name);
          refuseSymlink(st);
          if (st === undefined || !isVisible(st)) throw new RdriveError('ENOENT');
          if (st.isDirectory()) throw new RdriveError('EISDIR');
          // A big file's blocks take long to free: the name goes under the lock, the blocks after.
          const aside = setAsideLarge(dir, name, st);
          await unlink(at(dir, name));
          return { freed: storedUsage(st), aside };
        });
        this.commits.noteWrite();
        await dropAside(dir, aside);
        return freed;
      });
    });
  }

  async createSpecial(user: string, segments: string[], special: Special, owner?: Owner): Promise<Attr> {
    return guard(async () => {
      if (segments.length === 0) throw new RdriveError('EEXIST');
      return withParent(this.userRoot(user), segments, async (dir, name) => {
        if ((await lstatAt(dir, name)) !== undefined) throw new RdriveError('EEXIST');
        return withTempFile(dir, name, async (temp, fh) => {
          await writeAll(fh, encodeSpecial(special), 0);
          await fh.chmod(SPECIAL_MODE);
          if (owner !== undefined) await writeOwner(at(dir, temp), owner);
          // link() never replaces: a name taken meanwhile still answers EEXIST.
          await link(at(dir, temp), at(dir, name));
          await unlink(at(dir, temp));
          const st = await fh.stat();
          await fh.close();
          this.commits.noteWrite();
          return toAttr(st, special, owner);
        });
      });
    });
  }

  /** chmod of a stored node: its content is rewritten (atomically, times kept), the stored file's mode stays SPECIAL_MODE. */
  private async rewriteNode(dir: number, name: string, special: Special, st: Stats): Promise<void> {
    await withTempFile(dir, name, async (temp, fh) => {
      await writeAll(fh, encodeSpecial(special), 0);
      await fh.chmod(SPECIAL_MODE);
      await copyOwner(at(dir, name), at(dir, temp));
      await fh.utimes(utime(st.atimeMs), utime(st.mtimeMs));
      await rename(at(dir, temp), at(dir, name));
      await fh.close();
    });
  }

  async mkdir(user: string, segments: string[], options: MkdirOptions): Promise<Attr> {
    return guard(async () => {
      const mode = options.mode ?? DEFAULT_DIR_MODE;
      if (options.parents === true) {
        const made = await makeParents(this.userRoot(user), segments, mode, options);
        this.commits.noteWrite();
        return withFd(made, async (fd) => toAttr(await fstatFd(fd)));
      }
      if (segments.length === 0) throw new RdriveError('EEXIST');
      return withParent(this.userRoot(user), segments, async (dir, name) => {
        await options.room?.(1);
        // Synchronous calls, as for small files (see SMALL_WRITE): four thread-pool hand-offs
        // made a mkdir cost ~3 ms of server time under load, against ~1.5 ms for a small PUT.
        mkdirSync(at(dir, name), { mode });
        options.made?.(1);
        this.commits.noteWrite();
        // The exact mode (no umask, special bits kept), set on the directory just made, not on a name.
        return withFd(await openEntryAt(dir, name), async (fd) => {
          chmodSync(fdPath(fd), mode & 0o7777);
          if (options.owner !== undefined) writeOwnerSync(at(dir, name), options.owner);
          return toAttr(fstatSync(fd), undefined, options.owner);
        });
      });
    });
  }

  async rmdir(user: string, segments: string[], options: { recursive?: boolean }): Promise<Usage> {
    return guard(async () => {
      if (segments.length === 0) throw new RdriveError('EACCES', 'Cannot remove your root folder');
      return withParent(this.userRoot(user), segments, async (dir, name) => {
        const st = await lstatAt(dir, name);
        refuseSymlink(st);
        if (st === undefined) throw new RdriveError('ENOENT');
        if (!st.isDirectory()) throw new RdriveError('ENOTDIR');
        if (options.recursive === true) {
          const freed = await removeTree(dir, name);
          this.commits.noteWrite();
          return freed;
        }
        try {
          await rmdir(at(dir, name));
          this.commits.noteWrite();
          return { bytes: 0, entries: 1 };
        } catch (err) {
          // Leftover temp files of interrupted uploads are invisible, so they must not block rmdir.
          if ((err as { code?: string }).code !== 'ENOTEMPTY') throw err;
          const freed = await withFd(await openDirAt(dir, name), async (inner) => {
            const names = await readdir(fdPath(inner));
            if (!names.every(isTempName)) throw err;
            // A temp folder: what an interrupted removal of a deep tree left (see removeTree).
            const each = await Promise.all(names.map((n) => unlink(at(inner, n)).then(() => NOTHING, () => removeTree(inner, n)).catch(() => NOTHING)));
            return each.reduce(plus, NOTHING);
          });
          await rmdir(at(dir, name));
          this.commits.noteWrite();
          return { bytes: freed.bytes, entries: freed.entries + 1 };
        }
      });
    });
  }

  async rename(user: string, from: string[], to: string[], options: { noReplace?: boolean }): Promise<{ attr: Attr; replaced: Usage }> {
    return guard(async () => {
      if (from.length === 0 || to.length === 0) throw new RdriveError('EACCES', 'Cannot rename your root folder');
      const root = this.userRoot(user);
      return withParent(root, from, (src, a) => withParent(root, to, async (dst, b) => {
        const { done, aside } = await this.locks.run(user, async () => {
          const moving = await lstatAt(src, a);
          refuseSymlink(moving);
          if (moving === undefined || !isVisible(moving)) throw new RdriveError('ENOENT');
          const replaced = await lstatAt(dst, b);
          refuseSymlink(replaced);
          if (options.noReplace === true && replaced !== undefined) throw new RdriveError('EEXIST');
          // Onto itself (the same inode): rename(2) does nothing, and nothing is freed.
          const itself = replaced !== undefined && replaced.ino === moving.ino && replaced.dev === moving.dev;
          const kept = await replaceKeepingAside(dst, b, itself ? undefined : replaced, () => rename(at(src, a), at(dst, b)));
          const moved = await lstatAt(dst, b);
          if (moved === undefined) throw new RdriveError('ENOENT');
          this.commits.noteWrite();
          return { done: { attr: await attrAt(dst, b, moved), replaced: itself ? NOTHING : storedUsage(replaced) }, aside: kept };
        });
        await dropAside(dst, aside);
        return done;
      }));
    });
  }

  async linkHidden(user: string, from: string[], to: string[]): Promise<Attr> {
    return guard(async () => {
      if (from.length === 0 || to.length === 0) throw new RdriveError('EACCES', 'Cannot link your root folder');
      if (!to[to.length - 1]!.startsWith(HIDDEN_PREFIX)) throw new RdriveError('EPERM', 'Hard links are not supported');
      const root = this.userRoot(user);
      return withParent(root, from, (src, a) => withParent(root, to, async (dst, b) => this.locks.run(user, async () => {
        const source = await lstatAt(src, a);
        refuseSymlink(source);
        if (source === undefined || !isVisible(source)) throw new RdriveError('ENOENT');
        if (!source.isFile() || (await specialAt(src, a, source)) !== undefined) throw new RdriveError('EPERM', 'Only a regular file can be kept under a hidden name');
        // One second name at most: each name may be patched at once, each patch copying the
        // file for its base (see limitedWrite), so names must not multiply.
        if (source.nlink > 1) throw new RdriveError('EPERM', 'The file already has a second name');
        await link(at(src, a), at(dst, b));
        this.commits.noteWrite();
        return attrAt(dst, b, (await lstatAt(dst, b))!);
      })));
    });
  }

  async setAttr(user: string, segments: string[], request: SetAttrRequest, limits: WriteLimits): Promise<Attr> {
    return guard(async () => {
      // A truncate finds the file replaced (an upload renamed a new one in) between opening it
      // and its turn under the lock: done again on the new one, as if it came after the upload.
      for (let attempt = 0; attempt < 3; attempt++) {
        const attr = await this.setAttrOnce(user, segments, request, limits);
        if (attr !== 'replaced') return attr;
      }
      throw new RdriveError('CHANGED', 'The file kept being replaced while its size was changed; retry');
    });
  }

  private async setAttrOnce(user: string, segments: string[], request: SetAttrRequest, limits: WriteLimits): Promise<Attr | 'replaced'> {
    let attrs = request;
    const root = this.userRoot(user);
    const owner = attrs.uid !== undefined && attrs.gid !== undefined ? { uid: attrs.uid, gid: attrs.gid } : undefined;
    if (segments.length > 0) {
      // A stored node's mode lives in its content: rewritten by name, then the times below.
      const node = await withParent(root, segments, async (dir, name) => {
        const st = await lstatAt(dir, name);
        const special = st === undefined ? undefined : await specialAt(dir, name, st);
        if (special === undefined || special.type === 'symlink') return undefined;
        if (attrs.size !== undefined) throw new RdriveError('EINVAL', 'A FIFO, socket or device node has no size to change');
        if (attrs.mode !== undefined) await this.rewriteNode(dir, name, { ...special, mode: attrs.mode & 0o7777 }, st!);
        return special;
      });
      if (node !== undefined) attrs = { ...(attrs.mtime === undefined ? {} : { mtime: attrs.mtime }), ...(attrs.atime === undefined ? {} : { atime: attrs.atime }) };
    }
    const entry = segments.length === 0
      ? { fd: await openRoot(root), special: undefined }
      : await withParent(root, segments, async (dir, name) => {
        const fd = await openEntryAt(dir, name);
        try {
          const st = fstatSync(fd);
          if (st.isSymbolicLink()) throw loopError();
          return { fd, special: await specialAt(dir, name, st) };
        } catch (err) {
          release(fd);
          throw err;
        }
      });
    return withFd(entry.fd, async (fd) => {
      const path = fdPath(fd);
      const st = fstatSync(fd);
      if (!isVisible(st)) throw new RdriveError('ENOENT');
      if (entry.special?.type === 'symlink' && (attrs.size !== undefined || attrs.mode !== undefined)) {
        throw new RdriveError('EOPNOTSUPP', 'A symlink has no mode or size of its own to change');
      }
      if (attrs.size !== undefined) {
        const size = attrs.size;
        if (st.isDirectory()) throw new RdriveError('EISDIR');
        const replaced = await this.locks.run(user, async () => {
          // Uploads replace a file rather than change it: the name may hold another one now, or
          // none (removed, its bytes already counted as freed): the next attempt finds out which.
          const named = segments.length === 0 ? undefined : await withParent(root, segments, (dir, name) => lstatAt(dir, name));
          const mine = fstatSync(fd);
          if (segments.length > 0 && (named === undefined || named.ino !== mine.ino || named.dev !== mine.dev)) return true;
          if (size > mine.size) checkLimit(size, limits);
          await limits.replacing?.({ bytes: mine.size, entries: 1 }, size);
          await truncate(path, size);
          return false;
        });
        if (replaced) return 'replaced';
      }
      // A truncate by a server without CAP_FSETID clears setuid/setgid (see keepSpecialBits).
      const mode = attrs.mode ?? (attrs.size !== undefined && (st.mode & 0o6000) !== 0 ? st.mode : undefined);
      // fstat (above), chmod and utimes are metadata calls, microseconds on a local disk: on the
      // event loop, as mkdir's, rather than a thread-pool hand-off each (a PATCH made four).
      // A truncate may free many blocks, so it stays on the thread pool.
      if (mode !== undefined) chmodSync(path, mode & 0o7777);
      this.commits.noteWrite();
      if (attrs.mtime !== undefined || attrs.atime !== undefined) {
        utimesSync(path, utime(attrs.atime ?? st.atimeMs), utime(attrs.mtime ?? st.mtimeMs));
      }
      // Last, once every check above passed: a refused request changes nothing.
      if (owner !== undefined) await writeOwnerOf(root, segments, owner);
      return toAttr(fstatSync(fd), entry.special, owner ?? (await readOwnerOf(root, segments)));
    });
  }
}

/** Stores the owner of the entry at `segments`, by name (lsetxattr never follows); the root is the user's folder. */
function writeOwnerOf(root: string, segments: readonly string[], owner: Owner): Promise<void> {
  if (segments.length === 0) return writeOwner(root, owner);
  return withParent(root, segments, async (dir, name) => writeOwner(at(dir, name), owner));
}

/** The stored owner of the entry at `segments` (walked again, by name). */
function readOwnerOf(root: string, segments: readonly string[]): Promise<Owner | undefined> {
  if (segments.length === 0) return readOwner(root);
  return withParent(root, segments, async (dir, name) => readOwner(at(dir, name)));
}

const isSparse = (st: Stats): boolean => st.blocks * 512 < st.size;
/** Chunk of a sparse file's copy: a chunk of zeros is left a hole. */
const SPARSE_CHUNK = 64 * 1024;

/**
 * The copy a patch starts from, for a file with holes: copyFile (copy_file_range on ext4) writes
 * every hole out as zeros, so patching one byte of a 20 MB file of holes stored 20 MB. Chunks
 * of zeros are skipped instead and the length set at the end: holes stay holes.
 */
async function copyKeepingHoles(source: FileHandle, out: FileHandle, size: number): Promise<void> {
  const buf = Buffer.alloc(1024 * 1024);
  for (let at = 0; at < size; ) {
    const { bytesRead } = await source.read(buf, 0, Math.min(buf.length, size - at), at);
    if (bytesRead === 0) break;
    for (let off = 0; off < bytesRead; off += SPARSE_CHUNK) {
      const chunk = buf.subarray(off, Math.min(off + SPARSE_CHUNK, bytesRead));
      if (!isZeros(chunk)) await writeAll(out, chunk, at + off);
    }
    at += bytesRead;
  }
  await out.truncate(size);
}

const ZERO_CHUNK = Buffer.alloc(SPARSE_CHUNK);

function isZeros(chunk: Buffer): boolean {
  return chunk.equals(ZERO_CHUNK.subarray(0, chunk.length));
}

/** Runs `fn` with a held descriptor and releases it when `fn` settles. */
async function withFd<T>(fd: number, fn: (fd: number) => Promise<T>): Promise<T> {
  try {
    return await fn(fd);
  } finally {
    release(fd);
  }
}

/**
 * Sets setuid/setgid again once a temp file's data is written and before it is published. A
 * server without CAP_FSETID (any server not running as root) has them cleared by the kernel at
 * each write or truncate, so a chmod done beside the writes would be undone. The client's own
 * kernel already decided whether its writer keeps them: the server keeps what it was given.
 */
async function keepSpecialBits(fh: FileHandle, mode: number): Promise<void> {
  if ((mode & 0o6000) !== 0) await fh.chmod(mode);
}

/**
 * mkdir -p from the user's root, one held directory at a time; returns the last one. Room is
 * asked before each folder made, and each one made is told (see MkdirOptions).
 */
async function makeParents(root: string, segments: readonly string[], mode: number, { room, made }: MkdirOptions): Promise<number> {
  let count = 0;
  // Checked before anything is made: a temp name last must not leave its parents behind.
  if (segments.some(isTempName)) throw new RdriveError('ENOENT');
  let fd = await openRoot(root);
  try {
    for (const [i, name] of segments.entries()) {
      // Room is asked only for a folder that is not there yet: an existing path costs no reservation.
      if (room !== undefined && lstatAtSync(fd, name) === undefined) await room(count + 1);
      const fresh = await mkdir(at(fd, name), { mode }).then(() => true, (err: unknown) => {
        if ((err as { code?: string }).code !== 'EEXIST') throw err;
        return false;
      });
      if (fresh) made?.(++count);
      let next: number;
      try {
        next = await openDirAt(fd, name);
      } catch (err) {
        const last = i === segments.length - 1;
        throw last && (err as { code?: string }).code === 'ENOTDIR' ? new RdriveError('EEXIST') : err;
      }
      release(fd);
      fd = next;
    }
    return fd;
  } catch (err) {
    release(fd);
    throw err;
  }
}

async function checkNotAborted(isAborted: (() => boolean | Promise<boolean>) | undefined): Promise<void> {
  if (isAborted !== undefined && (await isAborted())) {
    throw new RdriveError('ETIMEDOUT', 'The client closed the connection before the upload completed; nothing was saved');
  }
}

/** Refuses to read a directory, a stored link (ELOOP: the server never follows) or node, or anything else. */
async function checkReadable(fh: FileHandle, st: Stats): Promise<void> {
  if (st.isDirectory()) throw new RdriveError('EISDIR');
  if (!st.isFile()) throw new RdriveError('ENOENT');
  if (isSpecialCandidate(st)) refuseSpecial(await readSpecialFd(fh.fd));
}

/** ELOOP for a stored link, EINVAL for a stored node: neither has content the server serves or replaces. */
function refuseSpecial(special: Special | undefined): void {
  if (special === undefined) return;
  if (special.type === 'symlink') throw loopError();
  throw new RdriveError('EINVAL', 'A FIFO, socket or device node has no content on the server; only the mounting machine\'s kernel uses it');
}

/** Maps foreign errors at the backend's edge; no absolute path ever leaves in a message. */
async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw fromForeign(err);
  }
}

function checkLimit(bytes: number, limits: WriteLimits): void {
  if (limits.maxBytes !== undefined && bytes > limits.maxBytes) {
    const code = limits.overCode ?? 'ENOSPC';
    throw new RdriveError(code, code === 'EFBIG' ? 'File too large for this server' : 'Quota exceeded: no space left for this user');
  }
}

/** The file `name` in `dirFd`, undefined when absent; EISDIR for a directory, ELOOP for any link.
 * (A missing parent or a file as parent fails the walk with ENOENT / ENOTDIR.) */
async function existingFile(dirFd: number, name: string): Promise<Stats | undefined> {
  const st = await lstatAt(dirFd, name);
  refuseSymlink(st);
  if (st === undefined) return undefined;
  if (st.isDirectory()) throw new RdriveError('EISDIR');
  if (!st.isFile()) throw new RdriveError('EACCES', 'Not a regular file');
  refuseSpecial(await specialAt(dirFd, name, st));
  return st;
}

/** Streams a whole body into `fh` within the write's limits; returns its length. */
async function receiveInto(fh: FileHandle, body: Readable, limits: WriteLimits): Promise<number> {
  let written = 0;
  // Socket chunks are ~64 KiB; one writev per 1 MiB costs far fewer syscalls, and unlike a
  // Buffer.concat copies nothing (the copies and their garbage were a third of the server's CPU
  // for a 256 MiB upload).
  let batch: Buffer[] = [];
  let batched = 0;
  for await (const chunk of keepOnError(body)) {
    written += chunk.length;
    checkLimit(written, limits);
    await limits.reserve?.(written);
    batch.push(chunk);
    batched += chunk.length;
    if (batched >= WRITE_BATCH) {
      await writeAllv(fh, batch, written - batched);
      batch = [];
      batched = 0;
    }
  }
  if (batched > 0) await writeAllv(fh, batch, written - batched);
  return written;
}

/** Writes the extents of a sparse upload into `fh` (holes between them) and sets its size. */
async function receiveExtentsInto(fh: FileHandle, body: Readable, size: number, limits: WriteLimits): Promise<number> {
  checkLimit(size, limits);
  await limits.reserve?.(size);
  for await (const { offset, data } of readExtents(keepOnError(body))) {
    if (offset + data.length > size) throw new RdriveError('EINVAL', `An extent ends past the file's size (${size})`);
    await writeAll(fh, data, offset);
  }
  await fh.truncate(size);
  return size;
}

/** Runs `fn` with a fresh temp file beside `name` in `dirFd`; the temp file never outlives a failure. */
async function withTempFile<T>(dirFd: number, name: string, fn: (temp: string, fh: FileHandle) => Promise<T>): Promise<T> {
  const temp = tempFileName(name);
  const fh = await open(at(dirFd, temp), 'wx', DEFAULT_FILE_MODE);
  try {
    return await fn(temp, fh);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(at(dirFd, temp)).catch(() => undefined);
    throw err;
  }
}

/** The whole (small) body, within the write's limits; reserves its size once. */
async function receiveWhole(body: Readable, limits: WriteLimits): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of keepOnError(body)) {
    received += chunk.length;
    checkLimit(received, limits);
    chunks.push(chunk);
  }
  await limits.reserve?.(received);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
}

/**
 * writeAtomic's steps for a body already in memory, without leaving the event loop: a temp file
 * beside `name` takes mode, data, owner and mtime, then replaces `name` (or, exclusive, is linked
 * to it). Returns the new file's stat, taken after the rename, and its stored owner.
 */
function writeSmallSync(dir: number, name: string, data: Buffer, mode: number, replacing: boolean, options: WriteOptions): { st: Stats; owner: Owner | undefined } {
  const temp = tempFileName(name);
  const fd = openSync(at(dir, temp), 'wx', DEFAULT_FILE_MODE);
  try {
    fchmodSync(fd, mode);
    writeFullySync(fd, data, 0);
    // See keepSpecialBits: a write cleared setuid/setgid on a server without CAP_FSETID.
    if ((mode & 0o6000) !== 0) fchmodSync(fd, mode);
    // A replaced file keeps its own owner; X-Rdrive-Owner is for a new one.
    const owner = replacing ? copyOwnerSync(at(dir, name), at(dir, temp)) : options.owner;
    if (!replacing && owner !== undefined) writeOwnerSync(at(dir, temp), owner);
    if (options.mtime !== undefined) futimesSync(fd, new Date(), utime(options.mtime));
    if (options.exclusive === true) {
      linkSync(at(dir, temp), at(dir, name));
      unlinkSync(at(dir, temp));
    } else {
      renameSync(at(dir, temp), at(dir, name));
    }
    const st = fstatSync(fd);
    closeSync(fd);
    return { st, owner };
  } catch (err) {
    for (const cleanup of [() => closeSync(fd), () => unlinkSync(at(dir, temp))]) {
      try {
        cleanup();
      } catch {
        // closed already, or renamed already: nothing left behind
      }
    }
    throw err;
  }
}

/**
 * A small plain file's content (or range) with its attributes, read without leaving the event
 * loop (see SMALL_WRITE); undefined when the file is large, a stored link or node, or not a
 * file, for the general path to handle. A truncate racing the read makes it come up short: the
 * general path then retries.
 */
function readSmallSync(dir: number, name: string, rangeFor: ((size: number) => ByteRange | undefined) | undefined): { content: Buffer; attr: Attr; range: ByteRange | undefined } | undefined {
  const fd = openSync(at(dir, name), READ_FLAGS);
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || isSpecialCandidate(st) || st.size > SMALL_READ) return undefined;
    const range = rangeFor?.(st.size);
    const length = range === undefined ? st.size : range.end - range.start + 1;
    const content = Buffer.allocUnsafe(length);
    const start = range?.start ?? 0;
    let done = 0;
    while (done < length) {
      const n = readSync(fd, content, done, length - done, start + done);
      if (n === 0) return undefined;
      done += n;
    }
    return { content, attr: toAttr(st, undefined, ownerOrNone(at(dir, name))), range };
  } finally {
    closeSync(fd);
  }
}

/**
 * A small plain file's whole content and attributes for a folder read; undefined when it is no
 * longer one (grown, replaced by a link or a folder, removed since it was listed): the batch
 * goes on without it. The content is read through the thread pool (a cold folder must not hold
 * the event loop on the disk); the open, fstat and close run on the event loop, as the lstat
 * before them did: the name and inode that lstat just looked up are in memory, and each of those
 * calls through the thread pool was a hand-off costing several times the call itself.
 */
async function readSmall(dir: number, name: string): Promise<{ content: Buffer; attr: Attr } | undefined> {
  let fd: number;
  try {
    fd = openSync(at(dir, name), READ_FLAGS);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || isSpecialCandidate(st) || st.size > SMALL_READ) return undefined;
    const content = await readFdExactly(fd, st.size);
    return content.length === st.size ? { content, attr: toAttr(st, undefined, ownerOrNone(at(dir, name))) } : undefined;
  } catch {
    return undefined;
  } finally {
    try {
      closeSync(fd);
    } catch {
      // a read-only descriptor: nothing is lost if its close fails
    }
  }
}

const readFd = promisify(readCb);

/** Up to `length` bytes from the start of `fd` through the thread pool (fewer if the file shrank). */
async function readFdExactly(fd: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await readFd(fd, buffer, done, length - done, done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buffer.subarray(0, done);
}

/** The stored owner for a read's attributes; a failure to read it must not fail the read. */
function ownerOrNone(path: string): Owner | undefined {
  try {
    return readOwnerSync(path);
  } catch {
    return undefined;
  }
}

/** Up to `length` bytes at `position` (fewer if the file shrank meanwhile). */
async function readExactly(fh: FileHandle, length: number, position: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buffer.subarray(0, done);
}

/** writeAll for a list of buffers, in one writev each time (a short write resumes where it stopped). */
async function writeAllv(fh: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let rest = buffers;
  let offset = position;
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest, offset);
    offset += bytesWritten;
    rest = dropBytes(rest, bytesWritten);
  }
}

/** The buffers without their first `n` bytes (views, no copy). */
export function dropBytes(buffers: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  let skip = n;
  for (const b of buffers) {
    if (skip >= b.length) skip -= b.length;
    else {
      out.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
  }
  return out;
}

function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  return writeAllv(fh, [data], position);
}

/**
 * The body's chunks, without destroying the request when the consumer stops early (a limit
 * hit, a full disk): the connection then stays up to carry the error answer, and the HTTP
 * layer discards the rest of the body (see errorHandler).
 */
function keepOnError(body: Readable): AsyncIterable<Buffer> {
  return body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
}

async function* rawPieces(body: AsyncIterable<Buffer>, offset: number): AsyncGenerator<{ offset: number; data: Buffer }> {
  let position = offset;
  for await (const chunk of body) {
    yield { offset: position, data: chunk };
    position += chunk.length;
  }
}

/**
 * A time in ms as utimes wants it (seconds), such that it is stored to the exact millisecond:
 * libuv truncates seconds * 1e6 to whole microseconds, and the float error of ms / 1000 would
 * turn 1795599303908 ms into ...907.999 (the mount reports whole ms, so 907: a changed mtime).
 * A time before 1970 goes as a Date: Node takes a negative number of seconds for "now".
 */
export function utime(ms: number): number | Date {
  return ms < 0 ? new Date(ms) : (ms + 0.0005) / 1000;
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * A big file about to be replaced by a rename gets a second (temp) name first, so the rename
 * frees none of its blocks while the user's lock is held; dropAside frees them afterwards.
 */
function setAsideLarge(dir: number, name: string, st: Stats | undefined): string | undefined {
  if (!isLarge(st)) return undefined;
  const temp = tempFileName(name);
  linkSync(at(dir, name), at(dir, temp));
  return temp;
}

/**
 * Runs `replace` (a rename onto `name`, whose entry is `current`) with a big file there set aside
 * first; returns the aside name for dropAside once the lock is released.
 */
async function replaceKeepingAside(dir: number, name: string, current: Stats | undefined, replace: () => Promise<void>): Promise<string | undefined> {
  const kept = setAsideLarge(dir, name, current);
  try {
    await replace();
  } catch (err) {
    await dropAside(dir, kept);
    throw err;
  }
  return kept;
}

async function dropAside(dir: number, temp: string | undefined): Promise<void> {
  if (temp !== undefined) await unlinkOffLoop(at(dir, temp)).catch(() => undefined);
}

/**
 * What an entry holds as quotas count it (treeUsage): a file's size and one entry, one entry for
 * a folder, and nothing for a name another one shares (linkHidden): it goes with the last name.
 */
function storedUsage(st: Stats | undefined): Usage {
  if (st === undefined) return NOTHING;
  if (st.isDirectory()) return { bytes: 0, entries: 1 };
  return st.nlink > 1 ? NOTHING : { bytes: st.size, entries: 1 };
}

