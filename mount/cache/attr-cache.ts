import { LRUCache } from 'lru-cache';
import type { Attr, FolderTimes } from '../../common/api.js';

const RELIST_WINDOW_MS = 30_000;
/** Listing this many entries costs about what one stat request does (measured on loopback). */
const ENTRIES_PER_STAT = 40;
/**
 * A listing stays fresh this much longer per entry for the program that listed it: `ls -l` or a
 * file manager walks it with one kernel lookup per name (~0.2-0.5 ms each here), so with a flat
 * lifetime a big folder's entries expired before the walk reached them and every later name cost
 * a stat request (5,000 entries: 130 stats, 2-4x the time). The listing is as old as a walk
 * through it takes, no older. Only for that program: another one opening a file there (cat,
 * after an `ls`) must not be told a size or a "no such file" older than the usual lifetime, or a
 * file another mount rewrote seconds ago read cut at its old size (the kernel keeps the size it
 * is told) and one it created answered ENOENT: close-to-open broken for seconds in a big folder.
 */
const WALK_MS_PER_ENTRY = 0.5;

/**
 * Memory bounds: a walk over a huge tree (find, du, a backup) must not grow the daemon without
 * limit. Least recently used entries go first; a listing counts one per name it holds.
 */
const MAX_ATTRS = 250_000;
const MAX_LISTED_NAMES = 500_000;
const MAX_DIRS = 20_000;
/**
 * Removals remembered: more than the number of directories removed within the longest lifetime
 * an entry can have (the TTL plus a walk through the largest listing).
 */
const MAX_GONE_DIRS = 200_000;
/** Files whose upload followed a deferred chmod or utimens, within the last few minutes' work. */
const MAX_SHOWN_CTIMES = 10_000;

/**
 * An LRU of at most `limit` entries that allocates as it fills. With `max`, lru-cache allocates
 * every slot up front: for the limits above that took ~90 ms and ~8 MB at each mount start.
 */
function growingLru<K extends {}, V extends {}>(limit: number): LRUCache<K, V> {
  return new LRUCache<K, V>({ maxSize: limit, sizeCalculation: () => 1 });
}

interface Timed<T> {
  value: T;
  expires: number;
  /** The process (thread id) that listed the folder, for which the entry lasts until walkEnds. */
  walker?: number;
  walkEnds?: number;
  /** The change count when it was cached, or when it was asked for (see goneDirs, ticket). */
  stamp: number;
}

/**
 * Attributes and directory listings with a short lifetime. readdir fills both, so `ls -l` costs
 * one request; a fresh listing of the parent also answers "no such file" without a request.
 * Our own mutations update the entries directly.
 */
export class AttrCache {
  private readonly attrs = growingLru<string, Timed<Attr>>(MAX_ATTRS);
  private readonly listings = new LRUCache<string, Timed<Set<string>>>({
    maxSize: MAX_LISTED_NAMES,
    sizeCalculation: (listing) => listing.value.size + 1,
  });
  /**
   * Directories removed or renamed away, with the change count at that moment. An entry cached
   * before its directory (or any ancestor) went is stale; it is dropped when next read. Walking
   * the whole cache for the subtree at each rmdir made `rm -r` of a big tree quadratic.
   */
  private readonly goneDirs = growingLru<string, number>(MAX_GONE_DIRS);
  /** Directories listed recently with their size: worth listing again rather than stat-ing each name. */
  private readonly recentlyListed = growingLru<string, { size: number; at: number; misses: number }>(MAX_DIRS);

  /**
   * Changes made through this mount, counted, and the count at each directory's last one. A
   * server answer to a request sent before a change in the same directory may predate it: a
   * listing that still holds a file just unlinked would bring it back (the kernel then opens the
   * old name instead of creating it: make -j's "can't create obj/f19.o: No such file").
   */
  private changes = 0;
  private readonly dirChanged = growingLru<string, number>(MAX_GONE_DIRS);

  /** Path → the server's ctime set by an upload, and the local one shown instead (see showCtime). */
  private readonly shownCtimes = growingLru<string, { server: number; shown: number }>(MAX_SHOWN_CTIMES);

