/**
 * The HTTP API between the server and its clients (mount daemon, CLI). Everything is under
 * API_PREFIX; `<path>` is a path inside the user's folder, each segment percent-encoded.
 *
 *   GET    /health                      no auth                → Health
 *   POST   /session        LoginRequest                         → LoginResponse (401 on bad password)
 *   DELETE /session                                             → 204 (logout, frees the slot)
 *   GET    /list/<path>                                         → Listing (every entry with attrs)
 *   GET    /stat/<path>                                         → Attr
 *   GET    /statfs                                              → StatFs
 *   GET    /files/<path>     [Range: bytes=a-b]                 → bytes (200 or 206)
 *   GET    /preview/<path>                                      → first PREVIEW_BYTES bytes
 *   GET    /heads/<dir>      ?from=<name>&count=N               → HeadsAnswer: the whole content
 *            of up to N small files of a folder (name order, from `from` on), each with a read
 *            lease: one request instead of one per file for a reader going through a folder
 *   PUT    /files/<path>     body = whole content (streamed)    → Attr; atomic replace.
 *            If-None-Match: *  → create exclusively (EEXIST if present)
 *            X-Rdrive-Mode: octal permission bits for a new file
 *            X-Rdrive-Mtime: ms since epoch to set after the write
 *            X-Rdrive-Owner: "uid:gid" for a new file (a replaced file keeps its owner)
 *   PATCH  /files/<path>     body = extents (see below)         → Attr; atomic: the server
 *            copies the file, applies the extents, truncates to ?size= when given, fsyncs and
 *            renames over. `?offset=N` with a raw body writes one range instead.
 *   DELETE /files/<path>                                        → 204 (unlink; EISDIR for a dir)
 *   POST   /dirs/<path>      MkdirRequest                       → Attr (mkdir; EEXIST)
 *   DELETE /dirs/<path>      [?recursive=1]                     → 204 (rmdir; ENOTEMPTY)
 *   POST   /rename           RenameRequest                      → 200 Attr of the moved entry (atomic replace, or EEXIST with noReplace)
 *   PATCH  /attrs/<path>     SetAttrRequest                     → Attr (truncate, chmod, chown, utimens)
 *   POST   /symlinks/<path>  SymlinkRequest                     → 201 + Attr of the new link (EEXIST)
 *   POST   /nodes/<path>     NodeRequest                        → 201 + Attr of the new FIFO, socket or device node (EEXIST)
 *
 * Symlinks are data: the server stores the target and never resolves it (the client's kernel
 * does). GET/PUT/PATCH /files on a link, or any path running through a link, answer ELOOP.
 * Special files (FIFOs, sockets, device nodes) are data too: a type, permission bits and a
 * device number the mount shows; the server never opens one as such (GET/PUT/PATCH /files on
 * one answer EINVAL), the client's kernel handles a FIFO locally.
 *
 * Errors: JSON ErrorBody with a code from common/errors.ts and its HTTP status.
 */
import { type ErrorCode, RdriveError } from './errors.js';

/** Special files a user may create (mknod, mkfifo): stored as data, never as the real thing. */
export const NODE_TYPES = ['fifo', 'socket', 'char', 'block'] as const;
export type NodeType = (typeof NODE_TYPES)[number];

export type FileType = 'file' | 'dir' | 'symlink' | NodeType;

export interface Attr {
  type: FileType;
  size: number;
  /** Milliseconds since the epoch. */
  mtime: number;
  atime: number;
  ctime: number;
  /** Permission bits with setuid/setgid/sticky (mode & 0o7777); 0o777 for a symlink. */
  mode: number;
  /** A symlink's target, exactly as given at creation; present only when type is 'symlink'
   * (whose size is then the target's length in bytes). */
  target?: string;
  /** The device number of a 'char' or 'block' node (as Linux's st_rdev); absent otherwise. */
  rdev?: number;
  /** A directory's link count as the server's disk reports it (2 + its subdirectories); absent for the rest. */
  nlink?: number;
  /** A sparse file's allocated size in 512-byte blocks, as the server's disk reports it; absent
   * when the file is dense (it then takes its size, rounded up). */
  blocks?: number;
  /** The owner a mount shows (set by chown, or at creation); absent when never set: then the
   * mounting user. Data only: the server's files keep their real owner. */
  uid?: number;
  gid?: number;
  /**
   * A regular file's identity on the server's disk (its inode number, base 36). Every upload and
   * patch makes a new file renamed over the name, so two versions written within one tick of the
   * disk's clock (same size, same ctime and mtime) still differ here. Part of the version (etagOf).
   */
  id?: string;
}

