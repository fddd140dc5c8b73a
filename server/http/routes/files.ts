import { Router, type Request, type Response } from 'express';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EXTENTS_CONTENT_TYPE, type Attr, etagOf, sameContent, HEADER_ATIME, HEADER_CTIME, HEADER_ID, HEADER_MODE, HEADER_MTIME, HEADER_OWNER, HEADER_SIZE, HEADER_SYNC } from '../../../common/api.js';
import { PREVIEW_BYTES } from '../../../common/config.js';
import { RdriveError } from '../../../common/errors.js';
import { OWNER_ID_MAX, formatOwner, parseOwner, type Owner } from '../../../common/ownership.js';
import { checkTime, clientWatch, entryPath, limitedWrite, refuseIfClientGone, pathAfter, queryNumber, sendFolderTimes, userOf, type ServerContext } from '../context.js';
import { negated } from '../../state/usage-tracker.js';

/** Reading, writing and removing files: GET/PUT/PATCH/DELETE /files/<path>, GET /preview/<path>. */
export function fileRoutes(ctx: ServerContext): Router {
  const router = Router();
  router.get(/^\/files(?:\/.*)?$/, (req, res) => readFile(ctx, req, res));
  router.get(/^\/preview(?:\/.*)?$/, async (req, res) => {
    const { content } = await ctx.backend.openRead(userOf(req), await entryPath(ctx, req, 'preview'), (size) => (size === 0 ? undefined : { start: 0, end: Math.min(size, PREVIEW_BYTES) - 1 }));
    res.setHeader('content-type', 'application/octet-stream');
    await send(res, content);
  });
  router.put(/^\/files(?:\/.*)?$/, async (req, res) => {
    const user = userOf(req);
    const segments = await entryPath(ctx, req, 'files');
    // The old size only matters for a quota.
    const oldSize = ctx.config.quota > 0 ? await ctx.backend.stat(user, segments).then((a) => a.size, () => 0) : 0;
    const options = {
      exclusive: matchesAny(req.headers['if-none-match']),
      durable: wantsSync(req),
      ...optionalMode(req.headers[HEADER_MODE]),
      ...optionalMtime(req.headers[HEADER_MTIME]),
      ...optionalOwner(req.headers[HEADER_OWNER]),
      isAborted: clientWatch(res),
      ...sparseOrLength(req),
    };
    const attr = await limitedWrite(ctx, user, { oldSize, announced: options.sparseSize ?? announcedLength(req), segments }, (limits) => ctx.backend.writeAtomic(user, segments, req, { ...limits, ...options }));
    await sendFolderTimes(ctx, res, user, segments);
    res.status(200).json(attr);
  });
  router.patch(/^\/files(?:\/.*)?$/, async (req, res) => {
    const user = userOf(req);
    const segments = await entryPath(ctx, req, 'files');
    const oldSize = (await ctx.backend.stat(user, segments)).size;
    const extents = (req.headers['content-type'] ?? '').startsWith(EXTENTS_CONTENT_TYPE);
    const size = queryNumber(req, 'size');
    const offset = queryNumber(req, 'offset');
    if (!extents && offset === undefined) throw new RdriveError('EINVAL', `PATCH needs Content-Type ${EXTENTS_CONTENT_TYPE} or ?offset=N`);
    const options = {
      extents,
      durable: wantsSync(req),
      ...optionalIfMatch(req),
      ...(size === undefined ? {} : { size }),
      ...(offset === undefined ? {} : { offset }),
      ...optionalMtime(req.headers[HEADER_MTIME]),
      isAborted: clientWatch(res),
    };
    const attr = await limitedWrite(ctx, user, { oldSize, announced: undefined, segments }, (limits) => ctx.backend.patchAtomic(user, segments, req, { ...limits, ...options }));
    // The patched copy took the name: the folder changed too.
    await sendFolderTimes(ctx, res, user, segments);
    res.status(200).json(attr);
  });
  // POST /sync waits for the group commit that makes every change acknowledged so far durable
  // (a directory's fsync()); POST /sync/<path> makes one file durable (its fsync()).
  router.post(/^\/sync(?:\/.*)?$/, async (req, res) => {
    await ctx.backend.syncFile(userOf(req), pathAfter(req, 'sync'));
    res.status(204).end();
  });
  router.delete(/^\/files(?:\/.*)?$/, async (req, res) => {
    const user = userOf(req);
    const segments = await entryPath(ctx, req, 'files');
    await refuseIfClientGone(res);
    const freed = await ctx.backend.unlink(user, segments);
    await ctx.usage.add(user, negated(freed));
    await sendFolderTimes(ctx, res, user, segments);
    res.status(204).end();
  });
  return router;
}

async function readFile(ctx: ServerContext, req: Request, res: Response): Promise<void> {
  const user = userOf(req);
  const segments = await entryPath(ctx, req, 'files');
  // A client holding this version already (its ETag) gets the attributes only: an open() of a
  // cached, unchanged file then moves no content.
  const known = req.headers['if-none-match'];
  if (known !== undefined && known !== '*') {
    const current = await ctx.backend.stat(user, segments);
    if (current.type === 'file' && known === etagOf(current)) {
      setAttrHeaders(res, current);
      res.status(304).end();
      return;
    }
  }
  // An empty file has no satisfiable range; RFC 9110 lets a server answer the whole (empty) file.
  const { content, attr, range } = await ctx.backend.openRead(user, segments, (size) => (size === 0 ? undefined : parseRange(req.headers.range, size)));
  const expected = optionalIfMatch(req).ifMatch;
  if (expected !== undefined && !sameContent(expected, attr)) {
    if (!Buffer.isBuffer(content)) content.destroy();
    throw new RdriveError('CHANGED');
  }
  const { size } = attr;
  res.setHeader('accept-ranges', 'bytes');
  setAttrHeaders(res, attr);
  res.setHeader('content-type', 'application/octet-stream');
  if (range === undefined) {
    res.setHeader('content-length', String(size));
  } else {
    res.status(206);
    res.setHeader('content-range', `bytes ${range.start}-${range.end}/${size}`);
    res.setHeader('content-length', String(range.end - range.start + 1));
  }
  // Node drops a HEAD's body, but only after the server has read it all, at disk speed, paced by
  // no reader: the headers are the whole answer.
  if (req.method === 'HEAD') {
    if (!Buffer.isBuffer(content)) content.destroy();
    res.end();
    return;
  }
  await send(res, content);
}

