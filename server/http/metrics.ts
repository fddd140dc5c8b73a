import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { RdriveError } from '../../common/errors.js';
import type { ServerContext } from './context.js';

/**
 * Prometheus metrics (prom-client). Labels are route names from a fixed list, status codes and,
 * for storage used, user names: never a file name or token.
 */
const ROUTES = new Set(['health', 'session', 'files', 'heads', 'preview', 'sync', 'list', 'stat', 'statfs', 'dirs', 'symlinks', 'nodes', 'rename', 'attrs']);
const REJECTIONS = new Set([429, 503, 507]);

/** The API route a request went to, by its first path segment only (the rest is a file path). */
export function routeLabel(pathInApi: string): string {
  const first = pathInApi.split('/')[1] ?? '';
  return ROUTES.has(first) ? first : 'other';
}

export interface ServerMetrics {
  registry: Registry;
  /** Express middleware counting each API request when its response ends. */
  middleware: (req: Request, res: Response, next: NextFunction) => void;
}

export function createMetrics(ctx: ServerContext): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'rdrive_server_' });
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({ name: 'rdrive_http_requests_total', help: 'API requests by method, route and status', labelNames, registers: [registry] });
  const latency = new Histogram({
    name: 'rdrive_http_request_duration_seconds', help: 'API request latency, to the end of the response', labelNames: ['method', 'route'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120], registers: [registry],
  });
  const bytesIn = new Counter({ name: 'rdrive_http_received_bytes_total', help: 'Bytes received from clients (headers and bodies)', registers: [registry] });
  const bytesOut = new Counter({ name: 'rdrive_http_sent_bytes_total', help: 'Bytes sent to clients (headers and bodies)', registers: [registry] });
  const rejections = new Counter({ name: 'rdrive_rejections_total', help: 'Requests refused for a limit: 429 rate/in-flight, 503 max clients, 507 quota/disk', labelNames: ['status'], registers: [registry] });
  const failedLogins = new Counter({ name: 'rdrive_logins_failed_total', help: 'Logins refused for a wrong name or password', registers: [registry] });
  new Gauge({
    name: 'rdrive_sessions_active', help: 'Live sessions', registers: [registry],
    async collect() {
      this.set(await ctx.sessions.count());
    },
  });
  const inFlight = new Gauge({ name: 'rdrive_http_requests_in_flight', help: 'API requests being served now', registers: [registry] });
  // Users seen since start: their usage figure is the quota tracker's, kept current by every
  // write, so a scrape walks no tree (only a user's first figure is measured once).
  const seenUsers = new Set<string>();
  new Gauge({
    name: 'rdrive_storage_used_bytes', help: 'Bytes stored per user (users seen since the server started)', labelNames: ['user'], registers: [registry],
    async collect() {
      this.reset();
      for (const user of seenUsers) this.set({ user }, (await ctx.usage.get(user).catch(() => undefined))?.bytes ?? 0);
    },
  });
  new Gauge({
    name: 'rdrive_storage_used_entries', help: 'Entries (files, folders, links, nodes) stored per user (users seen since the server started)', labelNames: ['user'], registers: [registry],
    async collect() {
      this.reset();
      for (const user of seenUsers) {
        const used = await ctx.usage.get(user).catch(() => undefined);
        if (used !== undefined) this.set({ user }, used.entries);
      }
    },
  });
  new Gauge({ name: 'rdrive_storage_entries_max', help: 'Entries each user may keep (--max-entries; 0: no limit)', registers: [registry] }).set(ctx.config.maxEntries);
  new Gauge({ name: 'rdrive_sessions_max', help: 'Most concurrent sessions allowed (--max-clients)', registers: [registry] }).set(ctx.config.maxClients);

  const socketReadAtLastEnd = new WeakMap<object, number>();
  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    const route = routeLabel(req.path);
    const stop = latency.startTimer({ method: req.method, route });
    const socket = req.socket;
    const readBefore = socketReadAtLastEnd.get(socket) ?? 0;
    const writtenBefore = socket.bytesWritten;
    inFlight.inc();
    res.on('close', () => {
      inFlight.dec();
      if (req.rdriveUser !== undefined) seenUsers.add(req.rdriveUser);
      socketReadAtLastEnd.set(socket, socket.bytesRead);
      stop();
      requests.inc({ method: req.method, route, status: String(res.statusCode) });
      bytesIn.inc(Math.max(0, socket.bytesRead - readBefore));
      bytesOut.inc(Math.max(0, socket.bytesWritten - writtenBefore));
      if (REJECTIONS.has(res.statusCode)) rejections.inc({ status: String(res.statusCode) });
      if ((res.locals as { loginUser?: string }).loginUser !== undefined) failedLogins.inc();
    });
    next();
  };
  return { registry, middleware };
}

/** GET /metrics on its own listener, loopback only: not reachable from where clients connect. */
export async function listenMetrics(registry: Registry, port: number): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Only GET /metrics here\n');
      return;
    }
    registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': registry.contentType }).end(text);
    }, (err: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      // Named, so it does not read as the main --port being taken.
      const why = err.code === 'EADDRINUSE' ? 'is in use; pick another --metrics-port or stop the other program' : `cannot be listened on (${err.code ?? err.message})`;
      reject(new RdriveError('EBUSY', `--metrics-port ${port}: 127.0.0.1:${port} ${why}`, { cause: err }));
    });
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  return {
    url,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
