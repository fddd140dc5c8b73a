/**
 * The mount daemon's own counters, so a user can see why a mount is slow (`rdrive stats MNT`).
 * One set per process: a daemon serves one mount. Counting is a few additions per operation.
 */
export interface StatsSnapshot {
  pid: number;
  mountpoint: string;
  since: string;
  /** FUSE operations by name (getattr, read, write...). */
  ops: Record<string, number>;
  /** Failed FUSE operations by error code (ENOENT, EIO...). */
  errors: Record<string, number>;
  /** HTTP requests sent to the server, and those answered with an error. */
  requests: number;
  requestErrors: number;
  /** Attribute lookups answered from the cache, and those that needed the server. */
  cacheHits: number;
  cacheMisses: number;
  /** Bytes returned to readers and accepted from writers. */
  bytesRead: number;
  bytesWritten: number;
  openFiles: number;
  /** Open files with changes not yet on the server. */
  uploadsPending: number;
  /** Paths with an inode number kept (see InodeNumbers): those that exist, not every one ever seen. */
  inodeNumbers: number;
  /** Request records the FUSE addon holds, one per libfuse thread it has set up (see RdriveFuse.threadRecords). */
  fuseThreadRecords: number;
}

class MountStats {
  private readonly started = new Date();
  readonly ops = new Map<string, number>();
  readonly errors = new Map<string, number>();
  requests = 0;
  requestErrors = 0;
  cacheHits = 0;
  cacheMisses = 0;
  bytesRead = 0;
  bytesWritten = 0;
  /** Filled in by the mount: its open files and how many are dirty. */
  files: () => { open: number; dirty: number } = () => ({ open: 0, dirty: 0 });
  /** Filled in by the mount: how many paths hold an inode number. */
  inodeNumbers: () => number = () => 0;
  /** Filled in by the mount: its FUSE addon's thread records. */
  fuseThreadRecords: () => number = () => 0;

  op(name: string): void {
    this.ops.set(name, (this.ops.get(name) ?? 0) + 1);
  }

  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  snapshot(mountpoint: string): StatsSnapshot {
    const files = this.files();
    return {
      pid: process.pid, mountpoint, since: this.started.toISOString(),
      ops: Object.fromEntries(this.ops), errors: Object.fromEntries(this.errors),
      requests: this.requests, requestErrors: this.requestErrors, cacheHits: this.cacheHits, cacheMisses: this.cacheMisses,
      bytesRead: this.bytesRead, bytesWritten: this.bytesWritten, openFiles: files.open, uploadsPending: files.dirty,
      inodeNumbers: this.inodeNumbers(), fuseThreadRecords: this.fuseThreadRecords(),
    };
  }
}

export const mountStats = new MountStats();
