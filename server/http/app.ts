import express, { type Express, type RequestHandler } from 'express';
import { API_PREFIX } from '../../common/config.js';
import type { Health } from '../../common/api.js';
import { RdriveError } from '../../common/errors.js';
import type { ServerContext } from './context.js';
import { authenticate, errorHandler, inFlightLimit, requestLimiter, requestLogger } from './middleware.js';
import { readLeaseMiddleware } from './read-lease-middleware.js';
import { fileRoutes } from './routes/files.js';
import { headsRoutes } from './routes/heads.js';
import { sessionRoutes } from './routes/session.js';
import { treeRoutes } from './routes/tree.js';
import { VERSION } from '../../common/version.js';

/** The Express app: health (no auth), session, then authenticated, limited routes. */
export function createApp(ctx: ServerContext, metrics?: RequestHandler): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // 'trust proxy' is set by createServer from --trust-proxy (behind a load balancer).
  app.set('trust proxy', false);
  const api = express.Router();
  api.use(requestLogger(ctx));
  if (metrics !== undefined) api.use(metrics);
  api.get('/health', (_req, res) => {
    const body: Health = { status: 'ok', version: VERSION };
    res.json(body);
  });
  api.use(sessionRoutes(ctx));
  api.use(authenticate(ctx), requestLimiter(ctx), inFlightLimit(ctx));
  if (ctx.leases !== undefined) api.use(readLeaseMiddleware(ctx.leases));
  api.use(treeRoutes(ctx));
  api.use(fileRoutes(ctx));
  api.use(headsRoutes(ctx));
  api.use(() => {
    throw new RdriveError('ENOSYS', 'No such API route; see docs/api.md');
  });
  app.use(API_PREFIX, api);
  app.use((_req, res) => {
    res.status(404).json({ code: 'ENOENT', message: `Not an rdrive API path; the API lives under ${API_PREFIX}` });
  });
  app.use(errorHandler(ctx));
  api.use(errorHandler(ctx));
  return app;
}
