import { LRUCache } from 'lru-cache';
import type { Attr } from '../../common/api.js';

/** A file's first bytes as the server sent them at an open, and the version they belong to. */
export interface CachedHead {
  etag: string;
  attr: Attr;
  data: Buffer;
  /** Read lease: until when (performance.now()) it may be used without asking, and under which generation. */
  leaseUntil?: number;
  leaseGeneration?: number;
}

/** A lease is trusted until this long before the server's end of it (clocks, scheduling). */
const LEASE_MARGIN_MS = 100;

/** Memory the cached heads may take together; the least recently opened go first. */
const MAX_BYTES = 32 * 1024 * 1024;

/**
 * First read-ahead windows of recently opened files, kept across opens: an open() still asks
 * the server (close-to-open), but with the version it holds, and an unchanged file answers with
 * its attributes only. What lies past the head comes from the kernel's page cache (auto_cache
 * keeps it while size and mtime are unchanged) or is fetched as it is read.
 */
export class ContentCache {
  private readonly heads = new LRUCache<string, CachedHead>({
    maxSize: MAX_BYTES,
    // An entry's cost is its bytes, plus a little for the bookkeeping of an empty file.
    sizeCalculation: (head) => head.data.length + 256,
  });

  get(path: string): CachedHead | undefined {
    return this.heads.get(path);
  }

  /**
   * The head of `path` if its read lease still runs and nothing was changed through this mount
   * since it was granted: then it is the server's current content (close-to-open holds, see
   * server/state/read-leases.ts) and an open needs no request.
   */
  leased(path: string, now = performance.now()): CachedHead | undefined {
    const head = this.heads.get(path);
    if (head?.leaseUntil === undefined || head.leaseGeneration !== this.dropped || now >= head.leaseUntil) return undefined;
    return head;
  }

  /**
   * Records a lease of `leaseMs` on the head of `path`, counted from `sentAt` (performance.now()
   * when the request left, so never later than the server's own count), unless something was
   * changed through this mount since the request left (`generationAtSend` is then stale).
   */
  lease(path: string, sentAt: number, leaseMs: number, generationAtSend: number): void {
    const head = this.heads.get(path);
    // A change through this mount overlapped the request: its answer may predate the change.
    if (head === undefined || leaseMs <= LEASE_MARGIN_MS || generationAtSend !== this.dropped) return;
    head.leaseUntil = sentAt + leaseMs - LEASE_MARGIN_MS;
    head.leaseGeneration = this.dropped;
  }

  /**
   * Something is being changed through this mount (a write, a rename, a removal...): no lease
   * is trusted any more; the next opens ask the server. The server holds its own answer to a
   * change until other mounts' leases end, but not this mount's own.
   */
  dropLeases(): void {
    this.dropped++;
  }

  /** Counts dropLeases() calls: taken before a request, compared when its lease is recorded. */
  get generation(): number {
    return this.dropped;
  }

  private dropped = 0;

  set(path: string, head: CachedHead): void {
    this.heads.set(path, head);
  }

  /** The content changed here (upload, truncate) or the name went away. */
  forget(path: string): void {
    this.heads.delete(path);
  }
}