/** The attributes ride along, so a client's open() needs no separate stat. */
function setAttrHeaders(res: Response, attr: Attr): void {
  res.setHeader('etag', etagOf(attr));
  res.setHeader(HEADER_MTIME, String(attr.mtime));
  res.setHeader(HEADER_ATIME, String(attr.atime));
  res.setHeader(HEADER_CTIME, String(attr.ctime));
  res.setHeader(HEADER_MODE, attr.mode.toString(8));
  res.setHeader(HEADER_SIZE, String(attr.size));
  if (attr.id !== undefined) res.setHeader(HEADER_ID, attr.id);
  if (attr.uid !== undefined && attr.gid !== undefined) res.setHeader(HEADER_OWNER, formatOwner({ uid: attr.uid, gid: attr.gid }));
}


async function send(res: Response, content: Readable | Buffer): Promise<void> {
  if (Buffer.isBuffer(content)) {
    res.end(content);
    return;
  }
  try {
    await pipeline(content, res);
  } catch (err) {
    // The client went away mid-answer (a cancelled read, a cut stalled reader): not a server
    // fault; the request's log line says it was aborted. A failed file read is still an error.
    if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' && !res.writableFinished) return;
    throw err;
  }
}

/**
 * "bytes=a-b" | "bytes=a-" | "bytes=-n" → inclusive range, clamped to the size. Not Express's
 * req.range() (range-parser): it answers 416 to a suffix longer than the file, where RFC 9110
 * §14.1.2 serves the whole file, and one range is all this server sends.
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null || (match[1] === '' && match[2] === '')) throw new RdriveError('EINVAL', 'Malformed Range header');
  let start: number;
  let end: number;
  if (match[1] === '') {
    start = Math.max(0, size - Number(match[2]));
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start >= size || start > end) throw new RdriveError('RANGE_NOT_SATISFIABLE');
  return { start, end };
}

/** The body's size when the client announced it (Content-Length, not chunked). */
function announcedLength(req: Request): number | undefined {
  const header = req.headers['content-length'];
  if (header === undefined || req.headers['transfer-encoding'] !== undefined) return undefined;
  const n = Number(header);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function optionalLength(length: number | undefined): { length?: number } {
  return length === undefined ? {} : { length };
}

/** If-Match: the version a range read or a patch is based on (see etagOf). */
function optionalIfMatch(req: Request): { ifMatch?: string } {
  const value = req.headers['if-match'];
  return typeof value === 'string' && value !== '*' ? { ifMatch: value } : {};
}

function wantsSync(req: Request): boolean {
  return req.headers[HEADER_SYNC] === '1';
}

/**
 * A PUT of extent records (Content-Type of PATCH's) with ?size=N stores a sparse file: only the
 * extents are sent, the rest is holes. Any other PUT is the whole content.
 */
function sparseOrLength(req: Request): { sparseSize?: number; length?: number } {
  if (!(req.headers['content-type'] ?? '').startsWith(EXTENTS_CONTENT_TYPE)) return optionalLength(announcedLength(req));
  const size = queryNumber(req, 'size');
  if (size === undefined) throw new RdriveError('EINVAL', `A PUT of ${EXTENTS_CONTENT_TYPE} needs ?size=N, the file's size`);
  return { sparseSize: size };
}

function optionalMode(header: string | string[] | undefined): { mode?: number } {
  if (typeof header !== 'string') return {};
  const mode = Number.parseInt(header, 8);
  if (!/^[0-7]{1,4}$/.test(header) || Number.isNaN(mode)) throw new RdriveError('EINVAL', `${HEADER_MODE} must be octal permission bits`);
  return { mode: mode & 0o7777 };
}

function optionalOwner(header: string | string[] | undefined): { owner?: Owner } {
  if (typeof header !== 'string') return {};
  const owner = parseOwner(header.trim());
  if (owner === undefined) throw new RdriveError('EINVAL', `${HEADER_OWNER} must be "uid:gid" (whole numbers up to ${OWNER_ID_MAX})`);
  return { owner };
}

function optionalMtime(header: string | string[] | undefined): { mtime?: number } {
  if (typeof header !== 'string') return {};
  // A plain decimal only: Number() would also take '1e3', '0x10' and ' 5' (JSON bodies do not).
  return { mtime: checkTime(/^-?[0-9]+(\.[0-9]+)?$/.test(header) ? Number(header) : Number.NaN, HEADER_MTIME) };
}

/**
 * If-None-Match holds `*` (create only if nothing is there): also when it came twice (Node joins
 * repeated headers with ', ', so `*, *`) or inside a list, else the create silently replaced.
 */
function matchesAny(ifNoneMatch: string | undefined): boolean {
  return ifNoneMatch !== undefined && ifNoneMatch.split(',').some((tag) => tag.trim() === '*');
}
