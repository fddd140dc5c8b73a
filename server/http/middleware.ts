import { createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { rateLimit, ipKeyGenerator, type Options, type Store } from 'express-rate-limit';
import { HEADER_SYNC, type ErrorBody } from '../../common/api.js';
import { RdriveError, fromForeign, toHttpStatus } from '../../common/errors.js';
import { bodyParserError, type ServerContext } from './context.js';

/** What the error handler and the login route tell the request line (res.locals). */
interface RequestNotes {
  /** The error table's code of the answer, e.g. ENOENT. */
  code?: string;
  /** The name a failed login tried. */
  loginUser?: string;
  /** A login refused without a password check that still counts as a failure for the address. */
  loginCounted?: boolean;
}

export function noteRequest(res: Response, notes: RequestNotes): void {
  Object.assign(res.locals, notes);
}

const socketReadAtLastEnd = new WeakMap<object, number>();

/** Answers that a working client meets all the time (a lookup of a missing name, a read past the end). */
const ROUTINE_STATUSES = new Set([304, 404, 416]);

/**
 * One log line per request: user, method, route, status, error code, bytes in and out (on the
 * socket, headers included), duration, whether a write was durable. Never the token. A failed
 * login is this one line, at warn; routine answers (404 of a lookup, 416) are debug, so info holds the real events.
 */
export function requestLogger(ctx: ServerContext) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    // A keep-alive socket carries one request at a time: what it read since the previous
    // request's end is this request (its head may already be read when this runs).
    const socket = req.socket;
    const readBefore = socketReadAtLastEnd.get(socket) ?? 0;
    const writtenBefore = socket.bytesWritten;
    res.on('close', () => {
      socketReadAtLastEnd.set(socket, socket.bytesRead);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const notes = res.locals as RequestNotes;
      const route = req.baseUrl + (req.url.split('?')[0] ?? '');
      // Who has not logged in writes into the log at no cost of theirs: what they sent (a name
      // tried, a path of 24 KB) is cut, or a flood of such requests pushed the history out.
      const known = req.rdriveUser !== undefined;
      const line = {
        user: req.rdriveUser ?? clipped(notes.loginUser, UNKNOWN_CLIP), method: req.method, route: known ? route : clipped(route, UNKNOWN_CLIP),
        // No status for a request cut before its answer (Node's default 200 would read as success).
        status: res.headersSent ? res.statusCode : undefined, code: notes.code, bytesIn: socket.bytesRead - readBefore,
        bytesOut: socket.bytesWritten - writtenBefore, ms: Math.round(ms * 10) / 10, aborted: !res.writableFinished,
        // A write that was fsynced before its answer (a client's fsync() or --sync) costs more.
        ...(req.headers[HEADER_SYNC] === '1' ? { durable: true } : {}),
      };
      if (notes.loginUser !== undefined) ctx.log.warn({ ...line, ip: req.ip }, 'login failed');
      else if (res.statusCode >= 500) ctx.log.warn(line, 'request');
      else if (res.statusCode === 401) ctx.log.info({ ...line, ip: req.ip }, 'request');
      else if (ROUTINE_STATUSES.has(res.statusCode)) ctx.log.debug(line, 'request');
      else ctx.log.info(line, 'request');
    });
    next();
  };
}

/** Characters of a name or path logged for a request from someone not logged in. */
const UNKNOWN_CLIP = 256;

function clipped<T extends string | undefined>(text: T, max: number): T | string {
  return text !== undefined && text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
}

export function authenticate(ctx: ServerContext) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer ([A-Za-z0-9_-]{16,128})$/.exec(header);
    if (match === null) {
      next(new RdriveError('UNAUTHORIZED', 'Missing bearer token: log in first'));
      return;
    }
    // The users file first: a session of a user just removed from it (or given a new password) ends here.
    ctx.auth.recheck().then(() => ctx.sessions.touch(match[1]!)).then((session) => {
      if (session === undefined) {
        next(new RdriveError('UNAUTHORIZED', 'Session expired or unknown: log in again'));
        return;
      }
      req.rdriveUser = session.user;
      req.rdriveToken = session.token;
      next();
    }, next);
  };
}

/** Bounds the requests one user has in flight; the slot is freed when the response closes. */
export function inFlightLimit(ctx: ServerContext) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const user = req.rdriveUser!;
    ctx.inFlight.tryAcquire(user).then((release) => {
      if (release === undefined) {
        ctx.log.warn({ user, limit: ctx.config.maxInFlightPerUser }, 'in-flight limit reached');
        res.setHeader('Retry-After', '1');
        next(new RdriveError('RATE_LIMITED', 'Too many requests in flight; retry later'));
        return;
      }
      res.on('close', () => {
        release().catch((err: unknown) => ctx.log.warn({ err: (err as Error).message, user }, 'could not free an in-flight slot; it lapses by itself'));
      });
      next();
    }, next);
  };
}

