import { InodeNumbers } from './inode-numbers.js';
import type { Logger } from 'pino';
import type { Attr } from '../../common/api.js';
import { RdriveError } from '../../common/errors.js';
import { AttrCache, splitPath } from '../cache/attr-cache.js';
import { ContentCache } from '../cache/content-cache.js';
import { OpenFile } from '../cache/open-file.js';
import type { ApiClient } from '../remote/api-client.js';
import { checkNameLengths } from './names.js';
import { FolderPrefetch } from './folder-prefetch.js';
import { Uploads } from './uploads.js';
import { mountStats } from '../daemon/mount-stats.js';
import { NeverStored } from './never-stored.js';
import { currentCallerPid } from './ownership.js';

/** Highest handle number: fuse-native passes handles to JS as int32 and back as uint32. */
const MAX_HANDLE = 0x7fffffff;
/** Handles below this are never given (0 is "no handle" to fuse-native). */
const FIRST_HANDLE = 10;
/** Rounds of uploadUntilClean at most: each one needs a change made while the previous was out. */
const UPLOAD_ROUNDS = 5;

export interface Handle {
  file: OpenFile;
  flags: number;
}

export interface MountOptions {
  readOnly: boolean;
  /** Uploads at close are durable before close() returns (`rdrive mount --sync`). */
  sync: boolean;
  uid: number;
  gid: number;
  cacheDir: string;
}

/** What every op shares: the server client, the caches, the open files and their handles. */
export class MountState {
  readonly cache: AttrCache;
  /** Open files by path; several handles (fds) share one. */
  readonly files = new Map<string, OpenFile>();
  /** First bytes of recently opened files, revalidated at each open (see content-cache.ts). */
  readonly contents = new ContentCache();
  /** Batches of a folder's small files for a reader walking through it. */
  readonly prefetch = new FolderPrefetch(this);
  readonly handles = new Map<number, Handle>();
  /** Hidden names libfuse is about to give open files before a rename replaces their name (see the adapter). */
  readonly hidesBeforeRename = new Set<string>();
  /** A name whose file was just given a hidden second name, and that name, until the rename that replaces it. */
  readonly linkedHides = new Map<string, string>();
  /** New files whose first close failed, for a moment (see never-stored.ts). */
  readonly neverStored = new NeverStored();
  /** st_ino of every path (see inode-numbers.ts). */
  readonly inodes = new InodeNumbers();
  private nextFd = FIRST_HANDLE;
  private readonly uploads: Uploads;

  constructor(
    readonly client: ApiClient,
    readonly options: MountOptions,
    readonly log: Logger,
    attrTtlMs: number,
  ) {
    this.cache = new AttrCache(attrTtlMs);
    client.onFolderTimes = (dir, times) => this.cache.folderTimes(dir, times);
    this.uploads = new Uploads(client, this.cache, options, log);
  }

  requireWritable(): void {
    if (this.options.readOnly) throw new RdriveError('EROFS', 'Mounted read-only');
  }

  /**
   * Attributes of a path: open file, then cache, then a fresh parent listing, then the server.
   * `caller`: the process asking (read at the start of its op, see AttrCache.setListing).
   */
  async attr(path: string, caller = currentCallerPid()): Promise<Attr> {
    checkNameLengths(path);
    const open = this.files.get(path);
    // Unsent changes are the newest content: this mount's attributes. A clean open copy may be
    // of an older version than the server's (another mount replaced it): the cache and the
    // server answer, as for any file, so the kernel learns the new size before an open.
    if (open !== undefined && (open.dirty || open.created)) return open.attr();
    const version = open?.baseVersion;
    const attr = await this.serverAttr(path, caller);
    // The kernel learns a longer size now and will read on: the open copy must have those bytes.
    // Not from an answer older than the copy's own version (an upload of it landed meanwhile).
    if (open !== undefined && open.baseVersion === version && this.files.get(path) === open) open.followLonger(attr);
    return attr;
  }

  /** attr() as the cache, a folder read or the server gives it. */
  private async serverAttr(path: string, caller: number | undefined): Promise<Attr> {
    // The root too: the kernel asks for it before most walks, a request each time was ~10% of
    // an `ls -l` of 300 names.
    const cached = this.cache.get(path, caller);
    if (cached !== undefined) {
      mountStats.cacheHits++;
      return cached;
    }
    mountStats.cacheMisses++;
    if (path === '/') return this.fetchAttr(path);
    if (this.cache.knownMissing(path, caller)) throw new RdriveError('ENOENT');
    const { dir } = splitPath(path);
    if (this.cache.worthRelisting(dir)) {
      await this.relist(dir, caller).catch(() => undefined);
      const listed = this.cache.get(path, caller);
      if (listed !== undefined) return listed;
      if (this.cache.knownMissing(path, caller)) throw new RdriveError('ENOENT');
    }
    return this.fetchAttr(path);
  }

