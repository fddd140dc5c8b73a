/**
 * The edge where a server's answers are checked before anything of them reaches the caches or
 * the kernel. What answers at the server's URL may not be an rdrive server (a proxy's page,
 * another service, a man in the middle on plain http, a server of another version): a body of
 * the wrong shape, names no filesystem can hold ('/', NUL, '..'), sizes and times no file has,
 * bytes of another range than asked, or a body that never ends. Each becomes a clean EIO (or
 * ETIMEDOUT) naming what was wrong, or, for one bad entry of a listing, that entry left out.
 * Pure but for reading a body stream.
 */
import type { Readable } from 'node:stream';
import {
  HEADS_BYTES_MAX,
  HEADS_COUNT_MAX,
  HEADS_FILE_MAX,
  MAX_TIME_MS,
  MIN_TIME_MS,
  NODE_TYPES,
  SYMLINK_MAX,
  type Attr,
  type DirEntry,
  type FileType,
  type Health,
  type LoginResponse,
  type StatFs,
} from '../../common/api.js';
import { RdriveError } from '../../common/errors.js';
import { NAME_MAX } from '../../common/paths.js';

/** Most bytes of a JSON answer that is not a listing (an Attr, a login, statfs): a few hundred in truth. */
export const SMALL_JSON_MAX = 1024 * 1024;
/**
 * Most bytes of a listing: about 170 bytes an entry, so about 1.9 million entries, above the
 * server's default entry limit per user (1,000,000) so that any folder it allows lists. Parsed,
 * a listing takes a few times its size in memory (~1 GB at this size, for a moment); a bigger
 * one would put the daemon at risk, and V8's longest string is 512 MiB.
 */
export const LISTING_MAX = 320 * 1024 * 1024;
/** Most bytes of an error answer read for its code and message (the rest is not needed). */
export const ERROR_BODY_MAX = 64 * 1024;
/**
 * After its head, a body may take the request timeout plus a second per this many bytes: a
 * server that sends a byte now and then (never pausing as long as the timeout) fails too. Low
 * enough (128 kbit/s) that a slow but working link is never cut: a 4 MiB read-ahead then has
 * the timeout plus 256 s.
 */
const MIN_BODY_RATE = 16 * 1024;
/** Longest read lease honoured (a made-up one of days would keep a stale head for as long). */
const MAX_LEASE_MS = 60_000;

const FILE_TYPES: ReadonlySet<string> = new Set<FileType>(['file', 'dir', 'symlink', ...NODE_TYPES]);
/** An Attr's `id`: the server's inode number in base 36 (it goes into the version, sent back in If-Match). */
const ID_PATTERN = /^[0-9a-z]{1,32}$/;
const UINT32_MAX = 0xffffffff;

/** An answer that is not what the API says: EIO, with what was asked and what was wrong. */
export function malformed(what: string, why: string): RdriveError {
  return new RdriveError('EIO', `The server's answer to ${what} is malformed (${why}): is the URL an rdrive server, and nothing in between altering its answers?`);
}

/**
 * A body read whole, at most `limit` bytes (more: EIO, and the connection dropped), within
 * `timeoutMs` plus a second per MIN_BODY_RATE bytes received (else ETIMEDOUT).
 */
export function readBody(body: Readable, limit: number, timeoutMs: number, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const started = Date.now();
    const due = (): number => started + timeoutMs + (received / MIN_BODY_RATE) * 1000;
    const finish = (err: Error | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      body.off('data', onData);
      if (err === undefined) {
        resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
        return;
      }
      body.destroy();
      reject(err);
    };
    const check = (): void => {
      const left = due() - Date.now();
      if (left > 0) timer = setTimeout(check, left);
      else finish(new RdriveError('ETIMEDOUT', `The server's answer to ${what} did not arrive in time (${received} bytes in ${Math.round((Date.now() - started) / 1000)} s)`));
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limit) finish(malformed(what, `larger than ${limit} bytes`));
      else chunks.push(chunk);
    };
    let timer = setTimeout(check, timeoutMs);
    body.on('data', onData);
    body.once('end', () => finish(undefined));
    body.once('error', (err) => finish(err));
    body.once('close', () => finish(new RdriveError('EIO', `The server's answer to ${what} was cut short`)));
  });
}