  constructor(private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  /**
   * A chmod or utimens on a file with unsent content is sent with the content at close, one
   * request (tar x and cp -p do both on every file), and answered at once with a local ctime
   * that the kernel keeps past the close. Showing the server's (later) ctime after that would
   * make the file look changed to a reader comparing the two (tar's "file changed as we read
   * it"). So this mount shows the answered ctime for as long as the server keeps the one the
   * upload set; any later change there shows through. Other mounts see the server's.
   */
  showCtime(path: string, server: number, shown: number): void {
    this.shownCtimes.set(path, { server, shown });
  }

  /** The ctime to show for `path` when the server reports `server`. */
  shownCtime(path: string, server: number): number {
    const entry = this.shownCtimes.get(path);
    if (entry === undefined) return server;
    if (entry.server === server) return entry.shown;
    this.shownCtimes.delete(path);
    return server;
  }

  /** `caller`: the process asking (FUSE's pid), which may see the listing it walks a bit longer. */
  get(path: string, caller?: number): Attr | undefined {
    return this.fresh(this.attrs, path, caller);
  }

  /** What a change made through this mount left `path` with. */
  set(path: string, attr: Attr): void {
    this.changed(splitPath(path).dir);
    this.store(path, attr);
  }

  /** The count of changes so far: taken before a request whose answer fills the cache. */
  ticket(): number {
    return this.changes;
  }

  /**
   * A server answer about `path` to a request sent at `ticket`; dropped if it may be stale. It
   * counts as cached at the ticket: a folder above removed or renamed since hides it.
   */
  setFetched(path: string, attr: Attr, ticket: number): void {
    // A change inside a folder moves the folder's own times: an answer from before it is stale.
    if (!this.changedSince(splitPath(path).dir, ticket) && !this.changedSince(path, ticket)) this.store(path, attr, ticket);
  }

  private store(path: string, attr: Attr, stamp = this.changes): void {
    this.attrs.set(path, { value: attr, expires: this.now() + this.ttlMs, stamp });
  }

  private changed(dir: string): void {
    this.dirChanged.set(dir, ++this.changes);
  }

  private changedSince(dir: string, ticket: number): boolean {
    return (this.dirChanged.peek(dir) ?? -1) > ticket;
  }

  /** A fresh listing of the parent that lacks the name: the path does not exist. */
  knownMissing(path: string, caller?: number): boolean {
    const { dir, name } = splitPath(path);
    const names = this.fresh(this.listings, dir, caller);
    return names !== undefined && !names.has(name);
  }

  listing(dir: string, caller?: number): Set<string> | undefined {
    return this.fresh(this.listings, dir, caller);
  }

  /**
   * True when a lookup miss in `dir` is better answered by listing it again (one request for
   * every name, e.g. while `ls -l` or cp goes through it) than by a stat. A big directory is
   * listed again only once the stats spent since its last listing cost as much as the listing
   * (ski rental: never more than twice the best choice); a small one at the first miss.
   */
  worthRelisting(dir: string): boolean {
    const seen = this.recentlyListed.get(dir);
    if (seen === undefined || this.now() - seen.at >= RELIST_WINDOW_MS) return false;
    seen.misses++;
    return seen.misses * ENTRIES_PER_STAT >= seen.size;
  }

  /**
   * A listing of `dir`; with the `ticket` taken before it was asked for, dropped when something
   * changed in `dir` through this mount meanwhile (the next lookup asks again). `walker`: the
   * process that asked for it, which may use it for as long as a walk through it takes.
   * Returns the names it holds, or undefined when it was dropped.
   */
  setListing(dir: string, entries: ReadonlyArray<{ name: string } & Attr>, ticket?: number, walker?: number): ReadonlySet<string> | undefined {
    if (ticket !== undefined && this.changedSince(dir, ticket)) return undefined;
    const expires = this.now() + this.ttlMs;
    const walk = walker === undefined ? {} : { walker, walkEnds: expires + entries.length * WALK_MS_PER_ENTRY };
    this.recentlyListed.set(dir, { size: entries.length, at: this.now(), misses: 0 });
    const stamp = ticket ?? this.changes;
    const names = new Set(entries.map((e) => e.name));
    this.listings.set(dir, { value: names, expires, stamp, ...walk });
    for (const e of entries) {
      const { name, ...attr } = e;
      const path = joinPath(dir, name);
      if (ticket !== undefined && attr.type === 'dir' && this.changedSince(path, ticket)) continue;
      this.attrs.set(path, { value: attr, expires, stamp, ...walk });
    }
    return names;
  }

  /** Records that `path` now exists with `attr` (after a create, upload or mkdir). */
  added(path: string, attr: Attr): void {
    this.set(path, attr);
    this.changed(path);
    const { dir, name } = splitPath(path);
    this.listings.get(dir)?.value.add(name);
  }

  /**
   * Records that `path` is gone. Only a directory has cached entries below it, and looking for
   * them walks the whole cache: `rm` of each file of a big tree must not pay that (with a
   * 100,000-entry cache it was most of an unlink's time).
   */
  removed(path: string, kind: 'file' | 'dir-or-unknown' = 'dir-or-unknown'): void {
    this.attrs.delete(path);
    const { dir, name } = splitPath(path);
    this.changed(dir);
    this.changed(path);
    this.listings.get(dir)?.value.delete(name);
    if (kind === 'file') this.listings.delete(path);
    else this.dropTree(path);
  }

  /**
   * The server's times of `dir` after a change made in it through this mount (see
   * HEADER_FOLDER_TIMES), or undefined when the answer did not say. Its cached attributes stay
   * (until they expire as usual) with the times moved on: the kernel checks a directory's
   * attributes before each lookup in it, and a stat request per created file would double the
   * cost of a copy. Not this mount's clock: a `stat .` must show what it will show a second on.
   */
  folderTimes(dir: string, times: FolderTimes | undefined): void {
    // Before anything else: a stat or listing of the folder answered from before this change
    // (and arriving after it) must not bring the old times back.
    this.changed(dir);
    const entry = this.attrs.get(dir);
    if (entry === undefined) return;
    if (times === undefined) {
      this.attrs.delete(dir);
      return;
    }
    // Answers to changes sent at once may arrive in any order: the one with the later ctime,
    // which only the server moves and only forward, is the newer. Not the later mtime: utimes
    // may have set the folder's to any time, past or future.
    if (times.ctime >= entry.value.ctime) entry.value = { ...entry.value, mtime: times.mtime, ctime: times.ctime };
  }

  /**
   * A subdirectory of `dir` was made (+1) or removed (-1): its cached link count follows, as the
   * server's does, so that a stat right after a mkdir, rmdir or rename sees the new count.
   */
  subdirsChanged(dir: string, delta: number): void {
    const entry = this.attrs.get(dir);
    if (entry?.value.nlink === undefined) return;
    entry.value = { ...entry.value, nlink: Math.max(2, entry.value.nlink + delta) };
  }

  /** Forgets a path (when its state is unknown, e.g. after a failed call). */
  forget(path: string): void {
    this.attrs.delete(path);
    this.listings.delete(splitPath(path).dir);
  }

  /** A directory this mount just created is known to be empty. */
  createdDir(path: string, attr: Attr): void {
    this.added(path, attr);
    this.setListing(path, []);
  }

  /** Everything cached at or below `path` becomes stale, in O(1): see goneDirs. */
  private dropTree(path: string): void {
    this.listings.delete(path);
    this.goneDirs.set(path, ++this.changes);
  }

  /** True when `path` or one of its ancestors was removed after the entry was cached. */
  private goneSince(path: string, stamp: number): boolean {
    if (this.goneDirs.size === 0) return false;
    for (let p = path; p !== '/' && p !== ''; p = splitPath(p).dir) {
      const gone = this.goneDirs.peek(p);
      if (gone !== undefined && gone > stamp) return true;
    }
    return false;
  }

  private fresh<T extends object>(map: LRUCache<string, Timed<T>>, key: string, caller?: number): T | undefined {
    const entry = map.get(key);
    if (entry === undefined) return undefined;
    const now = this.now();
    if (Math.max(entry.expires, entry.walkEnds ?? 0) <= now || this.goneSince(key, entry.stamp)) {
      map.delete(key);
      return undefined;
    }
    // Past the usual lifetime, only the walker goes on using it (kept for it meanwhile).
    if (entry.expires <= now && (caller === undefined || caller !== entry.walker)) return undefined;
    return entry.value;
  }
}

/** "/a/b" → { dir: "/a", name: "b" }; "/a" → { dir: "/", name: "a" }. */
export function splitPath(path: string): { dir: string; name: string } {
  const i = path.lastIndexOf('/');
  return { dir: i <= 0 ? '/' : path.slice(0, i), name: path.slice(i + 1) };
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}