  private readonly relisting = new Map<string, Promise<void>>();

  /** One listing request shared by every lookup that waits on the same directory; `walker` asked first. */
  relist(dir: string, walker: number | undefined): Promise<void> {
    let pending = this.relisting.get(dir);
    if (pending === undefined) {
      const tickets = this.listingTickets();
      pending = this.client.list(dir).then(({ entries }) => this.listed(dir, entries, tickets, walker)).finally(() => this.relisting.delete(dir));
      this.relisting.set(dir, pending);
    }
    return pending;
  }

  /** Taken before a listing is asked for: see listed. */
  listingTickets(): { cache: number; inodes: number } {
    return { cache: this.cache.ticket(), inodes: this.inodes.ticket() };
  }

  /**
   * A listing of `dir` from the server, asked for at `tickets`: fills the cache and drops the
   * inode numbers of names another client removed there (kept for a file open here under its
   * name: the kernel still holds its inode). Not when something changed there through this
   * mount meanwhile: the listing may predate it.
   */
  listed(dir: string, entries: ReadonlyArray<{ name: string } & Attr>, tickets: { cache: number; inodes: number }, walker: number | undefined): void {
    const names = this.cache.setListing(dir, entries, tickets.cache, walker);
    if (names !== undefined) this.inodes.listed(dir, names, tickets.inodes, (path) => this.files.has(path));
  }

  async fetchAttr(path: string): Promise<Attr> {
    const ticket = this.cache.ticket();
    try {
      const attr = await this.client.stat(path);
      this.cache.setFetched(path, attr, ticket);
      return attr;
    } catch (err) {
      if (err instanceof RdriveError && err.code === 'ENOENT') this.cache.forget(path);
      throw err;
    }
  }

  openHandle(file: OpenFile, flags: number): number {
    const fd = this.nextFd;
    this.nextFd = nextHandleNumber(fd, (n) => this.handles.has(n));
    file.addHandle();
    this.handles.set(fd, { file, flags });
    return fd;
  }

  handle(fd: number): Handle {
    const handle = this.handles.get(fd);
    if (handle === undefined) throw new RdriveError('EBADF');
    return handle;
  }

  newOpenFile(path: string, attr: Attr, created: boolean): OpenFile {
    const file = new OpenFile(path, attr, {
      created,
      cacheDir: this.options.cacheDir,
      fetch: (offset, length) => this.client.read(file.path, offset, length, file.baseVersion),
      stream: (body) => this.client.upload(file.path, body, { mode: file.modeToSend, sync: this.options.sync }),
    });
    this.files.set(path, file);
    return file;
  }

  /** Sends a dirty file to the server; the error reaches the caller (flush/fsync → close()). */
  upload(file: OpenFile, durable?: boolean): Promise<boolean> {
    return this.uploads.upload(file, durable);
  }

  /**
   * Uploads a file no descriptor will flush again (the last release, the unmount) until nothing is
   * left: a chmod, utimens, truncate or write made while an upload is out waits for the next one
   * (see OpenFile's `during`), and nobody else would send it. A failure ends it (thrown).
   */
  async uploadUntilClean(file: OpenFile): Promise<void> {
    for (let round = 0; round < UPLOAD_ROUNDS && file.dirty && !file.unlinked; round++) await this.upload(file);
  }

  /** Open files at or below `path` (a renamed or removed directory moves or drops them). */
  filesUnder(path: string): OpenFile[] {
    const prefix = path === '/' ? '/' : `${path}/`;
    return [...this.files.values()].filter((f) => f.path === path || f.path.startsWith(prefix));
  }

  /** Names of files created here but not uploaded yet, so listings show them at once. */
  pendingNames(dir: string): Array<{ name: string; attr: Attr }> {
    const out: Array<{ name: string; attr: Attr }> = [];
    for (const file of this.files.values()) {
      const { dir: parent, name } = splitPath(file.path);
      if (parent === dir && file.created) out.push({ name, attr: file.attr() });
    }
    return out;
  }
}

/**
 * The handle number after `current`, wrapping at MAX_HANDLE and skipping numbers still in use:
 * counting on without end reached 2^32 after ~17 days of steady opens, where fuse-native's
 * conversion made it 0 and every later op failed EBADF.
 */
export function nextHandleNumber(current: number, taken: (n: number) => boolean): number {
  let next = current;
  do next = next >= MAX_HANDLE ? FIRST_HANDLE : next + 1;
  while (taken(next) && next !== current);
  return next;
}
