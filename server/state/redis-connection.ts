import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RdriveError } from '../../common/errors.js';

/** Every key rdrive keeps in Redis starts with this, so one Redis can serve other programs too. */
export const KEY_PREFIX = 'rdrive:';

/**
 * The connection to the shared state. Commands fail at once while Redis is down (no offline
 * queue: a request must not hang), the client reconnects by itself, and every failure becomes
 * one clear 503 UNAVAILABLE (see `stateCall`).
 */
export function connectRedis(url: string, log: Logger): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 2_000,
    connectTimeout: 2_000,
    retryStrategy: () => 500,
    lazyConnect: true,
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    log.error({ err: err.message }, 'shared state (Redis) unreachable; answering 503 until it is back');
  });
  redis.on('ready', () => {
    if (down) log.info('shared state (Redis) reachable again');
    down = false;
  });
  return redis;
}

/** Runs a Redis call; any failure of the connection becomes 503 UNAVAILABLE, retryable. */
export async function stateCall<T>(fn: () => Promise<T>, passThrough: (err: Error) => boolean = () => false): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof RdriveError || (err instanceof Error && passThrough(err))) throw err;
    throw new RdriveError('UNAVAILABLE', 'Shared state (Redis) is unreachable; retry in a moment', { retryAfter: 1 });
  }
}