/** Owner fields of a creating request (both or none); see common/ownership.ts. */
export interface OwnerFields {
  uid?: number;
  gid?: number;
}

export interface DirEntry extends Attr {
  name: string;
}

/**
 * GET /heads answers with HEADS_CONTENT_TYPE: this JSON on one line, a newline, then the
 * entries' contents back to back, `length` bytes each, in the order listed. Only plain files of
 * at most HEADS_FILE_MAX bytes are included, whole; each carries a read lease of `leaseMs`
 * (0: the server grants none, the contents may not be used without asking again).
 */
export interface HeadsAnswer {
  leaseMs: number;
  entries: Array<Attr & { name: string; etag: string; length: number }>;
  /** The folder holds more files after the last one considered. */
  more: boolean;
}

export const HEADS_CONTENT_TYPE = 'application/vnd.rdrive.heads';
/** Largest file GET /heads includes (bigger ones are read on their own, as they are opened). */
export const HEADS_FILE_MAX = 64 * 1024;
/** Most files, and most content bytes, one GET /heads answer carries. */
export const HEADS_COUNT_MAX = 256;
export const HEADS_BYTES_MAX = 2 * 1024 * 1024;

export interface Listing {
  entries: DirEntry[];
}

export interface StatFs {
  /** Bytes. With a quota, total is the quota and free what is left of it. */
  total: number;
  free: number;
  used: number;
  /** Bytes per block the sizes are reported in when converted for statfs(2). */
  blockSize: number;
  /**
   * Entries (files, folders, links, nodes): with an entry limit, the limit, the user's count and
   * what is left; without one, the disk's inodes (shared by all users). Absent from servers
   * before 2026-11 and for a disk that keeps no count (btrfs says 0).
   */
  entriesTotal?: number;
  entriesUsed?: number;
  entriesFree?: number;
}

export interface Health {
  status: 'ok';
  version: string;
}

export interface LoginRequest {
  user: string;
  password: string;
}

export interface LoginResponse {
  token: string;
  user: string;
  /** Seconds of inactivity after which the session expires. */
  idleTimeout: number;
}

export interface MkdirRequest extends OwnerFields {
  mode?: number;
  /** Create missing parents, and succeed when the directory exists (mkdir -p). */
  parents?: boolean;
}

export interface RenameRequest {
  /** Plain paths inside the user's folder, e.g. "a/b.txt". */
  from: string;
  to: string;
  noReplace?: boolean;
  /**
   * Give the file at `from` the second name `to` and keep `from` (a hard link). Only for a
   * mount's hidden names (`.fuse_hidden…`, see HIDDEN_PREFIX): a file still open there while a
   * rename replaces its name, which then happens in one step on the server.
   */
  keepSource?: boolean;
}

/** The names libfuse gives a file removed or replaced while still open (see RenameRequest.keepSource). */
export const HIDDEN_PREFIX = '.fuse_hidden';

export interface SymlinkRequest extends OwnerFields {
  /** Any non-empty string of at most SYMLINK_MAX bytes without NUL; never resolved by the server. */
  target: string;
}

export interface NodeRequest extends OwnerFields {
  type: NodeType;
  /** Permission bits (mode & 0o7777); 0o644 when absent. */
  mode?: number;
  /** Device number of a 'char' or 'block' node (ignored for the others). */
  rdev?: number;
}

/** Longest symlink target in bytes (PATH_MAX - 1, as Linux). */
export const SYMLINK_MAX = 4095;

export interface SetAttrRequest extends OwnerFields {
  size?: number;
  mode?: number;
  /** Milliseconds since the epoch. */
  mtime?: number;
  atime?: number;
}

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

/**
 * PATCH body with Content-Type EXTENTS_CONTENT_TYPE: a sequence of records, each a 16-byte
 * header (offset as a big-endian u64, length as a big-endian u64) followed by `length` bytes.
 */
export const EXTENTS_CONTENT_TYPE = 'application/vnd.rdrive.extents';
export const EXTENT_HEADER_BYTES = 16;

export function encodeExtentHeader(offset: number, length: number): Buffer {
  const header = Buffer.alloc(EXTENT_HEADER_BYTES);
  header.writeBigUInt64BE(BigInt(offset), 0);
  header.writeBigUInt64BE(BigInt(length), 8);
  return header;
}

export function decodeExtentHeader(header: Buffer): { offset: number; length: number } {
  return { offset: Number(header.readBigUInt64BE(0)), length: Number(header.readBigUInt64BE(8)) };
}

