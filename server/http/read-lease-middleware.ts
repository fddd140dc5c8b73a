import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { HEADER_LEASE_MS, HEADER_LEASE_REQUEST } from '../../common/api.js';
import { splitPlainPath } from '../../common/paths.js';
import type { ReadLeases } from '../state/read-leases.js';
import { jsonBody, pathAfter } from './context.js';

/** Requests that change what a path holds (content, existence, attributes), by route. */
const CHANGES: Record<string, ReadonlySet<string>> = {
  files: new Set(['PUT', 'PATCH', 'DELETE']),
  attrs: new Set(['PATCH']),
  dirs: new Set(['POST', 'DELETE']),
  symlinks: new Set(['POST']),
  nodes: new Set(['POST']),
};

/**
 * Read leases on the wire (see state/read-leases.ts): a head read that asks for one gets a lease
 * before the file is read; a change waits until other sessions' leases on its paths have ended
 * and holds new ones off until its answer is sent. Mounted after authentication.
 */
export function readLeaseMiddleware(leases: ReadLeases): RequestHandler {
  const json = jsonBody('64kb');
  return (req: Request, res: Response, next: NextFunction): void => {
    const user = req.rdriveUser;
    const session = req.rdriveToken;
    // The route as Express chose it: on req.path (a raw '#' ends it: '/files#a' is PUT /files,
    // for the file '#a'), its string routes in any case ('/RENAME' runs /rename).
    const route = (req.path.split('/')[1] ?? '').toLowerCase();
    if (user === undefined || session === undefined) {
      next();
      return;
    }
    if (req.method === 'GET' && route === 'files') {
      const path = leasePath(req, 'files');
      if (path !== undefined && req.headers[HEADER_LEASE_REQUEST] === '1') {
        const ms = leases.grant(user, session, path);
        if (ms > 0) res.setHeader(HEADER_LEASE_MS, String(ms));
      }
      next();
      return;
    }
    const change = (paths: string[]): void => {
      // The client may go away while the change waits: the hold ends with the response anyway.
      let done: (() => void) | undefined;
      let closed = false;
      res.once('close', () => {
        closed = true;
        done?.();
      });
      leases.beginChange(user, session, paths).then((end) => {
        if (closed) {
          end();
          return;
        }
        done = end;
        next();
      }, next);
    };
    if (req.method === 'POST' && route === 'rename') {
      // The route reads the same parsed body (the parser runs once per request).
      json(req, res, (err?: unknown) => {
        if (err !== undefined) {
          next(err);
          return;
        }
        const body = (req.body ?? {}) as { from?: unknown; to?: unknown };
        const paths = [body.from, body.to].flatMap((p) => (typeof p === 'string' ? plainPath(p) : []));
        change(paths);
      });
      return;
    }
    if (CHANGES[route]?.has(req.method) === true) {
      const path = leasePath(req, route);
      if (path !== undefined) {
        change([path]);
        return;
      }
    }
    next();
  };
}

/** The path a request names, as leases key it; undefined when malformed (the route refuses it). */
function leasePath(req: Request, route: string): string | undefined {
  try {
    return pathAfter(req, route).join('/');
  } catch {
    return undefined;
  }
}

function plainPath(path: string): string[] {
  try {
    return [splitPlainPath(path).join('/')];
  } catch {
    return [];
  }
}
