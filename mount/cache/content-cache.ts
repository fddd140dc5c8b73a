import { LRUCache } from 'lru-cache';
import type { Attr } from '../../common/api.js';

/** A file's first bytes as the server sent them at an open, and the version they belong to. */
export interface CachedHead {
  etag: string;
  attr: Attr;
  data: Buffer;
}

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

  set(path: string, head: CachedHead): void {
    this.heads.set(path, head);
  }

  /** The content changed here (upload, truncate) or the name went away. */
  forget(path: string): void {
    this.heads.delete(path);
  }
}
