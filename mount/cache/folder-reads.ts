import { LRUCache } from 'lru-cache';

/** Two opens for reading in one folder this close together look like a walk through it. */
const SEQUENTIAL_WINDOW_MS = 1000;
/** Files the first folder read asks for; each further one in the same walk asks for twice as many. */
const FIRST_BATCH = 16;
const MAX_FOLDERS = 1024;

interface FolderWalk {
  lastName: string;
  lastAt: number;
  /** 0: this walk fetches no more batches (the last one served no open). */
  nextBatch: number;
  /**
   * Opens answered since the last batch, besides the one that asked for it; undefined when no
   * batch is out (none fetched yet, or an open missed since).
   */
  servedSinceBatch: number | undefined;
}

/**
 * When to read a folder's small files in one request (GET /heads) rather than one by one:
 * as a read-ahead does for bytes, only once a reader goes from file to file in the same folder
 * (cat *, tar c, grep -r, a file manager's previews), starting small and doubling while the walk
 * goes on. A program that opens one file, or opens files seconds apart, never triggers it, so a
 * big folder is not fetched for one look, unless it has just listed the folder (a walker does).
 * A batch that serves no open before the next miss predicted nothing (rsync opens each file it
 * has just written, a name no batch held): the walk then stops fetching, or a folder of n files
 * would cost n batches of up to HEADS_COUNT_MAX files each. Pure: the clock is passed in.
 */
export class FolderReads {
  private readonly walks = new LRUCache<string, FolderWalk>({ max: MAX_FOLDERS });
  /** Folders a program listed lately, and when. */
  private readonly listings = new LRUCache<string, number>({ max: MAX_FOLDERS });

  constructor(private readonly maxBatch: number) {}

  /**
   * Records an open for reading of `name` in `dir` that no batch answered, and returns how many
   * files to fetch from `name` on (0: read this file alone). Counting this batch, the walk's
   * next one doubles. `unbatchable`: the file is too big for any batch, so missing it says
   * nothing about the batches, and starts none.
   */
  opened(dir: string, name: string, now: number, unbatchable = false): number {
    const walk = this.walks.get(dir);
    const listedAt = this.listings.get(dir);
    const listedSince = listedAt !== undefined && now - listedAt <= SEQUENTIAL_WINDOW_MS && (walk === undefined || listedAt > walk.lastAt);
    if (listedSince) {
      // A walker (tar c, grep -r, find -exec) lists a folder, then opens its files: the first
      // open already starts the walk, a new one even right after another program's opens there
      // (cat * after rsync). Many folders hold only a few files.
      this.listings.delete(dir);
      this.startWalk(dir, name, now);
      return FIRST_BATCH;
    }
    if (walk === undefined || walk.lastName === name || now - walk.lastAt > SEQUENTIAL_WINDOW_MS) {
      this.startWalk(dir, name, now);
      return 0;
    }
    walk.lastName = name;
    walk.lastAt = now;
    // A batch from a big file would hold only the small ones after it, which ask for their own
    // batch when the reader gets there: fetching at each big file re-sent them every time.
    if (unbatchable) return 0;
    if (walk.servedSinceBatch === 0) walk.nextBatch = 0;
    walk.servedSinceBatch = undefined;
    return walk.nextBatch;
  }

  /** `dir` was read by a program (readdir): a walk through it may follow. */
  listed(dir: string, now: number): void {
    this.listings.set(dir, now);
  }

  /** A batch was fetched for `dir`: the next one of the same walk is twice as big. */
  fetched(dir: string): void {
    const walk = this.walks.get(dir);
    if (walk === undefined) return;
    walk.nextBatch = Math.min(walk.nextBatch * 2, this.maxBatch);
    walk.servedSinceBatch = 0;
  }

  /** The batch's answer could not be used (this mount changed something meanwhile): stop. */
  wasted(dir: string): void {
    const walk = this.walks.get(dir);
    if (walk !== undefined) walk.nextBatch = 0;
  }

  /** Records an open that needed no request (a leased head) so the walk's timing stays current. */
  touched(dir: string, name: string, now: number): void {
    const walk = this.walks.get(dir);
    if (walk === undefined) {
      this.startWalk(dir, name, now);
      return;
    }
    walk.lastName = name;
    walk.lastAt = now;
    if (walk.servedSinceBatch !== undefined) walk.servedSinceBatch++;
  }

  private startWalk(dir: string, name: string, now: number): void {
    this.walks.set(dir, { lastName: name, lastAt: now, nextBatch: FIRST_BATCH, servedSinceBatch: undefined });
  }
}