/**
 * A version of a file's content, sent as its ETag: every write (an atomic replace, a truncate)
 * and every chmod changes the ctime. A client that reads ranges of, or patches, the version it
 * opened sends it back as If-Match: a file replaced meanwhile answers CHANGED (412) instead of
 * mixing two versions. The disk stamps times from a coarse clock (a tick, 4 ms here): two
 * versions of one size written within a tick had the same ctime and mtime, and a mount patched
 * its change into the other one. So the file's identity (`id`, a new file per version) is part
 * of it.
 */
export function etagOf(attr: Pick<Attr, 'size' | 'ctime' | 'mtime' | 'id'>): string {
  const id = attr.id === undefined ? '' : `-${attr.id}`;
  return `"${attr.size.toString(36)}-${attr.ctime.toString(36)}-${attr.mtime.toString(36)}${id}"`;
}

/**
 * Whether `etag` (a version a client read, see etagOf) still names the content `attr` has: the
 * same file (`id`: every upload and patch makes a new one), size and mtime (an in-place truncate
 * moves it). Only the ctime may differ: a chmod, chown or rename moves it and nothing else, and a
 * reader or a patch of the version opened before must go on (as on a local disk), not fail with
 * CHANGED (EIO) halfway through a copy. An etag without an id must match exactly.
 */
export function sameContent(etag: string, attr: Pick<Attr, 'size' | 'ctime' | 'mtime' | 'id'>): boolean {
  if (etag === etagOf(attr)) return true;
  const parts = /^"([0-9a-z.]+)-[0-9a-z.]+-([0-9a-z.]+)-([0-9a-z]+)"$/.exec(etag);
  return parts !== null && attr.id !== undefined && parts[1] === attr.size.toString(36) && parts[2] === attr.mtime.toString(36) && parts[3] === attr.id;
}

export const HEADER_MODE = 'x-rdrive-mode';
/** On PUT: "uid:gid", the owner a new file is stored with (else an existing file's is kept). */
export const HEADER_OWNER = 'x-rdrive-owner';
export const HEADER_MTIME = 'x-rdrive-mtime';
/** Sent with a file's content, so an open() needs no separate stat (ms since the epoch). */
export const HEADER_ATIME = 'x-rdrive-atime';
export const HEADER_CTIME = 'x-rdrive-ctime';
/** The whole file's size, with its content or with a 304 (Not Modified) answer. */
export const HEADER_SIZE = 'x-rdrive-size';
/** With a file's content: its `id` (see Attr), so an open() knows the version it read. */
export const HEADER_ID = 'x-rdrive-id';
/**
 * Read leases: a GET of a file's head sent with `x-rdrive-lease: 1` may be answered with
 * `x-rdrive-lease-ms: N`: for N ms from when the request was sent, the client may reuse what it
 * got without asking again, because a change by another client is not answered before then.
 */
export const HEADER_LEASE_REQUEST = 'x-rdrive-lease';
export const HEADER_LEASE_MS = 'x-rdrive-lease-ms';
/**
 * On the answer to a change of a folder's entries (an upload, a removal, mkdir, a link or node,
 * a rename): "mtime,ctime" (ms) of the folder holding the changed name, read after the change.
 * A client's cached attributes of that folder then show the server's times, not a guess of its
 * own clock (a `stat .` right after a create and one a second later must agree). On a rename
 * the target's folder; HEADER_FROM_FOLDER_TIMES the source's.
 */
export const HEADER_FOLDER_TIMES = 'x-rdrive-folder-times';
export const HEADER_FROM_FOLDER_TIMES = 'x-rdrive-from-folder-times';

export interface FolderTimes {
  mtime: number;
  ctime: number;
}

export function formatFolderTimes(times: FolderTimes): string {
  return `${times.mtime},${times.ctime}`;
}

/** undefined for anything but two finite numbers (an absent or foreign header). */
export function parseFolderTimes(value: unknown): FolderTimes | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)$/.exec(value.trim());
  if (match === null) return undefined;
  return { mtime: Number(match[1]), ctime: Number(match[2]) };
}
/** On PUT/PATCH: "1" makes the write durable (fsynced) before the answer, not within ~1 s. */
export const HEADER_SYNC = 'x-rdrive-sync';

/** Latest time a file may carry: ext4's last second (2446-05-10), where most disks stop. */
export const MAX_TIME_MS = 15_032_385_535_999;
/** Earliest: ext4's first second (1901-12-13, -2^31 s); tar archives carry such dates. */
export const MIN_TIME_MS = -2_147_483_648_000;

/**
 * A mode from a request: a whole number within st_mode's 16 bits (a client may send the type
 * bits along; they are dropped), as permission bits. -1 or 1e20 would wrap to 07777 or 0.
 */
export function checkMode(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0o177777) {
    throw new RdriveError('EINVAL', 'mode must be a whole number of permission bits, 0 to 07777 (octal)');
  }
  return value & 0o7777;
}
