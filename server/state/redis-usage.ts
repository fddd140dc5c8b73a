import type { Redis } from 'ioredis';
import { KEY_PREFIX, stateCall } from './redis-connection.js';
import { RdriveError } from '../../common/errors.js';
import { isNothing, NOTHING, type Over, type Usage, type UsageStore } from './usage-tracker.js';

const used = (user: string): string => `${KEY_PREFIX}used:${user}`;
const entries = (user: string): string => `${KEY_PREFIX}entries:${user}`;
const reserved = (user: string): string => `${KEY_PREFIX}reserved:${user}`;
const reservedEntries = (user: string): string => `${KEY_PREFIX}reserved-entries:${user}`;
/** The heartbeat key of a server instance (see server/instance.ts). */
export const alive = (instance: string): string => `${KEY_PREFIX}alive:${instance}`;
/** A server's heartbeat lives this long; reservations of a server without one are dropped. */
export const ALIVE_MS = 10_000;

// Reservations are a hash per user and figure: server instance → bytes (or entries) that
// server's changes hold. A server that died (no heartbeat) loses its reservations at the next
// check, so a crash never leaks quota. The sums, the checks and the increments run in one
// script: atomic across servers. Answers -1 when a used figure is not known yet (the caller
// measures and asks again), 1 or 2 when the bytes or the entries would pass their limit (0: no
// limit), 0 once reserved.
const RESERVE = `
redis.call('SET', ARGV[6] .. ARGV[5], '1', 'PX', ARGV[7])
local used = redis.call('GET', KEYS[1])
local count = redis.call('GET', KEYS[2])
if not used or not count then return -1 end
local function held(key)
  local total = 0
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    if redis.call('EXISTS', ARGV[6] .. all[i]) == 1 then total = total + tonumber(all[i + 1])
    else redis.call('HDEL', key, all[i]) end
  end
  return total
end
local needBytes, needEntries = tonumber(ARGV[1]), tonumber(ARGV[2])
local byteLimit, entryLimit = tonumber(ARGV[3]), tonumber(ARGV[4])
if needBytes > 0 and byteLimit > 0 and math.max(0, tonumber(used)) + held(KEYS[3]) + needBytes > byteLimit then return 1 end
if needEntries > 0 and entryLimit > 0 and math.max(0, tonumber(count)) + held(KEYS[4]) + needEntries > entryLimit then return 2 end
if needBytes ~= 0 then redis.call('HINCRBY', KEYS[3], ARGV[5], ARGV[1]) end
if needEntries ~= 0 then redis.call('HINCRBY', KEYS[4], ARGV[5], ARGV[2]) end
return 0`;

const SETTLE = `
for i = 1, 2 do
  if tonumber(ARGV[i]) ~= 0 then
    if redis.call('HINCRBY', KEYS[i + 2], ARGV[5], -tonumber(ARGV[i])) <= 0 then redis.call('HDEL', KEYS[i + 2], ARGV[5]) end
  end
  if tonumber(ARGV[i + 2]) ~= 0 and redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], ARGV[i + 2]) end
end
return 1`;

/** Whether the server `instance` still beats (see server/instance.ts); a Redis failure throws. */
export async function instanceAlive(redis: Redis, instance: string): Promise<boolean> {
  return (await redis.exists(alive(instance))) === 1;
}

export class RedisUsageStore implements UsageStore {
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly instance: string,
    private readonly measure: (user: string) => Promise<Usage>,
  ) {
    const beat = (): void => {
      this.redis.set(alive(instance), '1', 'PX', ALIVE_MS).catch(() => undefined);
    };
    beat();
    this.heartbeat = setInterval(beat, ALIVE_MS / 4).unref();
  }

  async get(user: string): Promise<Usage> {
    const known = await this.known(user);
    if (known !== undefined) return known;
    const measured = await this.measure(user);
    // The first server to finish the walk sets the figures; the others take them.
    await stateCall(() => this.redis.multi().set(used(user), String(measured.bytes), 'NX').set(entries(user), String(measured.entries), 'NX').exec());
    return (await this.known(user)) ?? measured;
  }

  private async known(user: string): Promise<Usage | undefined> {
    const [bytes, count] = await stateCall(() => this.redis.mget(used(user), entries(user)));
    if (bytes == null || count == null) return undefined;
    return { bytes: Math.max(0, Number(bytes)), entries: Math.max(0, Number(count)) };
  }

  async tryReserve(user: string, need: Usage, limits: Usage): Promise<Over | undefined> {
    for (let attempt = 0; ; attempt++) {
      const answer = await stateCall(() => this.redis.eval(
        RESERVE, 4, used(user), entries(user), reserved(user), reservedEntries(user),
        String(need.bytes), String(need.entries), String(limits.bytes), String(limits.entries), this.instance, alive(''), String(ALIVE_MS),
      ) as Promise<number>);
      if (answer === 0) return undefined;
      if (answer === 1) return 'bytes';
      if (answer === 2) return 'entries';
      // Not measured yet (or dropped by a recursive delete meanwhile): measure, then ask again.
      if (attempt === 3) throw new RdriveError('UNAVAILABLE', 'The usage figures kept being reset while this change waited; retry', { retryAfter: 1 });
      await this.get(user);
    }
  }

  async settle(user: string, held: Usage, delta: Usage): Promise<void> {
    if (isNothing(held) && isNothing(delta)) return;
    await stateCall(() => this.redis.eval(
      SETTLE, 4, used(user), entries(user), reserved(user), reservedEntries(user),
      String(held.bytes), String(held.entries), String(delta.bytes), String(delta.entries), this.instance,
    ));
  }

  async add(user: string, delta: Usage): Promise<void> {
    await this.settle(user, NOTHING, delta);
  }

  async invalidate(user: string): Promise<void> {
    await stateCall(() => this.redis.del(used(user), entries(user)));
  }

  stop(): void {
    clearInterval(this.heartbeat);
  }
}
