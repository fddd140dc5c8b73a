import type { Redis } from 'ioredis';
import { backoffDelayMs, type BackoffPolicy, type LoginBackoff } from './login-backoff.js';
import { KEY_PREFIX, stateCall } from './redis-connection.js';

const failures = (user: string): string => `${KEY_PREFIX}login-fail:${user}`;
const trusted = (user: string, ip: string): string => `${KEY_PREFIX}login-trust:${user}\n${ip}`;

// failures and the time of the last one, in one hash that lapses with the window.
const FAILED = `
local t = redis.call('TIME')
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('HSET', KEYS[1], 'last', t[1] * 1000 + math.floor(t[2] / 1000))
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

const STATE = `
local t = redis.call('TIME')
local v = redis.call('HMGET', KEYS[1], 'n', 'last')
return {tonumber(v[1] or '0'), tonumber(v[2] or '0'), t[1] * 1000 + math.floor(t[2] / 1000)}`;

export class RedisLoginBackoff implements LoginBackoff {
  constructor(private readonly redis: Redis, private readonly policy: BackoffPolicy) {}

  async waitMs(user: string, ip: string): Promise<number> {
    if ((await stateCall(() => this.redis.exists(trusted(user, ip)))) === 1) return 0;
    const [n, last, now] = await stateCall(() => this.redis.eval(STATE, 1, failures(user)) as Promise<[number, number, number]>);
    return Math.max(0, last + backoffDelayMs(n, this.policy) - now);
  }

  async failed(user: string): Promise<void> {
    await stateCall(() => this.redis.eval(FAILED, 1, failures(user), String(this.policy.windowMs)));
  }

  async succeeded(user: string, ip: string): Promise<void> {
    await stateCall(() => this.redis.set(trusted(user, ip), '1', 'PX', this.policy.trustMs));
  }
}
