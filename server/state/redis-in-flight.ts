import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { InFlightLimiter, Release } from './in-flight.js';
import { KEY_PREFIX, stateCall } from './redis-connection.js';

/**
 * A slot is a member of the user's sorted set, scored by when it lapses: a server killed with
 * slots taken cannot keep them for longer than SLOT_MS.
 */
const SLOT_MS = 10 * 60_000;

const ACQUIRE = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

export class RedisInFlightLimiter implements InFlightLimiter {
  constructor(private readonly redis: Redis, private readonly max: number) {}

  async tryAcquire(user: string): Promise<Release | undefined> {
    const key = `${KEY_PREFIX}inflight:${user}`;
    const slot = randomBytes(8).toString('hex');
    const ok = await stateCall(() => this.redis.eval(ACQUIRE, 1, key, String(this.max), String(SLOT_MS), slot) as Promise<number>);
    if (ok !== 1) return undefined;
    return async () => {
      await stateCall(() => this.redis.zrem(key, slot));
    };
  }
}
