import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
}

/**
 * Who a quiet connection is waiting for. A request body that stopped arriving with nothing
 * left unread (`client-send`), or an answer the client stopped reading (`client-read`): the
 * client's doing. A request being worked on (a big PATCH copying, a lease wait, a slow disk
 * with the body's bytes still unread) is the server's. No request at all: an idle keep-alive.
 */
export function waitingOn(exchange: Exchange | undefined, socket: Pick<Socket, 'writableLength'>): 'client-send' | 'client-read' | 'server' | 'idle' {
  if (exchange === undefined || exchange.res.writableFinished) return 'idle';
  const { req } = exchange;
  if (!req.complete && req.readableLength === 0) return 'client-send';
  if (socket.writableLength > 0) return 'client-read';
  return 'server';
}

/**
 * Node's HTTP server has no request timeout here (uploads of big files stream for long), so
 * without this a client that stops mid-body held its connection, its temp file and its quota
 * reservation until it went away, possibly never. A connection quiet for `ms` while waiting on
 * its client is cut; the upload's failure path removes the temp file.
 */
export function cutStalledClients(server: Server, ms: number, log: Logger): void {
  const current = new WeakMap<Socket, Exchange>();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => current.set(req.socket, { req, res }));
  server.timeout = ms;
  // A 'timeout' listener replaces Node's default (destroy): quiet server work is left alone.
  server.on('timeout', (socket: Socket) => {
    const exchange = current.get(socket);
    const who = waitingOn(exchange, socket);
    // Node fires once per quiet spell and re-arms only on socket activity: a request the server
    // was busy with must be looked at again, or a client that stops once the server has drained
    // its buffered body would never be cut.
    if (who === 'server') {
      socket.setTimeout(ms);
      return;
    }
    if (who !== 'idle') log.warn({ method: exchange?.req.method, url: exchange?.req.url, waitingFor: who, ms }, 'client stalled; connection cut');
    socket.destroy();
  });
}
