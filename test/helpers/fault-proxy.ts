import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenTracked } from './tracked-server.js';

/**
 * What the proxy does to the next requests (netem is not in this kernel, so faults come from here):
 * - pass: forward untouched;
 * - stall: take the request and never answer;
 * - delay: forward each request (of the given methods, else all) `ms` late: a slow server;
 * - unavailable: every `every`-th request gets a 503 with Retry-After instead of the server;
 * - cut-upload: forward a request body's first `afterBytes`, then drop both connections;
 * - cut-download: forward a response body's first `afterBytes`, then drop both connections;
 * - lose-answer: forward each request (of the given methods) whole, let the server answer, and
 *   never pass the answer on: the request took effect, the client hears nothing (a lost reply).
 */
export type Fault =
  | { kind: 'pass' }
  | { kind: 'stall' }
  | { kind: 'delay'; ms: number; methods?: string[] }
  | { kind: 'unavailable'; every: number; retryAfter: number }
  | { kind: 'cut-upload'; afterBytes: number }
  | { kind: 'cut-download'; afterBytes: number }
  | { kind: 'lose-answer'; methods: string[] };

export interface FaultProxy {
  url: string;
  set: (fault: Fault) => void;
  /** Requests seen and faults injected so far (so a test can show the fault really happened). */
  stats: { requests: number; injected: number };
  close: () => Promise<void>;
}

/** An HTTP proxy on an ephemeral loopback port in front of `target` (http://host:port). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  let fault: Fault = { kind: 'pass' };
  const stats = { requests: 0, injected: 0 };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    stats.requests++;
    const current = fault;
    if (current.kind === 'delay' && (current.methods === undefined || current.methods.includes(req.method ?? ''))) {
      stats.injected++;
      req.pause();
      setTimeout(() => forward(req, res, { kind: 'pass' }), current.ms);
      return;
    }
    forward(req, res, current.kind === 'delay' ? { kind: 'pass' } : current);
  };

  const forward = (req: IncomingMessage, res: ServerResponse, current: Fault): void => {
    if (current.kind === 'stall') {
      stats.injected++;
      return;
    }
    if (current.kind === 'unavailable' && stats.requests % current.every === 0) {
      stats.injected++;
      req.resume();
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': String(current.retryAfter), connection: 'close' });
      res.end('proxy: upstream busy\n');
      return;
    }
    const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (current.kind === 'lose-answer' && current.methods.includes(req.method ?? '')) {
        stats.injected++;
        answer.resume();
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      if (current.kind === 'cut-download') forwardThenCut(answer, res, current.afterBytes, () => cut(req, out, stats));
      else answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    if (current.kind === 'cut-upload') forwardThenCut(req, out, current.afterBytes, () => cut(req, out, stats));
    else req.pipe(out);
  };

  const server = await listenTracked(handle);
  return {
    url: server.url,
    set: (next) => {
      fault = next;
    },
    stats,
    close: server.close,
  };
}

/** Copies `from` to `to` until `limit` bytes went through, then calls `onCut` instead. */
function forwardThenCut(from: IncomingMessage, to: NodeJS.WritableStream, limit: number, onCut: () => void): void {
  let sent = 0;
  from.on('data', (chunk: Buffer) => {
    if (sent >= limit) return;
    const room = limit - sent;
    to.write(room >= chunk.length ? chunk : chunk.subarray(0, room));
    sent += Math.min(room, chunk.length);
    if (sent >= limit) onCut();
  });
  from.on('end', () => {
    if (sent < limit) to.end();
  });
}

function cut(req: IncomingMessage, out: { destroy: () => void }, stats: { injected: number }): void {
  stats.injected++;
  out.destroy();
  req.socket.destroy();
}
