import express, { type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import { type Attr, formatFolderTimes, HEADER_FOLDER_TIMES, MAX_TIME_MS, MIN_TIME_MS } from '../../common/api.js';
import { RdriveError } from '../../common/errors.js';
import { parseRemotePath } from '../../common/paths.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { PasswordCheckQueue } from '../auth/check-queue.js';
import type { ServerConfig } from '../config.js';
import type { MkdirOptions, StorageBackend, WriteLimits } from '../storage/backend.js';
import { QuotaReservation } from '../state/quota-reservation.js';
import type { KeyedCounter } from '../state/keyed-counter.js';
import type { ReadLeases } from '../state/read-leases.js';
import type { StateStores } from '../state/stores.js';
import type { Usage } from '../state/usage-tracker.js';

/** Everything the routes need, built once by createServer(). */
export interface ServerContext {
  config: ServerConfig;
  log: Logger;
  backend: StorageBackend;
  auth: Authenticator;
  /** Runs logins' password checks a few at a time, fairly across addresses. */
  passwordChecks: PasswordCheckQueue;
  sessions: StateStores['sessions'];
  inFlight: StateStores['inFlight'];
  usage: StateStores['usage'];
  loginBackoff: StateStores['loginBackoff'];
  /** A shared store for an express-rate-limit limiter; undefined: the limiter's own memory. */
  rateLimitStore?: StateStores['rateLimitStore'];
  /** Read leases (state/read-leases.ts); undefined when off or when servers share state. */
  leases?: ReadLeases;
  /** Writes in flight per user and path (see limitedWrite). */
  writing: KeyedCounter;
}

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by the auth middleware. */
    rdriveUser?: string;
    rdriveToken?: string;
  }
}

export function userOf(req: Request): string {
  if (req.rdriveUser === undefined) throw new RdriveError('UNAUTHORIZED');
  return req.rdriveUser;
}

/**
 * Segments of the path after `/<resource>/` in the RAW request URL: express's decoded params
 * would hide encoded traversal from the path rules.
 */
export function pathAfter(req: Request, resource: string): string[] {
  const raw = req.url.split('?')[0] ?? '';
  const prefix = `/${resource}`;
  if (!raw.startsWith(prefix)) throw new RdriveError('EINVAL', 'Bad request path');
  return parseRemotePath(raw.slice(prefix.length));
}

/**
 * pathAfter() for a route that names one entry (a file, a link, its attributes). A path ending
 * in "/" names a directory, as in POSIX: a file or a link there is ENOTDIR / ELOOP, not itself.
 */
export async function entryPath(ctx: ServerContext, req: Request, resource: string): Promise<string[]> {
  const segments = pathAfter(req, resource);
  if ((req.url.split('?')[0] ?? '').endsWith('/')) await refuseUnlessDir(ctx, userOf(req), segments);
  return segments;
}

/** The rule of a path written with a trailing "/": what it names must be a directory. */
export async function refuseUnlessDir(ctx: ServerContext, user: string, segments: string[]): Promise<void> {
  if (segments.length === 0) return;
  const attr = await ctx.backend.stat(user, segments);
  if (attr.type === 'symlink') throw new RdriveError('ELOOP', 'A path ending in "/" runs through the link; the server never follows links');
  if (attr.type !== 'dir') throw new RdriveError('ENOTDIR', 'A path ending in "/" names a directory');
}

/**
 * Tells the client the times of the folder holding `segments` after a change there (see
 * HEADER_FOLDER_TIMES). Read once the change is made and before the answer; a folder gone
 * meanwhile leaves the header out, and the client then asks again. Returns the value sent.
 */
export async function sendFolderTimes(ctx: ServerContext, res: Response, user: string, segments: string[], header = HEADER_FOLDER_TIMES): Promise<string | undefined> {
  const folder = await ctx.backend.folderTimes(user, segments).catch(() => undefined);
  if (folder === undefined) return undefined;
  const value = formatFolderTimes(folder);
  res.setHeader(header, value);
  return value;
}