function limiterHandler(ctx: ServerContext, what: string): Options['handler'] {
  return (req, res, _next, options) => {
    const reset = (req as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
    const retryAfter = reset === undefined ? Math.ceil(options.windowMs / 1000) : Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000));
    ctx.log.warn({ user: req.rdriveUser, ip: req.ip, what }, 'rate limit reached');
    res.setHeader('Retry-After', String(retryAfter));
    res.status(429).json(new RdriveError('RATE_LIMITED', `Too many ${what}; retry in ${retryAfter} s`).toJSON());
  };
}

/** How many times more failures an address may have across all names than on one name. */
export const ADDRESS_FACTOR = 5;

/** The address a login is counted against: IPv6 by its /56, as one host usually holds that many. */
export function loginAddress(req: Request): string {
  return ipKeyGenerator(req.ip ?? '');
}

function loginName(req: Request): string {
  // Only a string is a name: String() of a crafted object or a deeply nested array throws.
  const user = (req.body as { user?: unknown } | undefined)?.user;
  return typeof user === 'string' ? user : '';
}

/**
 * Login throttling (see README, "Login throttling"): failed logins are limited per (user name,
 * address) pair and, more loosely, per address; a name under attack from many addresses backs
 * off progressively for every address that has not logged in as that user before. No one can
 * lock a user out from their own address by failing on purpose.
 */
export function loginLimiters(ctx: ServerContext) {
  const limit = ctx.config.loginAttemptsPer15Min;
  const common = {
    windowMs: 15 * 60 * 1000,
    // Only a wrong password counts: a refusal (429, 503) is not another guess, except a login
    // sent while the address already had its share of password checks going (see session.ts).
    skipSuccessfulRequests: true,
    requestWasSuccessful: (_req: Request, res: Response) => res.statusCode !== 401 && (res.locals as RequestNotes).loginCounted !== true,
    standardHeaders: 'draft-7' as const,
    legacyHeaders: false,
    // Redis-backed when the state is shared; express-rate-limit's memory store otherwise. A
    // store that fails refuses the login (503 below) rather than letting guesses through.
    passOnStoreError: false,
  };
  return [
    rateLimit({
      ...common,
      limit: limit * ADDRESS_FACTOR,
      keyGenerator: (req) => `ip:${loginAddress(req)}`,
      handler: limiterHandler(ctx, 'failed logins from this address'),
      ...storeOption(ctx, 'login-ip:'),
    }),
    rateLimit({
      ...common,
      limit,
      // The name as a digest: the record of a failure lives for 15 minutes, and a name may be
      // nearly as long as a login's 16 KB body.
      keyGenerator: (req) => `pair:${createHash('sha256').update(loginName(req)).digest('base64url')}\n${loginAddress(req)}`,
      handler: limiterHandler(ctx, 'failed logins for this user from this address'),
      ...storeOption(ctx, 'login-pair:'),
    }),
    nameBackoff(ctx),
  ];
}

function nameBackoff(ctx: ServerContext) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const user = loginName(req);
    ctx.loginBackoff.waitMs(user, req.ip ?? '').then((waitMs) => {
      if (waitMs <= 0) {
        next();
        return;
      }
      const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
      ctx.log.warn({ user, ip: req.ip }, 'login delayed: many failed logins for this user');
      res.setHeader('Retry-After', String(retryAfter));
      next(new RdriveError('RATE_LIMITED', `Many failed logins for this user lately: retry in ${retryAfter} s`));
    }, next);
  };
}

function storeOption(ctx: ServerContext, prefix: string): { store?: Store } {
  const store = ctx.rateLimitStore?.(prefix);
  return store === undefined ? {} : { store };
}

export function requestLimiter(ctx: ServerContext) {
  return rateLimit({
    windowMs: 60 * 1000,
    limit: ctx.config.requestsPerMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req) => `req:${req.rdriveUser ?? ''}`,
    handler: limiterHandler(ctx, 'requests'),
    passOnStoreError: false,
    ...storeOption(ctx, 'requests:'),
  });
}

/** The one place errors become JSON {code, message} with the table's status. */
export function errorHandler(ctx: ServerContext) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const error = bodyParserError(err) ?? fromForeign(err);
    if (error.code === 'EIO') ctx.log.error({ err, user: req.rdriveUser, route: req.baseUrl + req.path }, 'internal error');
    noteRequest(res, { code: error.code });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (error.retryAfter !== undefined) res.setHeader('Retry-After', String(error.retryAfter));
    if (!req.complete) discardRestOfBody(req);
    const body: ErrorBody = error.toJSON();
    res.status(toHttpStatus(error)).json(body);
  };
}

/** How long a refused upload may go on sending before its connection is cut. */
const DISCARD_MS = 10_000;

/**
 * An upload refused midway still has body bytes in flight. Reading and dropping them lets the
 * client finish sending and read the answer (closing at once would reset the connection under
 * it, and it would see "server unreachable" instead of, say, ENOSPC). A body that goes on for
 * longer than DISCARD_MS is cut. (No "Connection: close": Node would reset the socket as soon
 * as the answer is out, body bytes still unread.)
 */
function discardRestOfBody(req: Request): void {
  const cut = setTimeout(() => req.socket.destroy(), DISCARD_MS).unref();
  req.on('end', () => clearTimeout(cut));
  req.on('close', () => clearTimeout(cut));
  req.resume();
}

