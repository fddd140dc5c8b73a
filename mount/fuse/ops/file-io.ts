import { constants } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { etagOf, type Attr } from '../../../common/api.js';
import { RdriveError } from '../../../common/errors.js';
import { STORED_PATH_MAX } from '../../../common/paths.js';
import { checkNewName } from '../names.js';
import type { Owner } from '../../../common/ownership.js';
import { newEntry } from '../ownership.js';
import type { OpenFile } from '../../cache/open-file.js';
import type { MountState } from '../state.js';

const ACCESS_MODE = constants.O_RDONLY | constants.O_WRONLY | constants.O_RDWR;
/** Bytes fetched with the attributes when a file is opened for reading. */
const FIRST_READ = 256 * 1024;
/** Paths this close to the server's limit are created on the server at create() (see create). */
const EAGER_CREATE_PATH_BYTES = STORED_PATH_MAX - 1024;

export async function open(state: MountState, path: string, flags: number): Promise<number> {
  const writing = (flags & ACCESS_MODE) !== constants.O_RDONLY;
  if (writing) state.requireWritable();
  let file = state.files.get(path);
  // Close-to-open: every open is checked against the server, also while this mount has the
  // file open already (unless it holds unsent changes, which are the newer content). A reader
  // gets its attributes and first bytes in one request, or none while its read lease runs.
  if (file === undefined || !(file.dirty || file.created)) {
    const fresh = writing ? { attr: await attrForWriting(state, path), data: undefined } : await readHead(state, path);
    if (fresh.attr === undefined) return create(state, path, state.neverStored.take(path) ?? 0o644, undefined, flags);
    if (fresh.attr.type === 'dir') throw new RdriveError('EISDIR');
    // Looked up again: another open or a release may have run meanwhile. A copy of the current
    // version is shared by all descriptors; one of an older version keeps serving those that
    // opened it, and this open gets the new one.
    const current = state.files.get(path);
    if (current !== undefined && (current.dirty || current.created || current.baseVersion === etagOf(fresh.attr))) {
      file = current;
    } else {
      file = state.newOpenFile(path, fresh.attr, false);
      if (fresh.data !== undefined) file.seed(fresh.data, FIRST_READ);
    }
  }
  const fd = state.openHandle(file, flags);
  if ((flags & constants.O_TRUNC) !== 0 && writing) await truncateOpened(state, fd);
  return fd;
}

/**
 * The server's attributes of a file opened for writing; undefined for a new file this mount
 * made whose first close failed (nothing reached the server): the kernel still holds its name
 * for a moment and sends an open, not a create, when a program creates it again (open(2)'s
 * O_CREAT does not reach the filesystem), which would answer ENOENT.
 */
async function attrForWriting(state: MountState, path: string): Promise<Attr | undefined> {
  try {
    return await state.fetchAttr(path);
  } catch (err) {
    if (err instanceof RdriveError && err.code === 'ENOENT' && state.neverStored.has(path)) return undefined;
    throw err;
  }
}

/**
 * O_TRUNC, and create() of a name already open. The handle is taken first: a release of the
 * file's last other descriptor (FUSE sends it after close() has returned) may run during the
 * truncate and would otherwise dispose of the copy this open goes on to use.
 */
async function truncateOpened(state: MountState, fd: number): Promise<void> {
  try {
    await state.handle(fd).file.truncate(0);
  } catch (err) {
    await release(state, fd);
    throw err;
  }
}

/**
 * A file's attributes and first bytes for a reader: from the cached head while its read lease
 * runs (no request: a change elsewhere would still be waiting for the lease to end), else from
 * the server, which answers 304 when the cached head is current.
 */
async function readHead(state: MountState, path: string): Promise<{ attr: Attr; data: Buffer }> {
  let leased = state.contents.leased(path);
  if (leased === undefined) {
    await state.prefetch.beforeOpen(path);
    leased = state.contents.leased(path);
  } else {
    state.prefetch.touched(path);
  }
  if (leased !== undefined) return { attr: leased.attr, data: leased.data };
  const cached = state.contents.get(path);
  const generation = state.contents.generation;
  const sentAt = performance.now();
  const ticket = state.cache.ticket();
  const answer = await state.client.readFirst(path, FIRST_READ, cached?.etag);
  // Not modified: the head this mount holds is the server's current one.
  const data = answer.data ?? cached?.data ?? Buffer.alloc(0);
  if (answer.data !== undefined && answer.etag !== undefined) state.contents.set(path, { etag: answer.etag, attr: answer.attr, data });
  else if (cached !== undefined) cached.attr = answer.attr;
  state.contents.lease(path, sentAt, answer.leaseMs, generation);
  state.cache.setFetched(path, answer.attr, ticket);
  return { attr: answer.attr, data };
}

