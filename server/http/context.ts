import type { Request } from 'express';
import type { Logger } from 'pino';
import { RdriveError } from '../../common/errors.js';
import { parseRemotePath } from '../../common/paths.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { ServerConfig } from '../config.js';
import type { StorageBackend, WriteLimits } from '../storage/backend.js';
import type { InFlightLimiter } from '../state/in-flight.js';
import type { SessionStore } from '../state/session-store.js';
import type { UsageTracker } from '../state/usage-tracker.js';

/** Everything the routes need, built once by createServer(). */
export interface ServerContext {
  config: ServerConfig;
  log: Logger;
  backend: StorageBackend;
  sessions: SessionStore;
  auth: Authenticator;
  inFlight: InFlightLimiter;
  usage: UsageTracker;
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

/** How many bytes the file at a path may hold after a write, given quota and file-size limits. */
export async function writeLimits(ctx: ServerContext, user: string, oldSize: number): Promise<WriteLimits> {
  const { quota, maxFileSize } = ctx.config;
  const limits: { maxBytes?: number; overCode?: 'ENOSPC' | 'EFBIG' } = {};
  if (quota > 0) {
    limits.maxBytes = quota - (await ctx.usage.get(user)) + oldSize;
    limits.overCode = 'ENOSPC';
  }
  if (maxFileSize > 0 && (limits.maxBytes === undefined || maxFileSize < limits.maxBytes)) {
    limits.maxBytes = maxFileSize;
    limits.overCode = 'EFBIG';
  }
  return limits;
}

export function queryNumber(req: Request, name: string): number | undefined {
  const value = req.query[name];
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isSafeInteger(n) || n < 0) {
    throw new RdriveError('EINVAL', `Query parameter ${name} must be a non-negative integer`);
  }
  return n;
}
