import { performance } from 'node:perf_hooks';
import { HEADS_COUNT_MAX, HEADS_FILE_MAX } from '../../common/api.js';
import { RdriveError } from '../../common/errors.js';
import { FolderReads } from '../cache/folder-reads.js';
import { joinPath, splitPath } from '../cache/attr-cache.js';
import type { MountState } from './state.js';

/**
 * Reads the small files of a folder in batches for a reader walking through it (policy in
 * cache/folder-reads.ts): each comes with a read lease, so the opens that follow are answered
 * from memory, as an open of a file read in the last second already is (see readHead).
 */
export class FolderPrefetch {
  private readonly reads = new FolderReads(HEADS_COUNT_MAX);
  private readonly inFlight = new Map<string, Promise<void>>();
  /** The server offers no folder reads (no leases, or an older server): stop asking. */
  private unsupported = false;

  constructor(private readonly state: MountState) {}

  /** Notes that a program listed `dir` (FUSE readdir). */
  listed(dir: string): void {
    this.reads.listed(dir, performance.now());
  }

  /** Notes an open for reading that needed no request. */
  touched(path: string): void {
    const { dir, name } = splitPath(path);
    this.reads.touched(dir, name, performance.now());
  }

  /**
   * Notes an open for reading of `path` that has no leased head, and fetches a batch of its
   * folder from it on when the reader walks the folder (or waits for the batch under way).
   * Never fails: the open then reads its file on its own.
   */
  async beforeOpen(path: string): Promise<void> {
    const { dir, name } = splitPath(path);
    const pending = this.inFlight.get(dir);
    if (pending !== undefined) {
      await pending;
      return;
    }
    const unbatchable = (this.state.cache.get(path)?.size ?? 0) > HEADS_FILE_MAX;
    const count = this.reads.opened(dir, name, performance.now(), unbatchable);
    if (count === 0 || this.unsupported) return;
    this.reads.fetched(dir);
    const batch = this.fetch(dir, name, count).finally(() => this.inFlight.delete(dir));
    this.inFlight.set(dir, batch);
    await batch;
  }

  private async fetch(dir: string, from: string, count: number): Promise<void> {
    const { contents, cache, files, client, log } = this.state;
    const generation = contents.generation;
    const sentAt = performance.now();
    const ticket = cache.ticket();
    try {
      const answer = await client.readHeads(dir, from, count);
      // Something changed through this mount meanwhile: the answer may predate it.
      if (contents.generation !== generation) {
        this.reads.wasted(dir);
        return;
      }
      for (const file of answer.files) {
        const path = joinPath(dir, file.name);
        if (files.has(path)) continue;
        contents.set(path, { etag: file.etag, attr: file.attr, data: file.data });
        contents.lease(path, sentAt, answer.leaseMs, generation);
        cache.setFetched(path, file.attr, ticket);
      }
    } catch (err) {
      if (err instanceof RdriveError && err.code === 'ENOSYS') this.unsupported = true;
      // A malformed answer is worth a look (see remote/answers.ts); a busy or absent server is not.
      const level = err instanceof RdriveError && err.code === 'EIO' ? 'warn' : 'debug';
      log[level]({ dir, err: (err as Error).message }, 'folder read failed; files are read one by one');
    }
  }
}
