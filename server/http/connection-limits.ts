import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { ipKeyGenerator } from 'express-rate-limit';
import type { Logger } from 'pino';
import { KeyedCounter } from '../state/keyed-counter.js';

/** Descriptors kept for all but client connections: logs, listeners, Redis, libuv's own, a spawn. */
const FD_BASE_RESERVE = 64;
/** Refused connections are told about at most this often (a flood must not flood the log too). */
const WARN_EVERY_MS = 10_000;

/**
 * How many connections the server may hold at once: `requested`, but never so many that sockets
 * could take every file descriptor. Each connection may hold a file open besides its socket (an
 * upload's temp file, a read), so half of what is left after the base reserve.
 */
export function connectionCap(requested: number, openFileLimit: number | undefined): number {
  if (openFileLimit === undefined) return requested;
  return Math.max(1, Math.min(requested, Math.floor((openFileLimit - FD_BASE_RESERVE) / 2)));
}

/** The process's open-file limit (`ulimit -n`, as node raised it at start); undefined: none or unknown. */
export async function openFileLimit(): Promise<number | undefined> {
  const text = await readFile('/proc/self/limits', 'utf8').catch(() => '');
  const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
  const n = Number(soft);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export interface ConnectionLimits {
  /** Connections at once, server-wide (after connectionCap). */
  max: number;
  /** Connections at once from one address (IPv6: one /56). */
  perAddress: number;
  /** Addresses exempt from `perAddress`: trusted proxies, which carry many clients' connections. */
  exempt: (address: string) => boolean;
}

/**
 * Bounds the connections the server holds. Over `max`, node closes a new connection as soon as
 * it is accepted; over `perAddress`, so do we: one address cannot take every slot, and sockets
 * cannot take the descriptors that file I/O and `sync` need (EMFILE). Already-open connections
 * (a mount's keep-alive pool) carry on.
 */
export function limitConnections(server: Server, limits: ConnectionLimits, log: Logger): void {
  server.maxConnections = limits.max;
  const refused = throttledWarning(log);
  server.on('drop', (data?: { remoteAddress?: string }) => refused('max', data?.remoteAddress));
  const open = new KeyedCounter();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined || limits.exempt(address)) return;
    const key = ipKeyGenerator(address);
    const count = open.add(key);
    socket.once('close', () => open.remove(key));
    if (count > limits.perAddress) {
      refused('perAddress', address);
      socket.destroy();
    }
  });
}

/** A warning per kind of refusal at most every WARN_EVERY_MS, with how many since the last one. */
function throttledWarning(log: Logger): (kind: 'max' | 'perAddress', address: string | undefined) => void {
  const state = { max: { count: 0, last: 0 }, perAddress: { count: 0, last: 0 } };
  return (kind, address) => {
    const s = state[kind];
    s.count++;
    const now = Date.now();
    if (now - s.last < WARN_EVERY_MS) return;
    s.last = now;
    log.warn({ address, refused: s.count }, kind === 'max'
      ? 'connection refused: --max-connections reached'
      : 'connection refused: --max-connections-per-address reached for this address');
    s.count = 0;
  };
}