/** A time in ms since the epoch from a request; EINVAL outside [MIN_TIME_MS, MAX_TIME_MS] (never stored clamped). */
export function checkTime(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < MIN_TIME_MS || value > MAX_TIME_MS) {
    throw new RdriveError('EINVAL', `${name} must be milliseconds since 1970, from ${MIN_TIME_MS} (year 1901) up to ${MAX_TIME_MS} (year 2446)`);
  }
  return value;
}

/**
 * A JSON body parser whose failures are ours: EINVAL for bad JSON, BODY_TOO_LARGE (413) past
 * `limit`.
 */
export function jsonBody(limit: string): RequestHandler {
  const parse = express.json({ limit });
  return (req, res, next) => {
    // A few KiB of JSON arrives at once; one trickled a byte at a time (before any login, too)
    // would hold its connection for as long as the sender liked: cut it after JSON_BODY_MS.
    if (!req.complete) {
      const cut = setTimeout(() => req.socket.destroy(), JSON_BODY_MS).unref();
      const stop = (): void => clearTimeout(cut);
      req.once('end', stop);
      req.once('close', stop);
    }
    parse(req, res, (err?: unknown) => {
      if (err !== undefined) next(bodyParserError(err, limit) ?? err);
      // Every JSON request takes an object: an array (or a bare value) is a mistake, not a no-op.
      else if (req.body !== undefined && (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body))) next(new RdriveError('EINVAL', 'The request body must be a JSON object'));
      else next();
    });
  };
}

/** How long a JSON body (at most 64 KiB) may take to arrive. */
const JSON_BODY_MS = 15_000;

/**
 * body-parser's failures are the client's (a 4xx `status` on the error): bad JSON, an encoding
 * it cannot inflate, a body cut short, one over the limit. Ours to name, never an internal error.
 */
export function bodyParserError(err: unknown, limit = 'its limit'): RdriveError | undefined {
  const { type, status } = (err ?? {}) as { type?: unknown; status?: unknown };
  if (type === 'entity.too.large') return new RdriveError('BODY_TOO_LARGE', `Request body too large: JSON bodies are limited to ${limit}`);
  if (type === 'entity.parse.failed') return new RdriveError('EINVAL', 'Request body is not valid JSON');
  if (type === 'request.aborted') return new RdriveError('EINVAL', 'The request body ended before its announced length');
  if (typeof status === 'number' && status >= 400 && status < 500) return new RdriveError('EINVAL', `Request body refused: ${(err as Error).message}`);
  return undefined;
}

/** The user's limits as the usage store takes them (0: none). */
export function limitsOf(config: ServerConfig): Usage {
  return { bytes: config.quota, entries: config.maxEntries };
}

/** Whether the usage figures must be kept by every change (a limit is on). */
export function counting(config: ServerConfig): boolean {
  return config.quota > 0 || config.maxEntries > 0;
}

/**
 * Runs a write of one file under the server's limits: the per-file size (EFBIG) and, with a
 * quota, a reservation that grows with the file (ENOSPC), is given back when the write fails and
 * is settled to the real change when it succeeds; with an entry limit, a write that makes a new
 * entry reserves it (EDQUOT), before any byte is read when the name is free then. `oldSize`: the
 * file's size before the write; `announced`: the size known up front (Content-Length), reserved
 * before any byte is read; `segments`: the file's path.
 *
 * A write may count the old file's bytes as its own (it replaces them), but only one write per
 * file at a time: each holds a whole new copy on disk until it lands, and parallel PATCHes (a
 * server-side copy for one byte sent) or PUTs of one file all reusing the same old size held
 * tens of uncounted copies.
 */
