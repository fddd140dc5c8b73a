import type { Readable } from 'node:stream';
import type { Attr, DirEntry, FolderTimes, SetAttrRequest, StatFs } from '../../common/api.js';
import type { Owner } from '../../common/ownership.js';
import type { Usage } from '../state/usage-tracker.js';
import type { Special } from './special-file.js';

/** An inclusive byte range, as in HTTP. */
export interface ByteRange {
  start: number;
  end: number;
}

/** What a write may consume: beyond it the write fails and nothing changes. */
export interface WriteLimits {
  /** Most bytes the resulting file may hold (quota left + the file's old size). */
  maxBytes?: number;
  /** Code when maxBytes is crossed: ENOSPC for a quota, EFBIG for a per-file limit. */
  overCode?: 'ENOSPC' | 'EFBIG';
  /**
   * Called before the file grows to `size` bytes; rejects (ENOSPC) when the quota cannot hold
   * it. The quota is reserved, not only checked, so parallel writes cannot exceed it together.
   */
  reserve?: (size: number) => Promise<void>;
  /**
   * Called before the body is read when the name is free: reserves the entry the write will
   * make (EDQUOT at the entry limit), so a new file over the limit is refused before its upload.
   */
  creating?: () => Promise<void>;
  /**
   * Called just before the new content takes the name, with what it replaces then (bytes and
   * entries, nothing for no entry) and its own size: the quota is settled against the file
   * actually replaced, not the one there when the write began. Rejects (ENOSPC, EDQUOT for an
   * entry it would add) when it no longer fits.
   */
  replacing?: (replaced: Usage, finalSize: number) => Promise<void>;
}

export interface MkdirOptions {
  mode?: number;
  parents?: boolean;
  owner?: Owner;
  /**
   * Awaited before the n-th folder of this call is made (mkdir -p may make several): rejects
   * (EDQUOT) when the entry limit cannot hold it, and nothing more is made.
   */
  room?: (count: number) => Promise<void>;
  /** Told the number of folders made so far, after each one: also when a later step fails. */
  made?: (count: number) => void;
}

/** `durable`: on stable storage before the call returns; else within the group commit's interval. */
export interface Durability {
  durable?: boolean;
}

export interface WriteOptions extends WriteLimits, Durability {
  exclusive?: boolean;
  mode?: number;
  mtime?: number;
  /** The owner the new file is stored with; absent: an existing file's owner carries over. */
  owner?: Owner;
  /**
   * True once the client has gone (connection closed, request aborted): checked just before
   * the new content replaces the old, so an upload the client was told failed never lands.
   */
  isAborted?: () => boolean | Promise<boolean>;
  /** The body's length when the client announced it (Content-Length): small bodies take a shorter path. */
  length?: number;
  /**
   * The body is extent records (as PATCH's) of a new file this many bytes long: what no extent
   * covers stays a hole, read as zeros. A sparse file goes up without its zeros.
   */
  sparseSize?: number;
}

export interface HeadsOptions {
  from: string;
  count: number;
  fileMax: number;
  bytesMax: number;
  admit: (name: string) => boolean;
}

/**
 * A user's storage. Paths are validated segments (common/paths.ts); the backend confines them to
 * the user's root. Local disk now; object stores and shared filesystems implement the same.
 */
export interface StorageBackend {
  ensureUserRoot(user: string): Promise<void>;
  stat(user: string, segments: string[]): Promise<Attr>;
  /**
   * The whole content of the small plain files of a folder, in name order from `from` on: at
   * most `count` files of at most `fileMax` bytes each and `bytesMax` in all. `admit(name)` is
   * asked before a file is read (a read lease is granted there) and may refuse it.
   */
  readHeads(user: string, segments: string[], options: HeadsOptions): Promise<{ files: Array<{ name: string; attr: Attr; content: Buffer }>; more: boolean }>;
  /**
   * The entries of a folder in name order, handed to `take` a batch at a time as they are
   * looked at, each batch awaited before the next is made: a listing holds its names and one
   * batch, never every entry's attributes at once (a 100,000-entry folder listed whole cost
   * ~90 MB per request). Rejects before any batch when the folder cannot be listed; a
   * rejection of `take` (its client gone) stops the walk and is passed on.
   */
  list(user: string, segments: string[], take: (entries: DirEntry[]) => Promise<void>): Promise<void>;
  /** mtime and ctime of the folder holding `segments` (the root for one segment): cheaper than stat. */
  folderTimes(user: string, segments: string[]): Promise<FolderTimes>;
  statfs(user: string): Promise<StatFs>;
  /** Bytes and entries of the user's files (for quotas), by one walk of the folder. */
  usage(user: string): Promise<Usage>;
  /**
   * Opens a file for reading; `rangeFor` picks the byte range once the size is known. The
   * content is a stream, or for a small range the bytes themselves (fewer calls per request).
   */
  openRead(
    user: string,
    segments: string[],
    rangeFor?: (size: number) => ByteRange | undefined,
  ): Promise<{ content: Readable | Buffer; attr: Attr; range: ByteRange | undefined }>;
  writeAtomic(user: string, segments: string[], body: Readable, options: WriteOptions): Promise<Attr>;
  /** `ifMatch`: the version (etagOf) the changes are based on; another one present is CHANGED. */
  patchAtomic(user: string, segments: string[], body: Readable, options: WriteLimits & Durability & { size?: number; offset?: number; extents: boolean; mtime?: number; ifMatch?: string; isAborted?: () => boolean | Promise<boolean> }): Promise<Attr>;
  /** Resolves once every change acknowledged before the call is on stable storage. */
  sync(): Promise<void>;
  /**
   * fsync() of one file: its content and its name (the last upload renamed a new file into
   * place) are on stable storage when this resolves; no segments, or a name that is gone, fall
   * back to sync().
   */
  syncFile(user: string, segments: string[]): Promise<void>;
  /** Commits what is pending (server shutdown). */
  close(): Promise<void>;
  /** Removes a file, stored symlink or node; returns what it held on disk (nothing for one of two names). */
  unlink(user: string, segments: string[]): Promise<Usage>;
  /** Stores a symlink or special file (data only: never resolved or opened as such by the server); EEXIST when the name is taken. */
  createSpecial(user: string, segments: string[], special: Special, owner?: Owner): Promise<Attr>;
  mkdir(user: string, segments: string[], options: MkdirOptions): Promise<Attr>;
  /** Returns what the removal freed, as usage() counts it (the folder, and what a recursive removal took). */
  rmdir(user: string, segments: string[], options: { recursive?: boolean }): Promise<Usage>;
  /** Returns the attributes of the moved entry under its new name. */
  /** `replaced`: what the entry it replaced held (nothing for none, or for a rename onto itself). */
  rename(user: string, from: string[], to: string[], options: { noReplace?: boolean }): Promise<{ attr: Attr; replaced: Usage }>;
  /**
   * A second name `to` (a mount's hidden name, see HIDDEN_PREFIX) for the file at `from`, which
   * keeps its name: a mount holding the file open while a rename replaces it keeps reading it
   * there, and the name is replaced in one step. EEXIST when `to` is taken.
   */
  linkHidden(user: string, from: string[], to: string[]): Promise<Attr>;
  setAttr(user: string, segments: string[], attrs: SetAttrRequest, limits: WriteLimits): Promise<Attr>;
}
