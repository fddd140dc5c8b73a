import { createReadStream, ftruncateSync, readSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { encodeExtentHeader, etagOf, type Attr } from '../../common/api.js';
import { RdriveError } from '../../common/errors.js';
import { writeFullySync } from '../../common/write-fully.js';
import { ExtentSet } from './extents.js';
import { ReadAhead } from './read-ahead.js';
import { StreamingUpload, type StreamStarter } from './streaming-upload.js';

/** How the server is asked to store a dirty file at flush. */
export type UploadPlan =
  | { kind: 'none' }
  | { kind: 'whole'; size: number; body: () => Readable | Buffer }
  | { kind: 'patch'; size: number; body: () => Readable }
  /** A new file mostly holes (a truncate -s, a seek past the end): its written extents only. */
  | { kind: 'sparse'; size: number; body: () => Readable };

export type RangeFetcher = (offset: number, length: number) => Promise<Buffer>;

let tempCounter = 0;
/** A file written front to back starts uploading once it reaches this size. */
const STREAM_FROM = 4 * 1024 * 1024;
/** Refusals that a second upload of the same bytes would meet again. */
const FINAL_CODES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'ENOENT', 'ENAMETOOLONG', 'EINVAL']);
/** Failures of the connection, not of the request: another try within the same call waits again. */
const TRANSPORT_CODES = new Set(['ETIMEDOUT', 'UNREACHABLE']);
/** Uploads up to this size are sent from memory. */
const SMALL_BODY = 1024 * 1024;
const ZEROS = Buffer.alloc(1 << 20);

/**
 * One open file of the mount, shared by all its file descriptors: the server's content as of
 * open (read through a read-ahead window), and local changes not yet uploaded (written to a
 * sparse temp file, tracked as extents). Memory stays flat whatever the file size.
 */
export class OpenFile {
  // Every field below changes only through this class's methods: the FUSE ops and the uploader
  // ask and tell, they never set state (as rclone's vfscache Item owns its own).
  private _path: string;
  /** File descriptors open on this file. */
  private handles = 0;
  private _unlinked = false;
  /** Not on the server yet (created by this mount, never uploaded). */
  private _created: boolean;
  private _size: number;
  private _mtime: number;
  /**
   * The server's ctime while this copy holds no unsent change; the time of the last local change
   * (a write, truncate, chmod or utimens not sent yet) while it does. An upload brings the
   * server's own, which every later stat reports (see Uploads).
   */
  private _ctime: number;
  private answeredCtime: number | undefined;
  private atime: number;
  private mode: number;
  /** The stored owner, when the server has one for this file. */
  private owner: { uid?: number; gid?: number };
  private _pendingMtime: number | undefined;
  /** Truncated since the last upload: a truncate moves mtime and ctime even when no byte changes. */
  private truncated = false;
  private _pendingMode: number | undefined;
  /** The last upload failed and was reported to the program; nothing new was written since. */
  private _uploadFailed = false;
  /** The server's version this copy's clean bytes come from (see etagOf); none for a new file. */
  private _baseVersion: string | undefined;
  /** Bytes of the server copy that still count (a truncate below it cuts them off). */
  private baseSize: number;
  private serverSize: number;
  /** The temp file holds the whole content [0, size): reads never need the server. */
  private localComplete: boolean;
  private readonly extents = new ExtentSet();
  /**
   * Changes made while an upload is out (from its plan to its answer): they stay dirty after it.
   * Writes do not wait for the upload's lock, and clearing every extent at the answer dropped
   * another descriptor's write made meanwhile: its close() returned 0 with nothing to send.
   */
  private during: { extents: ExtentSet; truncatedTo: number | undefined; attributes: boolean } | undefined;
  private temp: { path: string; fh: FileHandle } | undefined;
  private tempOpening: Promise<{ path: string; fh: FileHandle }> | undefined;
  /** A new small file lives in memory (no temp file at all) until it outgrows SMALL_BODY. */
  private mem: Buffer | undefined;
  private readonly readAhead: ReadAhead;
  private lock: Promise<unknown> = Promise.resolve();
  private stream: StreamingUpload | undefined;
  /** A write out of order (or a truncate) ended streaming for this open; close uploads the copy. */
  private streamOff = false;
  private readonly startStream: StreamStarter | undefined;