export async function limitedWrite(
  ctx: ServerContext,
  user: string,
  write: { oldSize: number; announced: number | undefined; segments: readonly string[] },
  run: (limits: WriteLimits) => Promise<Attr>,
): Promise<Attr> {
  const { maxFileSize } = ctx.config;
  const limits: WriteLimits = maxFileSize > 0 ? { maxBytes: maxFileSize, overCode: 'EFBIG' } : {};
  const { announced } = write;
  if (announced !== undefined && maxFileSize > 0 && announced > maxFileSize) throw new RdriveError('EFBIG', 'File too large for this server');
  if (!counting(ctx.config)) return run(limits);
  const key = `${user}\0${write.segments.join('/')}`;
  const others = ctx.writing.add(key) - 1;
  const reservation = new QuotaReservation(ctx.usage, user, limitsOf(ctx.config), others === 0 ? write.oldSize : 0);
  try {
    return await reservation.around(async () => {
      if (announced !== undefined) await reservation.ensure(announced);
      return run({
        ...limits,
        creating: () => reservation.ensureEntries(1),
        reserve: (size) => reservation.ensure(size),
        replacing: (replaced, size) => reservation.replacing(replaced, size),
      });
    }, (attr) => attr.size);
  } finally {
    ctx.writing.remove(key);
  }
}

/**
 * Creates an entry that stores `bytes` (a symlink's or a node's record) under the limits: room
 * is reserved first (ENOSPC or EDQUOT when full, nothing made), the entry counts once it exists.
 */
export async function countedCreate(ctx: ServerContext, user: string, bytes: number, create: () => Promise<Attr>): Promise<Attr> {
  const reservation = new QuotaReservation(ctx.usage, user, limitsOf(ctx.config), 0);
  return reservation.around(async () => {
    await reservation.ensureEntries(1);
    await reservation.ensure(bytes);
    const attr = await create();
    reservation.madeEntries(1);
    return attr;
  }, () => bytes);
}

/**
 * Makes folders under the entry limit: room for each is reserved before it is made (EDQUOT
 * when full), and those made count, also when a later one of a mkdir -p fails.
 */
export async function countedMkdir(ctx: ServerContext, user: string, make: (room: Pick<MkdirOptions, 'room' | 'made'>) => Promise<Attr>): Promise<Attr> {
  const reservation = new QuotaReservation(ctx.usage, user, limitsOf(ctx.config), 0);
  try {
    return await make({ room: (count) => reservation.ensureEntries(count), made: (count) => reservation.madeEntries(count) });
  } finally {
    await reservation.commit(0);
  }
}

export function queryNumber(req: Request, name: string): number | undefined {
  const value = req.query[name];
  if (value === undefined) return undefined;
  // Digits only: Number() would also take '1e3', '0x10', ' 7' and '' (as 0).
  const n = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n)) {
    throw new RdriveError('EINVAL', `Query parameter ${name} must be a non-negative integer`);
  }
  return n;
}

/**
 * A check for "the client has gone": its connection closed (it gave up, timed out, was cut) or
 * the server already saw the client's end of it (then Node ends ours). Whatever the client
 * concluded, it heard no success, so the write must not land. A client that gave up while the
 * server was paused left its whole request and its FIN in the socket buffer: the FIN is read
 * only once the body has been, so the check first lets the event loop poll once more.
 */
export function clientWatch(res: Response): () => Promise<boolean> {
  let closed = false;
  res.once('close', () => { closed = true; });
  return async () => {
    await new Promise(setImmediate);
    await new Promise(setImmediate);
    return closed || res.socket === null || res.socket.destroyed || !res.socket.writable;
  };
}

/**
 * A change of metadata (mkdir, rename, unlink, chmod...) whose client already gave up is not
 * made: that client reported a failure (ETIMEDOUT) to its program, which may retry and would
 * then meet EEXIST or ENOENT for a change it was told did not happen.
 */
export async function refuseIfClientGone(res: Response): Promise<void> {
  if (await clientWatch(res)()) throw new RdriveError('ETIMEDOUT', 'The client closed the connection before the change was made; nothing was changed');
}