/** The body as JSON (a syntax error is a malformed answer, not a crash or a SyntaxError's errno). */
export function parseJson(body: Buffer, what: string): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw malformed(what, 'not JSON');
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function wholeIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * A time within what the mount shows (ext4's range, as it clamps a utimens): a server on a disk
 * with a wider range (btrfs, XFS) may hold a file dated beyond it, which is no reason to hide it.
 */
function shownTime(ms: number): number {
  return Math.min(MAX_TIME_MS, Math.max(MIN_TIME_MS, ms));
}

/** Why `value` is no Attr, or undefined when it is one. */
function attrProblem(value: Record<string, unknown>): string | undefined {
  const { type, size, mtime, atime, ctime, mode, target, rdev, nlink, blocks, uid, gid, id } = value;
  if (typeof type !== 'string' || !FILE_TYPES.has(type)) return 'unknown type';
  if (!wholeIn(size, 0, Number.MAX_SAFE_INTEGER)) return 'size';
  if (!isTime(mtime) || !isTime(atime) || !isTime(ctime)) return 'time';
  if (!wholeIn(mode, 0, 0o7777)) return 'mode';
  if (type === 'symlink' && (typeof target !== 'string' || target === '' || target.includes('\0') || Buffer.byteLength(target) > SYMLINK_MAX)) return 'link target';
  if (rdev !== undefined && !wholeIn(rdev, 0, UINT32_MAX)) return 'device number';
  if (nlink !== undefined && !wholeIn(nlink, 1, UINT32_MAX)) return 'link count';
  if (blocks !== undefined && !wholeIn(blocks, 0, Number.MAX_SAFE_INTEGER)) return 'blocks';
  // -1 (0xffffffff) means "no change" to chown: no owner is that.
  if (uid !== undefined && !wholeIn(uid, 0, UINT32_MAX - 1)) return 'owner';
  if (gid !== undefined && !wholeIn(gid, 0, UINT32_MAX - 1)) return 'group';
  if (id !== undefined && (typeof id !== 'string' || !ID_PATTERN.test(id))) return 'id';
  return undefined;
}

/** The Attr fields of a checked value, and nothing else from it. */
function pickAttr(value: Record<string, unknown>): Attr {
  const attr: Attr = {
    type: value.type as FileType,
    size: value.size as number,
    mtime: shownTime(value.mtime as number),
    atime: shownTime(value.atime as number),
    ctime: shownTime(value.ctime as number),
    mode: value.mode as number,
  };
  if (attr.type === 'symlink') attr.target = value.target as string;
  for (const key of ['rdev', 'nlink', 'blocks', 'uid', 'gid'] as const) if (value[key] !== undefined) attr[key] = value[key] as number;
  if (value.id !== undefined) attr.id = value.id as string;
  return attr;
}

/** An Attr answer (stat, and every change that answers with the entry's attributes). */
export function checkAttr(value: unknown, what: string): Attr {
  if (!isRecord(value)) throw malformed(what, 'not an object');
  const problem = attrProblem(value);
  if (problem !== undefined) throw malformed(what, `bad ${problem}`);
  return pickAttr(value);
}

/** Why `name` cannot be a name in a folder (the kernel takes no '/', NUL, '.', '..', '' or more than NAME_MAX bytes). */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..') return 'no name';
  if (name.includes('/') || name.includes('\0')) return 'a "/" or NUL in a name';
  if (Buffer.byteLength(name) > NAME_MAX) return `a name longer than ${NAME_MAX} bytes`;
  return undefined;
}

/**
 * A listing: its shape must be right (else EIO); an entry that cannot be shown (a bad name, bad
 * attributes, a name listed twice) is left out and counted in `dropped`, the rest is listed.
 */
export function checkListing(value: unknown, what: string): { entries: DirEntry[]; dropped: Map<string, number> } {
  if (!isRecord(value) || !Array.isArray(value.entries)) throw malformed(what, 'no list of entries');
  const entries: DirEntry[] = [];
  const dropped = new Map<string, number>();
  const drop = (why: string): void => {
    dropped.set(why, (dropped.get(why) ?? 0) + 1);
  };
  const names = new Set<string>();
  for (const entry of value.entries as unknown[]) {
    if (!isRecord(entry)) {
      drop('not an object');
      continue;
    }
    const problem = nameProblem(entry.name);
    if (problem !== undefined) {
      drop(problem);
      continue;
    }
    const name = entry.name as string;
    const bad = attrProblem(entry);
    if (bad !== undefined) {
      drop(`bad ${bad}`);
      continue;
    }
    if (names.has(name)) {
      drop('a name listed twice');
      continue;
    }
    names.add(name);
    entries.push({ name, ...pickAttr(entry) });
  }
  return { entries, dropped };
}

export function checkStatFs(value: unknown, what: string): StatFs {
  if (!isRecord(value)) throw malformed(what, 'not an object');
  const { total, free, used, blockSize } = value;
  for (const n of [total, free, used]) if (!wholeIn(n, 0, Number.MAX_SAFE_INTEGER)) throw malformed(what, 'space figures');
  if (!wholeIn(blockSize, 0, 1 << 30)) throw malformed(what, 'block size');
  const fs: StatFs = { total: total as number, free: free as number, used: used as number, blockSize: blockSize as number };
  // Entry figures (see StatFs): optional, as an older server sends none; wrong ones are refused.
  for (const key of ['entriesTotal', 'entriesUsed', 'entriesFree'] as const) {
    const n = value[key];
    if (n === undefined) continue;
    if (!wholeIn(n, 0, Number.MAX_SAFE_INTEGER)) throw malformed(what, 'entry figures');
    fs[key] = n;
  }
  return fs;
}

