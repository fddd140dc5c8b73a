import type { Logger } from 'pino';
import type { Attr } from '../../common/api.js';
import { RdriveError } from '../../common/errors.js';
import { AttrCache, splitPath } from '../cache/attr-cache.js';
import { ContentCache } from '../cache/content-cache.js';
import { OpenFile, type UploadPlan } from '../cache/open-file.js';
import type { ApiClient } from '../remote/api-client.js';
import { checkNameLengths } from './names.js';
import { mountStats } from '../daemon/mount-stats.js';

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
  readonly handles = new Map<number, Handle>();
  private nextFd = 10;

  constructor(
    readonly client: ApiClient,
    readonly options: MountOptions,
    readonly log: Logger,
    attrTtlMs: number,
  ) {
    this.cache = new AttrCache(attrTtlMs);
  }

  requireWritable(): void {
    if (this.options.readOnly) throw new RdriveError('EROFS', 'Mounted read-only');
  }

  /** Attributes of a path: open file, then cache, then a fresh parent listing, then the server. */
  async attr(path: string): Promise<Attr> {
    checkNameLengths(path);
    const open = this.files.get(path);
    if (open !== undefined) return open.attr();
    // The root too: the kernel asks for it before most walks, a request each time was ~10% of
    // an `ls -l` of 300 names.
    const cached = this.cache.get(path);
    if (cached !== undefined) {
      mountStats.cacheHits++;
      return cached;
    }
    mountStats.cacheMisses++;
    if (path === '/') return this.fetchAttr(path);
    if (this.cache.knownMissing(path)) throw new RdriveError('ENOENT');
    const { dir } = splitPath(path);
    if (this.cache.worthRelisting(dir)) {
      await this.relist(dir).catch(() => undefined);
      const listed = this.cache.get(path);
      if (listed !== undefined) return listed;
      if (this.cache.knownMissing(path)) throw new RdriveError('ENOENT');
    }
    return this.fetchAttr(path);
  }

  private readonly relisting = new Map<string, Promise<void>>();

  /** One listing request shared by every lookup that waits on the same directory. */
  relist(dir: string): Promise<void> {
    let pending = this.relisting.get(dir);
    if (pending === undefined) {
      pending = this.client.list(dir).then(({ entries }) => this.cache.setListing(dir, entries)).finally(() => this.relisting.delete(dir));
      this.relisting.set(dir, pending);
    }
    return pending;
  }

  async fetchAttr(path: string): Promise<Attr> {
    try {
      const attr = await this.client.stat(path);
      this.cache.set(path, attr);
      return attr;
    } catch (err) {
      if (err instanceof RdriveError && err.code === 'ENOENT') this.cache.forget(path);
      throw err;
    }
  }

  openHandle(file: OpenFile, flags: number): number {
    const fd = this.nextFd++;
    file.refs++;
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
      fetch: (offset, length) => this.client.read(file.path, offset, length),
      stream: (body) => this.client.upload(file.path, body, { mode: file.pendingMode ?? file.mode, sync: this.options.sync }),
    });
    this.files.set(path, file);
    return file;
  }

  /** Sends a dirty file to the server; the error reaches the caller (flush/fsync → close()). */
  async upload(file: OpenFile): Promise<void> {
    await file.locked(async () => {
      if (file.unlinked) return;
      if (await this.finishStreamed(file)) return;
      const plan = await file.plan();
      if (plan.kind === 'none') return;
      const started = Date.now();
      try {
        await this.send(file, plan);
        file.uploadFailed = false;
      } catch (err) {
        file.uploadFailed = true;
        throw err;
      }
      this.log.debug({ path: file.path, kind: plan.kind, size: plan.size, ms: Date.now() - started }, 'uploaded');
    });
  }

  /** True when a streamed upload already stored everything (pending times/mode applied after). */
  private async finishStreamed(file: OpenFile): Promise<boolean> {
    let attr = await file.finishStream().catch((err: unknown) => {
      file.uploadFailed = true;
      throw err;
    });
    if (attr === undefined) return false;
    // Times and a mode changed while the bytes were streaming are applied afterwards; so is
    // the mount's mtime, which the server must keep (see toStat).
    const mtime = file.pendingMtime ?? file.mtime;
    const late = {
      ...(mtime === attr.mtime ? {} : { mtime }),
      ...(file.pendingMode === undefined || file.pendingMode === attr.mode ? {} : { mode: file.pendingMode }),
    };
    if (Object.keys(late).length > 0) {
      attr = await this.client.setAttr(file.path, late);
      if (this.options.sync) await this.client.sync();
    }
    file.uploaded(attr, true);
    file.uploadFailed = false;
    this.cache.added(file.path, attr);
    return true;
  }

  private async send(file: OpenFile, plan: Exclude<UploadPlan, { kind: 'none' }>): Promise<void> {
    let attr: Attr;
    if (plan.kind === 'whole') {
      attr = await this.client.upload(file.path, plan.body, {
        length: plan.size,
        ...(file.pendingMode === undefined && !file.created ? {} : { mode: file.pendingMode ?? file.mode }),
        // The mtime this mount has been reporting becomes the server's (see toStat).
        mtime: file.pendingMtime ?? file.mtime,
        sync: this.options.sync,
      });
    } else {
      attr = await this.client.patch(file.path, plan.body, plan.size, file.pendingMtime ?? file.mtime, this.options.sync);
      if (file.pendingMode !== undefined) {
        attr = await this.client.setAttr(file.path, { mode: file.pendingMode });
        if (this.options.sync) await this.client.sync();
      }
    }
    file.uploaded(attr, plan.kind === 'whole');
    this.cache.added(file.path, attr);
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