/** The file exists for this mount at once; the server gets it at the first flush. */
export async function create(state: MountState, path: string, mode: number, caller?: Owner, flags = constants.O_RDWR, exclusive = false): Promise<number> {
  state.requireWritable();
  checkNewName(path);
  const existing = state.files.get(path);
  if (existing !== undefined) {
    const fd = state.openHandle(existing, constants.O_RDWR);
    await truncateOpened(state, fd);
    return fd;
  }
  const made = await newEntry(state, path, caller, mode & 0o7777, false);
  if (Buffer.byteLength(path) > EAGER_CREATE_PATH_BYTES || made.owner !== undefined || exclusive) {
    // Near the server's whole-path limit (which counts its own storage folder too): created
    // there at once, so a refusal answers this create, not a close long after. So is a file
    // someone else than the mounting user creates: its owner is stored with it from the start
    // (and an upload keeps it). So is a lock file created with O_EXCL: another mount holding
    // it already makes this create EEXIST, as on one disk.
    const attr = await state.client.upload(path, () => Buffer.alloc(0), { exclusive: true, mode: made.mode, length: 0, ...(made.owner === undefined ? {} : { owner: made.owner }) });
    state.cache.added(path, attr);
    return state.openHandle(state.newOpenFile(path, attr, false), constants.O_RDWR);
  }
  const now = Date.now();
  const file = state.newOpenFile(path, { type: 'file', size: 0, mtime: now, atime: now, ctime: now, mode: mode & 0o7777 }, true);
  file.setPendingMode(mode & 0o7777);
  return state.openHandle(file, flags);
}

export async function read(state: MountState, fd: number, buffer: Buffer, length: number, position: number): Promise<number> {
  const data = await state.handle(fd).file.read(position, length);
  data.copy(buffer, 0, 0, Math.min(length, data.length));
  return Math.min(length, data.length);
}

/** `data` must already be a copy: fuse-native reuses its buffer once the callback returns. */
export async function write(state: MountState, fd: number, data: Buffer, position: number): Promise<number> {
  state.requireWritable();
  const { file, flags } = state.handle(fd);
  const at = (flags & constants.O_APPEND) !== 0 ? file.size : position;
  return file.write(data, at);
}

/** close() lands here: the upload's result is what close() returns. */
export async function flush(state: MountState, fd: number): Promise<void> {
  const { file } = state.handle(fd);
  if (file.dirty) await state.upload(file);
}

/**
 * fsync(): what is dirty goes up durable (stored on stable storage before the server answers),
 * in one request. Otherwise the server makes the file's last upload durable, whichever mount or
 * mode sent it. A file removed meanwhile has nothing left on the server to keep.
 */
export async function fsync(state: MountState, fd: number): Promise<void> {
  const { file } = state.handle(fd);
  const durable = file.dirty && (await state.upload(file, true));
  if (durable || file.unlinked) return;
  await state.client.sync(file.path);
}

/**
 * fsync() of a directory, what a program calls to make a rename, create or removal in it
 * durable: the server's group commit covers every change made so far.
 */
export async function fsyncdir(state: MountState): Promise<void> {
  await state.client.sync();
}

export async function release(state: MountState, fd: number): Promise<void> {
  const { file } = state.handle(fd);
  state.handles.delete(fd);
  await letGo(state, file);
}

/**
 * Runs `fn` on an open file with a hold of its own, as a descriptor would: an op by path that
 * waits (a truncate) must not see the last release dispose of the file under it (its temp file
 * gone, the upload after it then sent zeros). The last to let go uploads and disposes.
 */
export async function whileHeld<T>(state: MountState, file: OpenFile, fn: () => Promise<T>): Promise<T> {
  file.addHandle();
  try {
    const result = await fn();
    // Every descriptor closed meanwhile: this op sends what is left, and its caller hears how
    // that went (a release can only log it).
    if (file.lastHandle && file.dirty && !file.unlinked) await state.uploadUntilClean(file);
    return result;
  } finally {
    await letGo(state, file);
  }
}

/** A hold on `file` ends; the last one sends what is left (unless its close failed) and disposes of it. */
async function letGo(state: MountState, file: OpenFile): Promise<void> {
  if (!file.dropHandle()) return;
  try {
    if (file.dirty && !file.unlinked && file.uploadFailed) {
      state.log.warn({ path: file.path }, 'dropping changes whose upload failed (close() reported it); the server keeps the previous content');
    } else if (file.dirty && !file.unlinked) {
      // Only reached when no flush ran (e.g. the program was killed): a last attempt.
      await state.uploadUntilClean(file);
    }
  } catch (err) {
    state.log.error({ path: file.path, err }, 'upload at release failed; the file on the server keeps its previous content');
  } finally {
    // Opened again while the upload ran: the new descriptor's release disposes of it.
    if (!file.isOpen) {
      if (state.files.get(file.path) === file) state.files.delete(file.path);
      if (file.created && !file.unlinked) state.neverStored.note(file.path, file.modeToSend);
      await file.dispose();
    }
  }
}
