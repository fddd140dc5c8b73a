import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import {
  copyFile, link, lstat, mkdir, open, readdir, rename, rm, rmdir, stat, statfs, truncate, unlink, utimes, chmod,
  type FileHandle,
} from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Attr, DirEntry, SetAttrRequest, StatFs } from '../../common/api.js';
import { RdriveError, fromForeign } from '../../common/errors.js';
import type { ByteRange, Durability, StorageBackend, WriteLimits, WriteOptions } from './backend.js';
import { CommitGroup, syncFilesystem } from './commit-group.js';
import { TEMP_PREFIX, confine, confineEntry, isTempName, type Entry } from './confine.js';
import { readExtents } from './extent-reader.js';

const DEFAULT_FILE_MODE = 0o644;
const DEFAULT_DIR_MODE = 0o755;
const LIST_STAT_CONCURRENCY = 64;
const WRITE_BATCH = 1024 * 1024;
/** Ranges up to this size are read into memory and sent in one piece instead of streamed. */
const SMALL_READ = 256 * 1024;

export function toAttr(st: Stats): Attr {
  return {
    type: st.isDirectory() ? 'dir' : 'file',
    size: st.isDirectory() ? 0 : st.size,
    mtime: st.mtimeMs,
    atime: st.atimeMs,
    ctime: st.ctimeMs,
    mode: st.mode & 0o777,
  };
}

/** Every user's folder is `<root>/<user>/` on the local disk. */
export class LocalDiskBackend implements StorageBackend {
  /** Changes not written `durable` reach stable storage in groups (see commit-group.ts). */
  private readonly commits: CommitGroup;

  constructor(private readonly root: string, onCommitError: (err: unknown) => void = () => undefined) {
    this.commits = new CommitGroup(syncFilesystem(root), undefined, onCommitError);
  }

