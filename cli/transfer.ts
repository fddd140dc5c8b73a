import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, readdir, readlink, rename, rm, symlink, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import { ensureDirSync } from '../common/ensure-dir.js';
import { RdriveError, fromForeign } from '../common/errors.js';
import type { ApiClient } from '../mount/remote/api-client.js';
import { humanSize } from './format.js';

export interface TransferOptions {
  recursive: boolean;
  progress: boolean;
  /** Entries of a tree that could not be transferred, and why: reported at the end. */
  skipped?: Array<{ path: string; reason: string }>;
}

/** Counts bytes through a stream into a progress bar (only drawn on a TTY, unless --quiet). */
function meter(label: string, total: number | undefined, show: boolean): { stream: Transform; stop: () => void } {
  const bar = show
    ? new cliProgress.SingleBar({
      format: `${label} {bar} {percentage}% | {done}/{size} | {speed}/s | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    }, cliProgress.Presets.shades_classic)
    : undefined;
  const started = Date.now();
  let done = 0;
  bar?.start(total ?? 0, 0, { done: '0B', size: total === undefined ? '?' : humanSize(total), speed: '0B' });
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      const seconds = Math.max(0.001, (Date.now() - started) / 1000);
      bar?.update(done, { done: humanSize(done), speed: humanSize(Math.round(done / seconds)) });
      cb(null, chunk);
    },
  });
  return { stream, stop: () => bar?.stop() };
}

/**
 * Uploads a file or (with -r) a tree; the server writes each file atomically. A symbolic link is
 * uploaded as a link (its target as it reads, dangling or not), never followed. What has no
 * place on the server (a FIFO, socket or device inside a tree) is skipped and recorded.
 */
export async function putPath(client: ApiClient, local: string, remote: string, options: TransferOptions): Promise<number> {
  const st = await lstat(local).catch(() => {
    throw new RdriveError('ENOENT', `Local file ${local} does not exist`);
  });
  if (st.isSymbolicLink()) {
    try {
      await putLink(client, await readlink(local), remote);
    } catch (err) {
      // A server from before links answers ENOSYS: the rest of the tree still goes up.
      if (!(err instanceof RdriveError && err.code === 'ENOSYS') || options.skipped === undefined) throw err;
      options.skipped.push({ path: local, reason: 'this server does not store symbolic links' });
      return 0;
    }
    return 1;
  }
  if (st.isDirectory()) {
    if (!options.recursive) throw new RdriveError('EISDIR', `${local} is a directory: use put -r`);
    await client.mkdir(remote, { parents: true });
    let count = 0;
    for (const raw of (await readdir(local, { encoding: 'buffer' })).sort(Buffer.compare)) {
      const name = utf8Name(raw);
      if (name === undefined) {
        // As text it would be mangled (U+FFFD) and not found again; the server refuses it anyway.
        skipOrThrow(options, `${local}/${escapedName(raw)}`, 'its name is not valid UTF-8, which the server refuses: rename it (e.g. convmv -f latin1 -t utf8)');
        continue;
      }
      count += await putPath(client, join(local, name), `${remote}/${name}`, options);
    }
    return count;
  }
  if (!st.isFile()) {
    if (options.skipped === undefined) throw new RdriveError('EINVAL', `${local} is not a regular file, directory or symbolic link`);
    options.skipped.push({ path: local, reason: 'rdrive put does not copy FIFOs, sockets or devices (a mount can make them)' });
    return 0;
  }
  let bar: { stop: () => void } | undefined;
  try {
    await client.upload(remote, () => {
      const m = meter(basename(local), st.size, options.progress);
      bar = m;
      return createReadStream(local, { highWaterMark: 1 << 20 }).pipe(m.stream);
    }, { length: st.size, mode: st.mode & 0o777, mtime: st.mtimeMs });
  } catch (err) {
    throw await shrunkWhileRead(err, local, st.size);
  } finally {
    bar?.stop();
  }
  return 1;
}

/**
 * A file cut short while it was read (a log rotated, a program rewriting it) sends fewer bytes
 * than announced: undici gives up with a bare "Input/output error". Say what happened instead;
 * the server kept the old file (uploads are atomic).
 */
async function shrunkWhileRead(err: unknown, local: string, size: number): Promise<unknown> {
  const now = await lstat(local).catch(() => undefined);
  if (now === undefined || now.size >= size) return err;
  return new RdriveError('EIO', `${local} changed while it was read (${size} bytes, now ${now.size}): the remote file was left as it was; put it again`, { cause: err });
}

/** A file name as UTF-8 text, or undefined when its bytes are not UTF-8. */
function utf8Name(raw: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    return undefined;
  }
}

/** Bytes outside printable ASCII as \xNN, so a name that is not text can be shown and found. */
function escapedName(raw: Buffer): string {
  return [...raw].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}

function skipOrThrow(options: TransferOptions, path: string, reason: string): void {
  if (options.skipped === undefined) throw new RdriveError('EILSEQ', `${path}: ${reason}`);
  options.skipped.push({ path, reason });
}

/** A link replaces a file or link of the same name, as a file upload does; never a directory. */
async function putLink(client: ApiClient, target: string, remote: string): Promise<void> {
  try {
    await client.symlink(remote, target);
  } catch (err) {
    if (!(err instanceof RdriveError && err.code === 'EEXIST')) throw err;
    const existing = await client.stat(remote);
    if (existing.type === 'symlink' && existing.target === target) return;
    if (existing.type === 'dir') throw new RdriveError('EISDIR', `${remote} is a remote directory; a link cannot replace it`);
    await client.unlink(remote);
    await client.symlink(remote, target);
  }
}

/**
 * Downloads a file or (with -r) a tree. Each file streams into a hidden part file beside the
 * target and is renamed only when complete: an interrupted get leaves no file under the final name.
 */
export async function getPath(client: ApiClient, remote: string, local: string, options: TransferOptions): Promise<number> {
  const attr = await client.stat(remote);
  if (attr.type === 'symlink') {
    await getLink(attr.target ?? '', local);
    return 1;
  }
  if (attr.type !== 'file' && attr.type !== 'dir') {
    // A FIFO, socket or device node stored from a mount: it has no content to download.
    if (options.skipped === undefined) throw new RdriveError('EINVAL', `${remote} is a ${attr.type} node, which has no content to download`);
    options.skipped.push({ path: remote, reason: `a ${attr.type} node has no content to download` });
    return 0;
  }
  if (attr.type === 'dir') {
    if (!options.recursive) throw new RdriveError('EISDIR', `${remote} is a directory: use get -r`);
    ensureDirSync(local);
    let count = 0;
    for (const entry of (await client.list(remote)).entries.sort((a, b) => a.name.localeCompare(b.name))) {
      count += await getPath(client, `${remote}/${entry.name}`, join(local, entry.name), options);
    }
    return count;
  }
  const part = join(dirname(local), `.${basename(local)}.rdrive-part-${randomBytes(4).toString('hex')}`);
  activeParts.add(part);
  const m = meter(basename(remote), attr.size, options.progress);
  let localFailure: unknown;
  try {
    const { stream } = await client.download(remote);
    const out = createWriteStream(part, { mode: attr.mode & 0o777 });
    out.once('error', (err) => { localFailure = err; });
    await pipeline(stream as Readable, m.stream, out);
    await utimes(part, new Date(attr.atime), new Date(attr.mtime));
    await rename(part, local);
  } catch (err) {
    await rm(part, { force: true });
    throw err === localFailure || (err as NodeJS.ErrnoException | null)?.path !== undefined ? localWriteError(err, local) : err;
  } finally {
    m.stop();
    activeParts.delete(part);
  }
  return 1;
}

/**
 * A local file system error (opening the hidden part file, writing it, renaming it) said as
 * being about `local`, which the person typed: without this a missing folder read as the remote
 * file missing, and a full local disk as the server's disk or quota.
 */
function localWriteError(err: unknown, local: string): RdriveError {
  const error = fromForeign(err);
  const message = error.code === 'ENOSPC' ? 'No space left on device' : error.message;
  return new RdriveError(error.code, `Cannot write ${local}: ${message}`, { cause: err });
}

/** A remote link becomes a local link with the same target (replacing a file or link there). */
async function getLink(target: string, local: string): Promise<void> {
  if (target === '') throw new RdriveError('EIO', `The server sent no target for the link ${local}`);
  const existing = await lstat(local).catch(() => undefined);
  if (existing?.isDirectory() === true) throw new RdriveError('EISDIR', `${local} is a local directory; a link cannot replace it`);
  // Made under a temporary name and renamed over, so the replacement is atomic.
  const part = join(dirname(local), `.${basename(local)}.rdrive-part-${randomBytes(4).toString('hex')}`);
  await symlink(target, part);
  await rename(part, local).catch(async (err: unknown) => {
    await rm(part, { force: true });
    throw err;
  });
}

/** Part files being written now; removed if the command is interrupted. */
export const activeParts = new Set<string>();

export async function removeActiveParts(): Promise<void> {
  await Promise.all([...activeParts].map((p) => rm(p, { force: true })));
}
