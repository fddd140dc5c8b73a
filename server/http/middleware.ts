import type { NextFunction, Request, Response } from 'express';
import { rateLimit, ipKeyGenerator, type Options } from 'express-rate-limit';
import { RdriveError, fromForeign, toHttpStatus } from '../../common/errors.js';
import type { ServerContext } from './context.js';

/** One log line per request: user, method, route, status, duration. Never the token. */
export function requestLogger(ctx: ServerContext) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.on('close', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const line = { user: req.rdriveUser, method: req.method, route: req.baseUrl + (req.url.split('?')[0] ?? ''), status: res.statusCode, ms: Math.round(ms * 10) / 10, aborted: !res.writableFinished };
      if (res.statusCode >= 500) ctx.log.warn(line, 'request');
      else ctx.log.info(line, 'request');
    });
    next();
  };
}

export function authenticate(ctx: ServerContext) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer ([A-Za-z0-9_-]{16,128})$/.exec(header);
    const session = match === null ? undefined : ctx.sessions.touch(match[1]!);
    if (session === undefined) {
      next(new RdriveError('UNAUTHORIZED', match === null ? 'Missing bearer token: log in first' : 'Session expired or unknown: log in again'));
      return;
    }
    req.rdriveUser = session.user;
    req.rdriveToken = session.token;
    next();
  };
}

/** Bounds the requests one user has in flight; the slot is freed when the response closes. */
export function inFlightLimit(ctx: ServerContext) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const user = req.rdriveUser!;
    if (!ctx.inFlight.tryAcquire(user)) {
      ctx.log.warn({ user, limit: ctx.config.maxInFlightPerUser }, 'in-flight limit reached');
      res.setHeader('Retry-After', '1');
      next(new RdriveError('RATE_LIMITED', 'Too many requests in flight; retry later'));
      return;
    }
    res.on('close', () => ctx.inFlight.release(user));
    next();
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

/** Failed logins per client address and per user name (successful ones do not count). */
export function loginLimiters(ctx: ServerContext) {
  const common = {
    windowMs: 15 * 60 * 1000,
    limit: ctx.config.loginAttemptsPer15Min,
    skipSuccessfulRequests: true,
    standardHeaders: 'draft-7' as const,
    legacyHeaders: false,
  };
  return [
    rateLimit({ ...common, keyGenerator: (req) => `ip:${ipKeyGenerator(req.ip ?? '')}`, handler: limiterHandler(ctx, 'failed logins from this address') }),
    rateLimit({
      ...common,
      keyGenerator: (req) => `user:${String((req.body as { user?: unknown } | undefined)?.user ?? '')}`,
      handler: limiterHandler(ctx, 'failed logins for this user'),
    }),
  ];
}

export function requestLimiter(ctx: ServerContext) {
  return rateLimit({
    windowMs: 60 * 1000,
    limit: ctx.config.requestsPerMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req) => `req:${req.rdriveUser ?? ''}`,
    handler: limiterHandler(ctx, 'requests'),
  });
}

/** The one place errors become JSON {code, message} with the table's status. */
export function errorHandler(ctx: ServerContext) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const error = bodyParserError(err) ?? fromForeign(err);
    if (error.code === 'EIO') ctx.log.error({ err, user: req.rdriveUser, route: req.baseUrl + req.path }, 'internal error');
    if (error.code === 'UNAUTHORIZED') ctx.log.info({ ip: req.ip, route: req.baseUrl + req.path }, 'unauthenticated request');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (error.retryAfter !== undefined) res.setHeader('Retry-After', String(error.retryAfter));
    if (!req.complete) discardRestOfBody(req);
    res.status(toHttpStatus(error)).json(error.toJSON());
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

function bodyParserError(err: unknown): RdriveError | undefined {
  const type = (err as { type?: unknown } | null)?.type;
  if (type === 'entity.parse.failed') return new RdriveError('EINVAL', 'Request body is not valid JSON');
  if (type === 'entity.too.large') return new RdriveError('EINVAL', 'Request body too large');
  return undefined;
}
