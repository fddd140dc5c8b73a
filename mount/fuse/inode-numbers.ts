import { LRUCache } from 'lru-cache';

/** Paths numbered at once; past it the least recently seen lose their number (a new one next time). */
const MAX_NUMBERED = 500_000;
/** A folder renamed moves its entries' numbers along when the table is at most this big. */
const MAX_MOVED_WITH_FOLDER = 50_000;

/**
 * st_ino for every path, chosen by the mount (libfuse's use_ino) and kept while the mount runs:
 * across the kernel forgetting an entry and looking it up again, and across a rename, as a
 * local disk keeps them (tar, rsync, find -inum and git compare st_ino between calls).
 * libfuse 2's own numbers are dropped when the kernel forgets an entry; its `remember` option
 * kept them, but with it libfuse 2.9 aborts (fuse.c unlink_node: "Assertion
 * node->nlookup > 1 failed", libfuse issue 589) on a rename onto a name whose file vanished
 * behind the mount (another mount removed it), killing the daemon.
 */
export class InodeNumbers {
  private next = 2;
  private readonly numbers = new LRUCache<string, number>({ maxSize: MAX_NUMBERED, sizeCalculation: () => 1 });

  of(path: string): number {
    if (path === '/') return 1;
    let ino = this.numbers.get(path);
    if (ino === undefined) {
      ino = this.next++;
      // st_ino crosses fuse-native as 32 bits; after 4 billion paths, numbers start over.
      if (this.next > 0xffffffff) this.next = 2;
      this.numbers.set(path, ino);
    }
    return ino;
  }

  /** `from` is now `to` (a folder: with everything below it, while the table is small). */
  renamed(from: string, to: string, folder: boolean): void {
    const ino = this.numbers.get(from);
    this.numbers.delete(to);
    this.numbers.delete(from);
    if (ino !== undefined) this.numbers.set(to, ino);
    // A walk of the table: for folders only (rsync renames every file it writes).
    if (!folder || this.numbers.size > MAX_MOVED_WITH_FOLDER) return;
    const prefix = `${from}/`;
    const below = [...this.numbers.keys()].filter((p) => p.startsWith(prefix));
    for (const p of below) {
      const n = this.numbers.get(p)!;
      this.numbers.delete(p);
      this.numbers.set(to + p.slice(from.length), n);
    }
  }

  removed(path: string): void {
    this.numbers.delete(path);
  }

  /** Paths holding a number now. */
  get size(): number {
    return this.numbers.size;
  }
}