  sync(): Promise<void> {
    return guard(() => this.commits.sync());
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

  private async path(user: string, segments: string[]): Promise<string> {
    return confine(this.userRoot(user), segments);
  }

  async ensureUserRoot(user: string): Promise<void> {
    await mkdir(this.userRoot(user), { recursive: true, mode: DEFAULT_DIR_MODE });
  }

  async stat(user: string, segments: string[]): Promise<Attr> {
    return guard(async () => toAttr(await statVisible(await this.path(user, segments))));
  }

  async list(user: string, segments: string[]): Promise<DirEntry[]> {
    return guard(async () => {
      const dir = await this.path(user, segments);
      const st = await stat(dir);
      if (!st.isDirectory()) throw new RdriveError('ENOTDIR');
      const names = (await readdir(dir, { withFileTypes: true }))
        .filter((d) => (d.isFile() || d.isDirectory()) && !isTempName(d.name))
        .map((d) => d.name);
      const entries: DirEntry[] = [];
      for (let i = 0; i < names.length; i += LIST_STAT_CONCURRENCY) {
        const batch = names.slice(i, i + LIST_STAT_CONCURRENCY);
        const stats = await Promise.all(batch.map((n) => lstat(join(dir, n)).catch(() => undefined)));
        stats.forEach((s, k) => {
          if (s !== undefined && (s.isFile() || s.isDirectory())) entries.push({ name: batch[k]!, ...toAttr(s) });
        });
      }
      return entries;
    });
  }

  async statfs(user: string): Promise<StatFs> {
    return guard(async () => {
      const s = await statfs(this.userRoot(user));
      const total = s.blocks * s.bsize;
      const free = s.bavail * s.bsize;
      return { total, free, used: total - s.bfree * s.bsize, blockSize: s.bsize };
    });
  }

  async usage(user: string): Promise<number> {
    return guard(() => treeSize(this.userRoot(user)));
  }

  async openRead(user: string, segments: string[], rangeFor?: (size: number) => ByteRange | undefined) {
    return guard(async () => {
      const file = await this.path(user, segments);
      const fh = await open(file, constants.O_RDONLY);
      try {
        // Only an in-place truncate racing this read makes a pass come up short: look again.
        for (let attempt = 1; ; attempt++) {
          const st = await fh.stat();
          if (st.isDirectory()) throw new RdriveError('EISDIR');
          const range = rangeFor?.(st.size);
          const length = range === undefined ? st.size : range.end - range.start + 1;
          if (length > SMALL_READ) {
            const stream = fh.createReadStream({ ...(range ?? {}), autoClose: true, highWaterMark: 256 * 1024 });
            return { content: stream as Readable, attr: toAttr(st), range };
          }
          const content = await readExactly(fh, length, range?.start ?? 0);
          if (content.length === length) {
            await fh.close();
            return { content, attr: toAttr(st), range };
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
      const { path: target, entry } = await confineEntry(this.userRoot(user), segments);
      const existing = await existingFile(target, segments, entry);
      if (existing !== undefined && options.exclusive === true) throw new RdriveError('EEXIST');
      const mode = options.mode ?? (existing === undefined ? DEFAULT_FILE_MODE : existing.mode & 0o777);
      return withTempFile(target, async (temp, fh) => {
        // Runs beside the body's arrival; awaited before the file is synced.
        const chmodDone = fh.chmod(mode);
        chmodDone.catch(() => undefined);
        let written = 0;
        // Socket chunks are ~64 KiB; writing them in 1 MiB batches costs far fewer syscalls.
        let batch: Buffer[] = [];
        let batched = 0;
        for await (const chunk of keepOnError(body)) {
          written += chunk.length;
          checkLimit(written, options);
          await options.reserve?.(written);
          batch.push(chunk);
          batched += chunk.length;
          if (batched >= WRITE_BATCH) {
            await writeAll(fh, Buffer.concat(batch, batched), written - batched);
            batch = [];
            batched = 0;
          }
        }
        if (batched > 0) await writeAll(fh, Buffer.concat(batch, batched), written - batched);
        await chmodDone;
        if (options.mtime !== undefined) await fh.utimes(new Date(), utime(options.mtime));
        // The data must be stable before the rename publishes it, or a machine crash could
        // leave the new name on an empty file.
        if (options.durable === true) await fh.sync();
        if (options.exclusive === true) {
          await link(temp, target);
          await unlink(temp);
        } else {
          await rename(temp, target);
        }
        // Taken after the rename (or link), which changes ctime: what a later stat will say.
        const st = await fh.stat();
        await fh.close();
        await this.settle(options.durable, dirname(target));
        return toAttr(st);
      });
    });
  }

  async patchAtomic(
    user: string,
    segments: string[],
    body: Readable,
    options: WriteLimits & Durability & { size?: number; offset?: number; extents: boolean; mtime?: number },
  ): Promise<Attr> {
    return guard(async () => {
      const { path: target, entry } = await confineEntry(this.userRoot(user), segments);
      const existing = await existingFile(target, segments, entry);
      if (existing === undefined) throw new RdriveError('ENOENT');
      if (options.size !== undefined) {
        checkLimit(options.size, options);
        await options.reserve?.(options.size);
      }
      return withTempFile(target, async (temp, fh) => {
        await fh.close();
        await copyFile(target, temp, constants.COPYFILE_FICLONE);
        const out = await open(temp, 'r+');
        try {
          let end = existing.size;
          const pieces = options.extents ? readExtents(keepOnError(body)) : rawPieces(keepOnError(body), options.offset ?? 0);
          for await (const { offset, data } of pieces) {
            end = Math.max(end, offset + data.length);
            if (options.size === undefined) {
              checkLimit(end, options);
              await options.reserve?.(end);
            }
            await writeAll(out, data, offset);
          }
          if (options.size !== undefined) await out.truncate(options.size);
          if (options.mtime !== undefined) await out.utimes(new Date(), utime(options.mtime));
          if (options.durable === true) await out.sync();
        } finally {
          await out.close();
        }
        await rename(temp, target);
        await this.settle(options.durable, dirname(target));
        return toAttr(await stat(target));
      });
    });
  }

  async unlink(user: string, segments: string[]): Promise<number> {
    return guard(async () => {
      const { path: target, entry } = await confineEntry(this.userRoot(user), segments);
      if (entry.kind === 'absent') throw new RdriveError('ENOENT');
      const st = entry.kind === 'known' ? entry.stats : await lstat(target);
      if (st.isDirectory()) throw new RdriveError('EISDIR');
      await unlink(target);
      this.commits.noteWrite();
      return st.size;
    });
  }

  async mkdir(user: string, segments: string[], options: { mode?: number; parents?: boolean }): Promise<Attr> {
    return guard(async () => {
      if (segments.length === 0) {
        if (options.parents === true) return toAttr(await stat(this.userRoot(user)));
        throw new RdriveError('EEXIST');
      }
      const target = await this.path(user, segments);
      const mode = options.mode ?? DEFAULT_DIR_MODE;
      if (options.parents === true) {
        await mkdir(target, { recursive: true, mode });
        this.commits.noteWrite();
        const st = await stat(target);
        if (!st.isDirectory()) throw new RdriveError('EEXIST');
        return toAttr(st);
      }
      await mkdir(target, { mode });
      this.commits.noteWrite();
      await chmod(target, mode & 0o777);
      return toAttr(await stat(target));
    });
  }

  async rmdir(user: string, segments: string[], options: { recursive?: boolean }): Promise<void> {
    return guard(async () => {
      if (segments.length === 0) throw new RdriveError('EACCES', 'Cannot remove your root folder');
      const target = await this.path(user, segments);
      const st = await lstat(target);
      if (!st.isDirectory()) throw new RdriveError('ENOTDIR');
      if (options.recursive === true) {
        await rm(target, { recursive: true, force: false });
        this.commits.noteWrite();
        return;
      }
      try {
        await rmdir(target);
        this.commits.noteWrite();
      } catch (err) {
        // Leftover temp files of interrupted uploads are invisible, so they must not block rmdir.
        if ((err as { code?: string }).code !== 'ENOTEMPTY') throw err;
        const names = await readdir(target);
        if (!names.every(isTempName)) throw err;
        await Promise.all(names.map((n) => rm(join(target, n), { force: true })));
        await rmdir(target);
        this.commits.noteWrite();
      }
    });
  }

  async rename(user: string, from: string[], to: string[], options: { noReplace?: boolean }): Promise<Attr> {
    return guard(async () => {
      if (from.length === 0 || to.length === 0) throw new RdriveError('EACCES', 'Cannot rename your root folder');
      const src = await this.path(user, from);
      const dst = await this.path(user, to);
      await lstat(src);
      if (options.noReplace === true && (await exists(dst))) throw new RdriveError('EEXIST');
      await rename(src, dst);
      const moved = await lstat(dst);
      this.commits.noteWrite();
      return toAttr(moved);
    });
  }

  async setAttr(user: string, segments: string[], attrs: SetAttrRequest, limits: WriteLimits): Promise<Attr> {
    return guard(async () => {
      const target = await this.path(user, segments);
      const st = await stat(target);
      if (attrs.size !== undefined) {
        if (st.isDirectory()) throw new RdriveError('EISDIR');
        if (attrs.size > st.size) {
          checkLimit(attrs.size, limits);
          await limits.reserve?.(attrs.size);
        }
        await truncate(target, attrs.size);
      }
      if (attrs.mode !== undefined) await chmod(target, attrs.mode & 0o777);
      this.commits.noteWrite();
      if (attrs.mtime !== undefined || attrs.atime !== undefined) {
        await utimes(target, utime(attrs.atime ?? st.atimeMs), utime(attrs.mtime ?? st.mtimeMs));
      }
      return toAttr(await stat(target));
    });
  }
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

async function statVisible(path: string): Promise<Stats> {
  const st = await stat(path);
  if (!st.isFile() && !st.isDirectory()) throw new RdriveError('ENOENT');
  return st;
}

/** The file at target, undefined when absent; EISDIR for a directory. (A missing parent or a
 * file as parent fails the temp file's creation with ENOENT / ENOTDIR.) */
async function existingFile(target: string, segments: string[], entry: Entry): Promise<Stats | undefined> {
  if (segments.length === 0) throw new RdriveError('EISDIR');
  if (entry.kind === 'absent') return undefined;
  if (entry.kind === 'known' && entry.stats.isDirectory()) throw new RdriveError('EISDIR');
  if (entry.kind === 'known' && entry.stats.isFile()) return entry.stats;
  try {
    const st = await stat(target);
    if (st.isDirectory()) throw new RdriveError('EISDIR');
    return st;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Runs `fn` with a fresh temp file beside `target`; the temp file never outlives a failure. */
async function withTempFile<T>(target: string, fn: (temp: string, fh: FileHandle) => Promise<T>): Promise<T> {
  const temp = join(dirname(target), `${TEMP_PREFIX}${randomBytes(8).toString('hex')}-${basename(target).slice(0, 32)}`);
  const fh = await open(temp, 'wx', DEFAULT_FILE_MODE);
  try {
    return await fn(temp, fh);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(temp, { force: true }).catch(() => undefined);
    throw err;
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

async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
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
 */
export function utime(ms: number): number {
  return (ms + 0.0005) / 1000;
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function treeSize(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) total += await treeSize(full);
    // Temp files of writes in progress are counted by their reservations instead.
    else if (entry.isFile() && !isTempName(entry.name)) total += (await lstat(full).catch(() => undefined))?.size ?? 0;
  }
  return total;
}

/** Removes temp files left by a crash; they are invisible, this only frees their space. */
export async function sweepTempFiles(dir: string): Promise<number> {
  let removed = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) removed += await sweepTempFiles(full);
    else if (isTempName(entry.name)) {
      await rm(full, { force: true });
      removed++;
    }
  }
  return removed;
}