  constructor(
    path: string,
    attr: Attr,
    options: { created: boolean; cacheDir: string; fetch: RangeFetcher; stream?: StreamStarter },
  ) {
    this._path = path;
    this._created = options.created;
    this._size = attr.size;
    this.baseSize = attr.size;
    this.serverSize = options.created ? 0 : attr.size;
    this._baseVersion = options.created ? undefined : etagOf(attr);
    this._mtime = attr.mtime;
    this._ctime = attr.ctime;
    this.atime = attr.atime;
    this.mode = attr.mode;
    this.owner = ownerOf(attr);
    this.localComplete = options.created || attr.size === 0;
    if (options.created) this.mem = Buffer.alloc(0);
    this.cacheDir = options.cacheDir;
    this.readAhead = new ReadAhead((offset, length) => options.fetch(offset, length), () => this.baseSize);
    this.startStream = options.stream;
  }

  private readonly cacheDir: string;

  get path(): string {
    return this._path;
  }

  get size(): number {
    return this._size;
  }

  /** The server's version the clean bytes come from: range reads and patches name it (If-Match). */
  get baseVersion(): string | undefined {
    return this._baseVersion;
  }

  /** Not on the server yet: created by this mount and never uploaded. */
  get created(): boolean {
    return this._created;
  }

  /** Removed or replaced by name: keeps serving its handles, never uploaded again. */
  get unlinked(): boolean {
    return this._unlinked;
  }

  /** The last upload failed and close() reported it; nothing was written since. */
  get uploadFailed(): boolean {
    return this._uploadFailed;
  }

  /** A mode set locally (create, chmod of a new file) that the next upload carries. */
  get pendingMode(): number | undefined {
    return this._pendingMode;
  }

  /** The mtime the server must store with the next upload (the one this mount reports). */
  get mtimeToSend(): number {
    return this._pendingMtime ?? this._mtime;
  }

  /** The mode a new file is stored with: the pending one, else the one it was opened with. */
  get modeToSend(): number {
    return this._pendingMode ?? this.mode;
  }

  get dirty(): boolean {
    return (
      this._created ||
      !this.extents.isEmpty ||
      this._size !== this.serverSize ||
      // Cut by a truncate and grown back to the old size: those bytes are zeros now.
      this.baseSize < Math.min(this.serverSize, this._size) ||
      this._pendingMtime !== undefined ||
      this._pendingMode !== undefined ||
      // `: > f` of an empty file, truncate(2) to the same size: Linux moves both times.
      this.truncated
    );
  }

  attr(): Attr {
    return { type: 'file', size: this._size, mtime: this._mtime, atime: this.atime, ctime: this._ctime, mode: this._pendingMode ?? this.mode, ...this.owner };
  }

  async write(data: Buffer, position: number): Promise<number> {
    this._uploadFailed = false;
    if (this.mem !== undefined && position + data.length <= SMALL_BODY) {
      this.writeMem(data, position);
      return data.length;
    }
    if (this.mem !== undefined) await this.spill();
    const { fh } = await this.tempFile();
    // The local copy is written and read on the event loop: a write of 128 KiB into the page
    // cache takes tens of microseconds, less than the thread-pool hand-off of an asynchronous
    // call, and a mount serves one user (a 256 MiB sequential write made ~2,000 hand-offs).
    writeFullySync(fh.fd, data, position);
    this.noteWritten(position, position + data.length);
    this._size = Math.max(this._size, position + data.length);
    this.touch();
    await this.feedStream(data, position);
    return data.length;
  }

  /** Sends sequential writes as they come (see StreamingUpload); anything else stops that. */
  private async feedStream(data: Buffer, position: number): Promise<void> {
    if (this.stream !== undefined) {
      if (position === this.stream.sent && !this.stream.failed) await this.stream.push(data);
      else this.stopStream();
      return;
    }
    const sequentialFromZero = this.localComplete && this.baseSize === 0 && this.extents.coversWhole(this._size);
    if (this.streamOff || this.startStream === undefined || this._size < STREAM_FROM || !sequentialFromZero) return;
    if (position + data.length !== this._size) return;
    this.stream = new StreamingUpload(this.startStream);
    // The bytes written before streaming began (at most a little over STREAM_FROM) go first.
    await this.stream.push(await this.readLocal(0, this._size));
  }

  private stopStream(): void {
    this.stream?.abandon();
    this.stream = undefined;
    this.streamOff = true;
  }

