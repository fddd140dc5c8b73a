import type { Store } from 'express-rate-limit';
import type { Logger } from 'pino';
import { RedisStore } from 'rate-limit-redis';
import type { Redis } from 'ioredis';
import { RdriveError } from '../../common/errors.js';
import { MemoryInFlightLimiter, type InFlightLimiter } from './in-flight.js';
import { MemoryLoginBackoff, backoffPolicy, type LoginBackoff } from './login-backoff.js';
import { SERVER_INSTANCE } from '../instance.js';
import { KEY_PREFIX, connectRedis, stateCall } from './redis-connection.js';
import { RedisInFlightLimiter } from './redis-in-flight.js';
import { RedisLoginBackoff } from './redis-login-backoff.js';
import { RedisSessionStore } from './redis-sessions.js';
import { RedisUsageStore, instanceAlive } from './redis-usage.js';
import { redisUserLock } from './redis-user-lock.js';
import type { SharedUserLock } from '../storage/user-locks.js';
import { MemorySessionStore, type SessionStore } from './session-store.js';
import { MemoryUsageStore, type Usage, type UsageStore } from './usage-tracker.js';

/** Every piece of state a server keeps beyond the files: one process's, or shared in Redis. */
export interface StateStores {
  kind: 'memory' | 'redis';
  sessions: SessionStore;
  inFlight: InFlightLimiter;
  usage: UsageStore;
  loginBackoff: LoginBackoff;
  /** A store for one express-rate-limit limiter; undefined: the limiter's own memory store. */
  rateLimitStore?: (prefix: string) => Store;
  /** Shared state only: whether another server (by its SERVER_INSTANCE) is still running. */
  isInstanceLive?: (instance: string) => Promise<boolean>;
  /** Shared state only: a user's lock across the servers, for the storage's measure-then-change steps. */
  userLock?: SharedUserLock;
  close(): Promise<void>;
}

export interface StateLimits {
  idleMs: number;
  maxClients: number;
  maxInFlightPerUser: number;
  loginAttempts: number;
}

export function memoryStores(limits: StateLimits, measure: (user: string) => Promise<Usage>): StateStores {
  return {
    kind: 'memory',
    sessions: new MemorySessionStore(limits.idleMs, limits.maxClients),
    inFlight: new MemoryInFlightLimiter(limits.maxInFlightPerUser),
    usage: new MemoryUsageStore(measure),
    loginBackoff: new MemoryLoginBackoff(backoffPolicy(limits.loginAttempts)),
    close: async () => undefined,
  };
}

/**
 * State shared by every server started with the same --redis URL. The connection is tried
 * once at start (a wrong URL is an error then); later outages answer 503 until Redis is back.
 */
export async function redisStores(url: string, limits: StateLimits, measure: (user: string) => Promise<Usage>, log: Logger): Promise<StateStores> {
  const redis = connectRedis(url, log);
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    // An RdriveError keeps this message through the server's one catch (a plain Error became "Input/output error").
    throw new RdriveError('UNAVAILABLE', `Cannot reach Redis at ${redactUrl(url)} (${(err as Error).message}): start it or fix --redis`, { cause: err });
  }
  return redisStoresOn(redis, limits, measure);
}

export function redisStoresOn(redis: Redis, limits: StateLimits, measure: (user: string) => Promise<Usage>): StateStores {
  const usage = new RedisUsageStore(redis, SERVER_INSTANCE, measure);
  return {
    kind: 'redis',
    sessions: new RedisSessionStore(redis, limits.idleMs, limits.maxClients),
    inFlight: new RedisInFlightLimiter(redis, limits.maxInFlightPerUser, SERVER_INSTANCE),
    usage,
    loginBackoff: new RedisLoginBackoff(redis, backoffPolicy(limits.loginAttempts)),
    rateLimitStore: (prefix) => new RedisStore({
      prefix: `${KEY_PREFIX}rl:${prefix}`,
      // NOSCRIPT (Redis restarted, its script cache empty) must reach the store, which reloads
      // its script; other failures are the one 503.
      sendCommand: (...args: string[]) => stateCall(() => redis.call(args[0]!, ...args.slice(1)) as Promise<never>, (err) => /^NOSCRIPT/.test(err.message)),
    }),
    isInstanceLive: (instance) => instanceAlive(redis, instance),
    userLock: redisUserLock(redis),
    close: async () => {
      usage.stop();
      redis.disconnect();
    },
  };
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
