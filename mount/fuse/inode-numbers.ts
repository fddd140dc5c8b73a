import { LRUCache } from 'lru-cache';
import { splitPath } from '../cache/attr-cache.js';

/** Paths numbered at once; past it the least recently seen lose their number (a new one next time). */
const MAX_NUMBERED = 500_000;
/** A folder renamed moves the numbers below it along when there are at most this many (dropped otherwise). */
const MAX_MOVED_WITH_FOLDER = 50_000;
/** st_ino crosses fuse-native as 32 bits; after 4 billion paths, numbers start over. */
const LAST_NUMBER = 0xffffffff;

/**
 * st_ino for every path, chosen by the mount (libfuse's use_ino) and kept while the mount runs:
 * across the kernel forgetting an entry and looking it up again, and across a rename, as a
 * local disk keeps them (tar, rsync, find -inum and git compare st_ino between calls).
 * libfuse 2's own numbers are dropped when the kernel forgets an entry; its `remember` option
 * kept them, but with it libfuse 2.9 aborts (fuse.c unlink_node: "Assertion
 * node->nlookup > 1 failed", libfuse issue 589) on a rename onto a name whose file vanished
 * behind the mount (another mount removed it), killing the daemon.
 *
 * A number goes with its path: at an unlink, rmdir or rename through this mount, and when a
 * listing of its folder no longer has the name (another client removed it), unless the mount
 * still serves the file (open here): every name a listing ever showed kept its number before,
 * and a folder where another machine creates and removes files grew the table to its cap.
 */
export class InodeNumbers {
  private next = 2;
  /** Paths numbered, by folder: a listing, an rmdir or a rename visits only that folder's. */
  private readonly byFolder = new Map<string, Set<string>>();
  private readonly numbers = new LRUCache<string, number>({
    maxSize: MAX_NUMBERED,
    sizeCalculation: () => 1,
    // Evicted or deleted (not replaced): out of its folder's set too.
    dispose: (_ino, path, reason) => {
      if (reason !== 'set') this.unindex(path);
    },
  });

  of(path: string): number {
    if (path === '/') return 1;
    let ino = this.numbers.get(path);
    if (ino === undefined) {
      ino = this.next++;
      if (this.next > LAST_NUMBER) this.next = 2;
      this.put(path, ino);
    }
    return ino;
  }

  /** Taken before asking for a listing: numbers given from then on are newer than the listing (see listed). */
  ticket(): number {
    return this.next;
  }

  /**
   * A listing of `dir` (asked for at `ticket`, with nothing changed there through this mount
   * since) has `names`: the numbers of the other names there go, with everything below them,
   * except for paths `kept` (a file open here whose name another client removed keeps its st_ino
   * while it is open) and numbers given since the ticket (a name created after the listing was
   * made). Costs the folder's numbered names, not the table.
   */
  listed(dir: string, names: ReadonlySet<string>, ticket: number, kept: (path: string) => boolean): void {
    const numbered = this.byFolder.get(dir);
    if (numbered === undefined) return;
    const skip = dir === '/' ? 1 : dir.length + 1;
    for (const path of [...numbered]) {
      if (names.has(path.slice(skip)) || kept(path)) continue;
      const ino = this.numbers.peek(path);
      if (ino !== undefined && this.givenSince(ino, ticket)) continue;
      this.dropTree(path, kept);
    }
  }

  /** `from` is now `to` (a folder: with everything below it, up to MAX_MOVED_WITH_FOLDER paths). */
  renamed(from: string, to: string, folder: boolean): void {
    const ino = this.numbers.get(from);
    // What `to` was is gone (a folder replaced by a rename is empty, or held only stale numbers).
    this.dropTree(to);
    this.numbers.delete(from);
    if (ino !== undefined) this.put(to, ino);
    if (!folder) return;
    const below = this.below(from);
    if (below.length > MAX_MOVED_WITH_FOLDER) {
      for (const p of below) this.numbers.delete(p);
      return;
    }
    for (const p of below) {
      const n = this.numbers.peek(p)!;
      this.numbers.delete(p);
      this.put(to + p.slice(from.length), n);
    }
  }

  /** `path` is gone, with everything below it. */
  removed(path: string): void {
    this.dropTree(path);
  }

  /** Paths holding a number now. */
  get size(): number {
    return this.numbers.size;
  }

  private put(path: string, ino: number): void {
    this.numbers.set(path, ino);
    const { dir } = splitPath(path);
    let numbered = this.byFolder.get(dir);
    if (numbered === undefined) {
      numbered = new Set();
      this.byFolder.set(dir, numbered);
    }
    numbered.add(path);
  }

  private unindex(path: string): void {
    const { dir } = splitPath(path);
    const numbered = this.byFolder.get(dir);
    if (numbered === undefined) return;
    numbered.delete(path);
    if (numbered.size === 0) this.byFolder.delete(dir);
  }

  /** True when `ino` was given at or after `ticket` (the counter wraps at LAST_NUMBER). */
  private givenSince(ino: number, ticket: number): boolean {
    return this.next >= ticket ? ino >= ticket && ino < this.next : ino >= ticket || ino < this.next;
  }

  /** Numbered paths strictly below `path`, found through the folders' sets. */
  private below(path: string): string[] {
    const out: string[] = [];
    const folders = [path];
    for (let folder = folders.pop(); folder !== undefined; folder = folders.pop()) {
      for (const p of this.byFolder.get(folder) ?? []) {
        out.push(p);
        folders.push(p);
      }
    }
    return out;
  }

  private dropTree(path: string, kept?: (path: string) => boolean): void {
    this.numbers.delete(path);
    for (const p of this.below(path)) if (kept === undefined || !kept(p)) this.numbers.delete(p);
  }
}
