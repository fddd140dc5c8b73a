import { Router, type NextFunction, type Request, type Response } from 'express';
import type { LoginRequest, LoginResponse } from '../../../common/api.js';
import { RdriveError } from '../../../common/errors.js';
import { jsonBody, type ServerContext } from '../context.js';
import { authenticate, loginAddress, loginLimiters, noteRequest } from '../middleware.js';

/** POST /session (login) and DELETE /session (logout). */
export function sessionRoutes(ctx: ServerContext): Router {
  const router = Router();
  router.post('/session', jsonBody('16kb'), refuseUnchecked(ctx), ...loginLimiters(ctx), async (req, res) => {
    const { user, password } = parseLogin(req.body);
    const left = new AbortController();
    res.once('close', () => left.abort());
    const check = await ctx.passwordChecks.run(loginAddress(req), () => ctx.auth.verify(user, password), left.signal);
    if (!check.ran) {
      if (check.why === 'gone') return;
      // Sent in parallel to get more checks going: refused at once, and counted as a failure.
      noteRequest(res, { loginCounted: true });
      ctx.log.warn({ ip: req.ip }, 'login refused: this address already has password checks going');
      throw new RdriveError('RATE_LIMITED', 'Logins from this address are already being checked; retry in 1 s', { retryAfter: 1 });
    }
    if (!check.value) {
      await ctx.loginBackoff.failed(user);
      noteRequest(res, { loginUser: user });
      throw new RdriveError('UNAUTHORIZED', 'Wrong user name or password');
    }
    await ctx.auth.settleBeforeLogin(check.value);
    const created = await ctx.sessions.create(user);
    if (!created.ok) throw serverFull(ctx, { user }, created.retryAfter);
    if (!(await ctx.auth.stillHas(check.value))) {
      // Removed or given a new password while the password was checked: the re-read that ended
      // the user's sessions ran before this one was made, so it ends here.
      await ctx.sessions.remove(created.session.token);
      throw new RdriveError('UNAUTHORIZED', 'Wrong user name or password');
    }
    if (created.evicted !== undefined) ctx.log.warn({ user, evicted: created.evicted, maxClients: ctx.config.maxClients }, 'server full: the least recently used session of the user holding the most ended to make room');
    await ctx.loginBackoff.succeeded(user, req.ip ?? '');
    await ctx.backend.ensureUserRoot(user);
    ctx.log.info({ user, ip: req.ip }, 'login');
    const body: LoginResponse = { token: created.session.token, user, idleTimeout: ctx.config.idleTimeout };
    res.status(201).json(body);
  });
  router.delete('/session', authenticate(ctx), async (req, res) => {
    await ctx.sessions.remove(req.rdriveToken!);
    ctx.log.info({ user: req.rdriveUser }, 'logout');
    res.status(204).end();
  });
  return router;
}

/**
 * Refuses a login that gets no password check anyway before the login limiters see it: a
 * malformed one (400), or any while the server is full (503, before a second of scrypt, for any
 * name alike). It is no guess to count, and the limiters keep a record per name tried for 15
 * minutes: a flood of such logins, each with a new 15 KB name, ran the server out of memory.
 */
function refuseUnchecked(ctx: ServerContext) {
  return async (req: Request, _res: Response, next: NextFunction): Promise<void> => {
    parseLogin(req.body);
    const full = await ctx.sessions.fullRetryAfter();
    if (full !== undefined) throw serverFull(ctx, { ip: req.ip }, full);
    next();
  };
}

/** `who`: the user once the password is checked, else only the address (a name is a claim). */
function serverFull(ctx: ServerContext, who: { user: string } | { ip: string | undefined }, retryAfter: number): RdriveError {
  ctx.log.warn({ ...who, maxClients: ctx.config.maxClients }, 'login refused: too many clients');
  return new RdriveError('TOO_MANY_CLIENTS', `Server full: it takes ${ctx.config.maxClients} ${ctx.config.maxClients === 1 ? 'client' : 'clients'} at once (--max-clients); retry in ${retryAfter} s`, { retryAfter });
}

function parseLogin(body: unknown): LoginRequest {
  const { user, password } = (body ?? {}) as Partial<Record<keyof LoginRequest, unknown>>;
  if (typeof user !== 'string' || typeof password !== 'string' || user === '') {
    throw new RdriveError('EINVAL', 'Login needs JSON {"user": "...", "password": "..."}');
  }
  return { user, password };
}
