import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { InFlightLimiter, Release } from './in-flight.js';
import { KEY_PREFIX, stateCall } from './redis-connection.js';
import { ALIVE_MS, alive } from './redis-usage.js';

/**
 * A slot is a member of the user's sorted set, `<server instance>/<random>`, scored by when it
 * lapses: no slot outlives SLOT_MS, and the slots of a server killed while holding them go once
 * its heartbeat has lapsed (else a crash with the user's requests in flight answered 429 on
 * every other server for SLOT_MS).
 */
const SLOT_MS = 10 * 60_000;

// Dead servers' slots are looked for only when the set is full: a request that finds room pays
// for no walk. The asking server is alive: its heartbeat is renewed here (as RESERVE does), so
// that its own slots count even before its next beat after Redis lost its keys.
const ACQUIRE = `
redis.call('SET', ARGV[4] .. ARGV[5], '1', 'PX', ARGV[6])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  for _, slot in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local instance = string.match(slot, '^(.+)/')
    if instance and redis.call('EXISTS', ARGV[4] .. instance) == 0 then redis.call('ZREM', KEYS[1], slot) end
  end
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

export class RedisInFlightLimiter implements InFlightLimiter {
  /** `instance`: this server's, whose heartbeat keeps its slots (see RedisUsageStore). */
  constructor(private readonly redis: Redis, private readonly max: number, private readonly instance: string) {}

  async tryAcquire(user: string): Promise<Release | undefined> {
    const key = `${KEY_PREFIX}inflight:${user}`;
    const slot = `${this.instance}/${randomBytes(8).toString('hex')}`;
    const ok = await stateCall(() => this.redis.eval(ACQUIRE, 1, key, String(this.max), String(SLOT_MS), slot, alive(''), this.instance, String(ALIVE_MS)) as Promise<number>);
    if (ok !== 1) return undefined;
    return async () => {
      await stateCall(() => this.redis.zrem(key, slot));
    };
  }
}
