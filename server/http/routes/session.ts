import { Router } from 'express';
import type { LoginRequest, LoginResponse } from '../../../common/api.js';
import { RdriveError } from '../../../common/errors.js';
import { jsonBody, type ServerContext } from '../context.js';
import { authenticate, loginLimiters, noteRequest } from '../middleware.js';

/** POST /session (login) and DELETE /session (logout). */
export function sessionRoutes(ctx: ServerContext): Router {
  const router = Router();
  router.post('/session', jsonBody('16kb'), ...loginLimiters(ctx), async (req, res) => {
    const { user, password } = parseLogin(req.body);
    if (!(await ctx.auth.verify(user, password))) {
      await ctx.loginBackoff.failed(user);
      noteRequest(res, { loginUser: user });
      throw new RdriveError('UNAUTHORIZED', 'Wrong user name or password');
    }
    const created = await ctx.sessions.create(user);
    if (!created.ok) {
      ctx.log.warn({ user, maxClients: ctx.config.maxClients }, 'login refused: too many clients');
      throw new RdriveError('TOO_MANY_CLIENTS', `Server full (${ctx.config.maxClients} clients); retry in ${created.retryAfter} s`, { retryAfter: created.retryAfter });
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

function parseLogin(body: unknown): LoginRequest {
  const { user, password } = (body ?? {}) as Partial<Record<keyof LoginRequest, unknown>>;
  if (typeof user !== 'string' || typeof password !== 'string' || user === '') {
    throw new RdriveError('EINVAL', 'Login needs JSON {"user": "...", "password": "..."}');
  }
  return { user, password };
}
