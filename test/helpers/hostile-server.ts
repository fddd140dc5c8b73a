import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenTracked } from './tracked-server.js';

/**
 * Answers one request badly: gets the request (and, through `upstream`, what the real server
 * would answer) and writes whatever it likes to `res`. Returns false to let the request through.
 */
export type Misbehaviour = (req: IncomingMessage, res: ServerResponse, upstream: () => Promise<Upstream>) => boolean | Promise<boolean>;

/** The real server's answer to the request, read whole. */
export interface Upstream {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface HostileServer {
  url: string;
  /** From now on, `misbehave` sees every request first (undefined: all pass untouched). */
  set: (misbehave: Misbehaviour | undefined) => void;
  /** Requests answered badly so far, by `METHOD /route`. */
  hits: Map<string, number>;
  /** Requests seen so far, by `METHOD /route` (route without the API prefix and the query). */
  seen: Map<string, number>;
  close: () => Promise<void>;
}

/**
 * What the mount may meet at its server's address: the real rdrive server behind, so login and
 * everything not chosen behaves, and answers to chosen routes made up (a wrong server at the
 * URL, a broken proxy, a man in the middle on plain http). The mount must give clean errors,
 * stay up, and work again once the answers are right.
 */
export async function startHostileServer(target: string): Promise<HostileServer> {
  const upstreamUrl = new URL(target);
  let misbehave: Misbehaviour | undefined;
  const hits = new Map<string, number>();
  const seen = new Map<string, number>();

  const fetchUpstream = (req: IncomingMessage, body: Buffer): Promise<Upstream> =>
    new Promise((resolve, reject) => {
      const out = request({ host: upstreamUrl.hostname, port: upstreamUrl.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }));
        answer.on('error', reject);
      });
      out.on('error', reject);
      out.end(body);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const key = `${req.method ?? ''} ${routeOf(req.url ?? '')}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const upstream = () => fetchUpstream(req, body);
    const current = misbehave;
    if (current !== undefined && (await current(req, res, upstream))) {
      hits.set(key, (hits.get(key) ?? 0) + 1);
      return;
    }
    const answer = await upstream();
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  };

  const server = await listenTracked((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  return {
    url: server.url,
    set: (next) => {
      misbehave = next;
    },
    hits,
    seen,
    close: server.close,
  };
}

/** "/api/v1/list/a/b?x=1" → "/list/a/b" (decoded). */
export function routeOf(url: string): string {
  const path = url.split('?')[0] ?? '';
  const plain = path.startsWith('/api/v1') ? path.slice('/api/v1'.length) : path;
  try {
    return decodeURIComponent(plain);
  } catch {
    return plain;
  }
}

/** A JSON answer with the given status. */
export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}