  /** The first bytes of the server copy, fetched together with the attributes at open. */
  seed(data: Buffer, requested: number): void {
    this.readAhead.seed(0, data, requested);
  }

  /**
   * Completes a streamed upload. Returns undefined when there was none or it could not be used
   * (the caller then uploads the local copy); a refusal that another try cannot fix is thrown.
   */
  async finishStream(): Promise<Attr | undefined> {
    const stream = this.stream;
    if (stream === undefined) return undefined;
    this.stream = undefined;
    this.beginUpload();
    if (stream.sent !== this._size) {
      stream.abandon();
      this.streamOff = true;
      return undefined;
    }
    const result = await stream.finish();
    if (!(result instanceof Error)) return result;
    this.streamOff = true;
    if (result instanceof RdriveError && FINAL_CODES.has(result.code)) throw result;
    // A server that did not answer (or cannot be reached) has had this close's one --timeout:
    // sending the bytes again from the local copy now would pay it a second time. The file
    // stays dirty; the next flush or close tries again.
    if (result instanceof RdriveError && TRANSPORT_CODES.has(result.code)) throw result;
    return undefined;
  }

  async read(position: number, length: number): Promise<Buffer> {
    const end = Math.min(this._size, position + length);
    if (end <= position) return Buffer.alloc(0);
    if (this.localComplete) return this.readLocal(position, end);
    const parts: Buffer[] = [];
    for (const piece of this.extents.split(position, end)) {
      parts.push(piece.dirty ? await this.readLocal(piece.start, piece.end) : await this.readBase(piece.start, piece.end));
    }
    // The common case is one piece: hand it on as it is (a copy per kernel read is GC pressure).
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  async truncate(size: number): Promise<void> {
    this._uploadFailed = false;
    this.stopStream();
    // Memory holds a file only up to SMALL_BODY: uploads and reads of anything larger come from
    // the temp file, so a file grown past it (preallocation before the writes) moves there first.
    if (this.mem !== undefined && size > SMALL_BODY) await this.spill();
    if (size < this._size && this.temp !== undefined) await this.temp.fh.truncate(size);
    if (this.mem !== undefined && size < this._size) this.mem.fill(0, size, Math.min(this._size, this.mem.length));
    this.extents.clip(size);
    this.baseSize = Math.min(this.baseSize, size);
    this._size = size;
    this.touch();
    this.truncated = true;
    if (this.during !== undefined) {
      this.during.extents.clip(size);
      this.during.truncatedTo = Math.min(this.during.truncatedTo ?? size, size);
    }
  }

  /**
   * What to send to make the server's copy equal this one. `whole`: the whole content if this
   * copy holds it (the server's version changed under a patch).
   */
  async plan(options: { whole?: boolean } = {}): Promise<UploadPlan> {
    if (!this.dirty) return { kind: 'none' };
    this.beginUpload();
    if (this.isSparseNew()) {
      const { path, fh } = await this.tempFile();
      extendTo(fh, this._size);
      const extents = this.extents.list.map((e) => ({ ...e }));
      return { kind: 'sparse', size: this._size, body: () => Readable.from(extentStream(path, extents)) };
    }
    if (this.sendsWhole() || (options.whole === true && this.localComplete)) {
      const size = this._size;
      if (this.mem !== undefined && size <= SMALL_BODY) {
        // A Buffer body goes out with its headers in one write; a stream costs more syscalls.
        const data = Buffer.from(this.mem.subarray(0, size));
        const whole = data.length < size ? Buffer.concat([data, Buffer.alloc(size - data.length)]) : data;
        return { kind: 'whole', size, body: () => whole };
      }
      const { path, fh } = await this.tempFile();
      extendTo(fh, this._size);
      if (size <= SMALL_BODY) {
        // One buffer: the request goes out at once instead of waiting on a file stream.
        const data = await this.readLocal(0, size);
        return { kind: 'whole', size, body: () => data };
      }
      return { kind: 'whole', size, body: () => Readable.from(fileRange(path, 0, size)) };
    }
    // Bytes between a truncate point and the old end must read as zeros on the server too.
    const gapEnd = Math.min(this.serverSize, this._size);
    if (this.baseSize < gapEnd) {
      extendTo((await this.tempFile()).fh, this._size);
      this.extents.add(this.baseSize, gapEnd);
    }
    const { path } = await this.tempFile();
    const extents = this.extents.list.map((e) => ({ ...e }));
    return { kind: 'patch', size: this._size, body: () => Readable.from(extentStream(path, extents)) };
  }

  /** Bytes [start, end) hold a local change, also one made while an upload is out. */
  private noteWritten(start: number, end: number): void {
    this.extents.add(start, end);
    this.during?.extents.add(start, end);
  }

  /** From here to uploaded(), changes are noted apart (see `during`). */
  private beginUpload(): void {
    this.during = { extents: new ExtentSet(), truncatedTo: undefined, attributes: false };
  }

  /** New content (nothing of the server's copy kept) of which less than half was written. */
  private isSparseNew(): boolean {
    return (this._created || this.baseSize === 0) && this._size > SMALL_BODY && this.mem === undefined && this.extents.bytes * 2 < this._size;
  }

  /**
   * The whole content goes when the server has nothing of it to keep, or when it is small (one
   * request either way) or mostly rewritten. Otherwise only the changed extents go: appending a
   * line and calling fsync() on a big file (a log, a database) sends the line, not the file.
   */
  private sendsWhole(): boolean {
    if (this._created || this.baseSize === 0 || this.extents.coversWhole(this._size)) return true;
    return this.localComplete && (this._size <= SMALL_BODY || this.extents.bytes * 2 >= this._size);
  }

  /** Records that the server now holds this content (`whole`: sent as one whole file). */
  uploaded(attr: Attr, whole: boolean): void {
    const during = this.during;
    this.during = undefined;
    this.patchesSent = [];
    if (whole) this.localComplete = true;
    this._created = false;
    this._uploadFailed = false;
    this.truncated = false;
    this.extents.clear();
    this.serverSize = attr.size;
    this.baseSize = attr.size;
    if (during !== undefined) this.keepChangesMadeDuring(during);
    if (during?.attributes !== true) {
      this._pendingMode = undefined;
      this._pendingMtime = undefined;
    }
    // Sets the base version too (no longer created).
    this.refresh(attr);
    this.readAhead.clear();
  }

  /**
   * What was written or truncated while the upload was out is still to send: the server got the
   * snapshot planned before (or bytes read from the temp file as they were then).
   */
  private keepChangesMadeDuring(during: NonNullable<OpenFile['during']>): void {
    for (const e of during.extents.list) this.extents.add(e.start, e.end);
    if (during.truncatedTo !== undefined) {
      // Cut below what the server now holds: those bytes must read as zeros there too (see plan).
      this.baseSize = Math.min(this.baseSize, during.truncatedTo);
      this.truncated = true;
    }
  }

  /** A file descriptor opened on this file. */
  addHandle(): void {
    this.handles++;
  }

  /** Some file descriptor is open on it. */
  get isOpen(): boolean {
    return this.handles > 0;
  }

  /** Exactly one descriptor (or hold) is open on it. */
  get lastHandle(): boolean {
    return this.handles === 1;
  }

  /** A file descriptor closed; true when it was the last one (the file can be released). */
  dropHandle(): boolean {
    this.handles--;
    return this.handles <= 0;
  }

  /** Its name was removed or replaced: never uploaded again. */
  markUnlinked(): void {
    this._unlinked = true;
  }

  /** Its name (or a parent directory's) was renamed on the server. */
  moveTo(path: string): void {
    this._path = path;
  }

  /** A mode set on unsent content (create, chmod): sent with the upload. */
  setPendingMode(mode: number): void {
    this._pendingMode = mode;
    this.attributesChanged();
  }

  /** utimens on unsent content: the mtime is reported now and sent with the upload. */
  setPendingMtime(mtime: number): void {
    this._pendingMtime = mtime;
    this._mtime = mtime;
    this.attributesChanged();
  }

  /** A deferred attribute change moves ctime now; that answer is what the kernel keeps. */
  private attributesChanged(): void {
    // A change made after a failed close is the program's too: the last close sends it again.
    this._uploadFailed = false;
    if (this.during !== undefined) this.during.attributes = true;
    this._ctime = Date.now();
    this.answeredCtime = this._ctime;
  }

  /**
   * The local ctime the last deferred chmod or utimens answered with, unless a write came after
   * it (the kernel drops a file's attributes on a write and asks again). Cleared when taken.
   */
  takeAnsweredCtime(): number | undefined {
    const ctime = this.answeredCtime;
    this.answeredCtime = undefined;
    return ctime;
  }

  /** An upload failed and its error went to the program; release will not try again. */
  markUploadFailed(): void {
    // Every change is still in the extents: nothing was cleared.
    this.during = undefined;
    this._uploadFailed = true;
  }

  /**
   * Patches sent since the last acknowledged upload, as (size, mtime) of the version each would
   * make: one whose answer was lost (a timeout, a cut connection) may have landed all the same.
   */
  private patchesSent: Array<{ size: number; mtime: number }> = [];

  notePatchSent(size: number, mtime: number): void {
    this.patchesSent = [...this.patchesSent.slice(-7), { size, mtime: Math.round(mtime) }];
  }

  /** The last patch sent was refused (CHANGED): it did not land, so no version is its. */
  patchRefused(): void {
    this.patchesSent = this.patchesSent.slice(0, -1);
  }

  /**
   * The server's current version is one this copy's own patch made (its answer never came): the
   * extents still unsent include that patch's, so they apply to it as to the version before.
   * Adopts it as the base and says so; false for anyone else's version.
   */
  adoptOwnVersion(current: Attr): boolean {
    if (!this.patchesSent.some((p) => p.size === current.size && p.mtime === Math.round(current.mtime))) return false;
    this._baseVersion = etagOf(current);
    // The server's copy is that patch's size now: bytes cut off by a truncate since and grown
    // back must be sent as zeros up to it (see plan), or that patch's tail would survive there.
    this.serverSize = Math.max(this.serverSize, current.size);
    return true;
  }

  /**
   * The server has a longer version than the one this copy serves, and the kernel is about to
   * be told its size (a stat): a copy with nothing of its own moves on to it, as NFS does, so a
   * reader going on past the old end (`tail -f` of a log another mount appends to) reads the
   * new bytes instead of an end of file for ever. A version that is not longer is not followed
   * (see read: what it replaced answers EIO). Says whether it moved on.
   */
  followLonger(current: Attr): boolean {
    if (this.dirty || this._created || this._unlinked || this.stream !== undefined || current.type !== 'file') return false;
    if (current.size <= this._size || etagOf(current) === this._baseVersion) return false;
    this._baseVersion = etagOf(current);
    this._size = current.size;
    this.baseSize = current.size;
    this.serverSize = current.size;
    // Whatever this copy held locally was the old version's.
    this.localComplete = false;
    this.refresh(current);
    this.readAhead.clear();
    return true;
  }

  /** Times and mode as the server now reports them (after an upload, chmod, utimens, rename). */
  refresh(attr: Attr): void {
    // This mount's own chmod, utimens or rename moved the server's ctime; the bytes are the same.
    if (!this._created) this._baseVersion = etagOf(attr);
    this.mode = attr.mode;
    this.owner = ownerOf(attr);
    this.atime = attr.atime;
    // Unsent content keeps its local times (the change just made moves ctime); the upload
    // brings the server's.
    if (this.dirty) {
      this._ctime = Date.now();
    } else {
      this._mtime = attr.mtime;
      this._ctime = attr.ctime;
    }
  }

  /** A local change of content: a new mtime, as on a local disk (an earlier utimens yields). */
  private touch(): void {
    this._mtime = Date.now();
    this._ctime = this._mtime;
    this._pendingMtime = undefined;
    this.answeredCtime = undefined;
  }

  /** Runs `fn` after every earlier locked call: uploads of one file never overlap. */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  dispose(): Promise<void> {
    return this.locked(() => this.closeTemp());
  }

  private async closeTemp(): Promise<void> {
    this.stream?.abandon();
    this.stream = undefined;
    this.mem = undefined;
    const temp = this.temp;
    this.temp = undefined;
    this.readAhead.clear();
    if (temp !== undefined) {
      await temp.fh.close().catch(() => undefined);
      await rm(temp.path, { force: true }).catch(() => undefined);
    }
  }

  private writeMem(data: Buffer, position: number): void {
    const end = position + data.length;
    if (this.mem!.length < end) {
      const grown = Buffer.alloc(Math.min(SMALL_BODY, Math.max(end, this.mem!.length * 2, 64 * 1024)));
      this.mem!.copy(grown);
      this.mem = grown;
    }
    data.copy(this.mem!, position);
    this.noteWritten(position, end);
    this._size = Math.max(this._size, end);
    this.touch();
  }

  /** Moves an in-memory file to a temp file once it grows past SMALL_BODY. */
  private async spill(): Promise<void> {
    const { fh } = await this.tempFile();
    // Memory stays the copy (reads and writes meanwhile use it) until the temp file holds it;
    // a second spill waiting on the same open finds it done.
    if (this.mem === undefined) return;
    writeFullySync(fh.fd, this.mem.subarray(0, Math.min(this._size, this.mem.length)), 0);
    this.mem = undefined;
  }

  private async readLocal(start: number, end: number): Promise<Buffer> {
    if (this.mem !== undefined) {
      const out = Buffer.alloc(end - start);
      this.mem.copy(out, 0, Math.min(start, this.mem.length), Math.min(end, this.mem.length));
      return out;
    }
    const buf = Buffer.alloc(end - start);
    if (this.temp === undefined) return buf;
    for (let done = 0; done < buf.length; ) {
      const n = readSync(this.temp.fh.fd, buf, done, buf.length - done, start + done);
      if (n === 0) break;
      done += n;
    }
    return buf;
  }

  /** Clean bytes: the server's copy up to baseSize, zeros past it (a hole after a truncate+grow). */
  private async readBase(start: number, end: number): Promise<Buffer> {
    const fromServer = Math.min(end, this.baseSize);
    const data = fromServer > start ? await this.readAhead.read(start, fromServer - start) : Buffer.alloc(0);
    // The server's copy ends sooner than the one opened: it was replaced by a shorter one
    // meanwhile. Its bytes are not this version's, and zeros would be bytes no version held.
    if (data.length < fromServer - start) throw new RdriveError('EIO', `${this._path} was replaced by a shorter version on the server while open; open it again`);
    // All of it from the server: a view of the read-ahead window, no copy.
    if (data.length === end - start) return data;
    const out = Buffer.alloc(end - start);
    data.copy(out, 0, 0, Math.min(data.length, out.length));
    return out;
  }

  /**
   * The temp file, opened once: concurrent first writes (the kernel writes back an mmap's dirty
   * pages several at a time) all wait for the same open instead of each opening its own and
   * losing the writes that went into the ones replaced.
   */
  private tempFile(): Promise<{ path: string; fh: FileHandle }> {
    if (this.temp !== undefined) return Promise.resolve(this.temp);
    if (this.tempOpening === undefined) {
      const path = join(this.cacheDir, `f${process.pid}-${++tempCounter}`);
      this.tempOpening = open(path, 'w+', 0o600)
        .then((fh) => {
          this.temp = { path, fh };
          return this.temp;
        })
        .finally(() => {
          this.tempOpening = undefined;
        });
    }
    return this.tempOpening;
  }
}

async function* extentStream(path: string, extents: ReadonlyArray<{ start: number; end: number }>): AsyncGenerator<Buffer> {
  for (const e of extents) {
    yield encodeExtentHeader(e.start, e.end - e.start);
    yield* fileRange(path, e.start, e.end);
  }
}

/**
 * Bytes [start, end) of the temp file, as many as the upload announced: a truncate by another
 * descriptor (or by path) while the body streams shortens the file under it, and a short body
 * would fail the upload. The missing tail goes as zeros; the truncate is noted as a change made
 * during the upload (`during`), so the next round sends the cut.
 */
async function* fileRange(path: string, start: number, end: number): AsyncGenerator<Buffer> {
  let at = start;
  if (end > start) {
    for await (const chunk of createReadStream(path, { start, end: end - 1, highWaterMark: 1 << 20 })) {
      at += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
  }
  for (; at < end; at += ZEROS.length) yield at + ZEROS.length <= end ? ZEROS : ZEROS.subarray(0, end - at);
}

function ownerOf(attr: Attr): { uid?: number; gid?: number } {
  return attr.uid === undefined || attr.gid === undefined ? {} : { uid: attr.uid, gid: attr.gid };
}

/**
 * Gives the temp file its full length (holes read as zeros) before an upload reads it. On the
 * event loop: writes are too (writeFullySync), and an asynchronous truncate queued before a
 * write past the old end but run after it zeroed that write.
 */
function extendTo(fh: FileHandle, size: number): void {
  ftruncateSync(fh.fd, size);
}