/** A version (ETag) goes back in If-Match / If-None-Match headers: visible ASCII, bounded. */
export function isVersion(value: unknown): value is string {
  return typeof value === 'string' && /^[\x21-\x7e]{1,256}$/.test(value);
}

/** A session token goes into every request's Authorization header: visible ASCII only. */
const TOKEN_PATTERN = /^[\x21-\x7e]{1,1024}$/;

export function checkLogin(value: unknown, what: string): LoginResponse {
  if (!isRecord(value)) throw malformed(what, 'not an object');
  const { token, user, idleTimeout } = value;
  if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) throw malformed(what, 'session token');
  if (typeof user !== 'string') throw malformed(what, 'user');
  return { token, user, idleTimeout: typeof idleTimeout === 'number' && Number.isFinite(idleTimeout) ? idleTimeout : 0 };
}

export function checkHealth(value: unknown, what: string): Health {
  if (!isRecord(value) || value.status !== 'ok') throw malformed(what, 'not a health report');
  return { status: 'ok', version: typeof value.version === 'string' ? value.version : '' };
}

/** A lease length as the client may use it: none for anything but a plain number, at most MAX_LEASE_MS. */
export function leaseMs(value: unknown): number {
  const ms = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : typeof value === 'number' ? value : 0;
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_LEASE_MS) : 0;
}

/**
 * GET /heads: the JSON line, then the contents back to back. Only names of the folder (no
 * path), in name order from `from` on, at most `count`, each whole: `length` equal to its size
 * and within the limits, and the contents exactly filling the rest of the body.
 */
export function checkHeads(body: Buffer, from: string, count: number, what: string): { leaseMs: number; more: boolean; files: Array<{ name: string; attr: Attr; etag: string; data: Buffer }> } {
  const cut = body.indexOf(0x0a);
  if (cut < 0) throw malformed(what, 'no header line');
  const answer = parseJson(body.subarray(0, cut), what);
  if (!isRecord(answer) || !Array.isArray(answer.entries)) throw malformed(what, 'no list of entries');
  if (answer.entries.length > Math.min(count, HEADS_COUNT_MAX)) throw malformed(what, 'more files than asked');
  let offset = cut + 1;
  let last = '';
  const files = (answer.entries as unknown[]).map((entry) => {
    if (!isRecord(entry)) throw malformed(what, 'an entry that is not an object');
    const problem = nameProblem(entry.name) ?? attrProblem(entry);
    if (problem !== undefined) throw malformed(what, problem);
    const name = entry.name as string;
    const attr = pickAttr(entry);
    const { etag, length } = entry;
    if (name < from || name <= last) throw malformed(what, 'names out of order or not asked');
    last = name;
    if (attr.type !== 'file' || length !== attr.size || !wholeIn(length, 0, HEADS_FILE_MAX)) throw malformed(what, `content of ${name} is not the whole file`);
    if (!isVersion(etag)) throw malformed(what, 'version');
    if (offset + length > body.length) throw malformed(what, 'short content');
    // A copy: a view would keep the whole answer alive as long as one file of it is cached.
    const data = Buffer.from(body.subarray(offset, offset + length));
    offset += length;
    return { name, etag, attr, data };
  });
  if (offset !== body.length) throw malformed(what, 'content left over');
  if (offset - cut - 1 > HEADS_BYTES_MAX) throw malformed(what, 'more content than allowed');
  return { leaseMs: leaseMs(answer.leaseMs), more: answer.more === true, files };
}

/**
 * The bytes of a ranged GET (Range: bytes=offset-(offset+length-1)) as the answer gives them,
 * checked: a 206 whose Content-Range starts at `offset` and spans exactly the body, at most
 * `length` bytes; or a 200 (the whole file) only when asked from 0 and it is no longer than
 * asked. Anything else would put another part's bytes (or a page of some proxy) at this offset.
 */
export function checkRange(status: number, contentRange: unknown, offset: number, length: number, body: Buffer, what: string): Buffer {
  if (status === 200) {
    if (offset === 0 && body.length <= length) return body;
    throw malformed(what, 'the whole file instead of the range asked');
  }
  if (status !== 206) throw malformed(what, `HTTP ${status} to a read`);
  const match = typeof contentRange === 'string' ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange.trim()) : null;
  if (match === null) throw malformed(what, 'no Content-Range');
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (start !== offset || end - start + 1 !== body.length || body.length > length) throw malformed(what, `bytes ${start}-${end} (${body.length} bytes) for ${offset}-${offset + length - 1}`);
  return body;
}

/** An answer in an encoding the client did not ask for (no decoding is done): its bytes are not the content. */
export function checkIdentity(encoding: unknown, what: string): void {
  if (encoding !== undefined && encoding !== 'identity') throw malformed(what, `Content-Encoding ${String(encoding)}`);
}
