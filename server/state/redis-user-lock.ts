import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { RdriveError } from '../../common/errors.js';
import type { SharedUserLock } from '../storage/user-locks.js';
import { KEY_PREFIX, stateCall } from './redis-connection.js';

/**
 * How long a holder keeps the lock at most: a step is a stat and a rename, and a server killed
 * while holding it must not stop the user's writes on the others for longer than this.
 */
const LOCK_MS = 5_000;
/** A step that cannot get the lock within this long answers 503 (retryable) rather than wait on. */
const WAIT_MS = 15_000;

// Deletes the lock only while it is still this holder's (it may have lapsed and been taken).
const UNLOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** The user's lock in Redis, for servers that share storage (see UserLocks). */
export function redisUserLock(redis: Redis): SharedUserLock {
  return async (user) => {
    const key = `${KEY_PREFIX}lock:${user}`;
    const token = randomBytes(8).toString('hex');
    // Steps take milliseconds: poll from 1 ms, doubling up to 50 ms.
    for (let waited = 0, pause = 1; ; waited += pause, pause = Math.min(pause * 2, 50)) {
      if ((await stateCall(() => redis.set(key, token, 'PX', LOCK_MS, 'NX'))) === 'OK') break;
      if (waited >= WAIT_MS) throw new RdriveError('UNAVAILABLE', 'Another server kept this user\'s files busy; retry in a moment', { retryAfter: 1 });
      await sleep(pause);
    }
    // The change is made by now: a failure to unlock must not fail it (the lock lapses by itself).
    return async () => {
      await redis.eval(UNLOCK, 1, key, token).catch(() => undefined);
    };
  };
}
