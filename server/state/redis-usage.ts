import type { Redis } from 'ioredis';
import { KEY_PREFIX, stateCall } from './redis-connection.js';
import type { UsageStore } from './usage-tracker.js';

const used = (user: string): string => `${KEY_PREFIX}used:${user}`;
const reserved = (user: string): string => `${KEY_PREFIX}reserved:${user}`;
/** The heartbeat key of a server instance (see server/instance.ts). */
export const alive = (instance: string): string => `${KEY_PREFIX}alive:${instance}`;
/** A server's heartbeat lives this long; reservations of a server without one are dropped. */
export const ALIVE_MS = 10_000;

// Reservations are a hash per user: server instance → bytes that server's writes hold. A
// server that died (no heartbeat) loses its reservations at the next check, so a crash never
// leaks quota. The sum, the check and the increment run in one script: atomic across servers.
const RESERVE = `
redis.call('SET', ARGV[4] .. ARGV[3], '1', 'PX', ARGV[5])
local used = math.max(0, tonumber(redis.call('GET', KEYS[1]) or '0'))
local total = 0
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  if redis.call('EXISTS', ARGV[4] .. all[i]) == 1 then total = total + tonumber(all[i + 1])
  else redis.call('HDEL', KEYS[2], all[i]) end
end
if used + total + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[3], ARGV[1])
return 1`;

const SETTLE = `
if tonumber(ARGV[1]) ~= 0 then
  if redis.call('HINCRBY', KEYS[2], ARGV[3], -tonumber(ARGV[1])) <= 0 then redis.call('HDEL', KEYS[2], ARGV[3]) end
end
if redis.call('EXISTS', KEYS[1]) == 1 and tonumber(ARGV[2]) ~= 0 then redis.call('INCRBY', KEYS[1], ARGV[2]) end
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
    private readonly measure: (user: string) => Promise<number>,
  ) {
    const beat = (): void => {
      this.redis.set(alive(instance), '1', 'PX', ALIVE_MS).catch(() => undefined);
    };
    beat();
    this.heartbeat = setInterval(beat, ALIVE_MS / 4).unref();
  }

  async get(user: string): Promise<number> {
    const known = await stateCall(() => this.redis.get(used(user)));
    if (known !== null) return Math.max(0, Number(known));
    const measured = await this.measure(user);
    // The first server to finish the walk sets the figure; the others take it.
    await stateCall(() => this.redis.set(used(user), String(measured), 'NX'));
    return Math.max(0, Number((await stateCall(() => this.redis.get(used(user)))) ?? measured));
  }

  async tryReserve(user: string, bytes: number, limit: number): Promise<boolean> {
    await this.get(user);
    const ok = await stateCall(() => this.redis.eval(RESERVE, 2, used(user), reserved(user), String(bytes), String(limit), this.instance, alive(''), String(ALIVE_MS)) as Promise<number>);
    return ok === 1;
  }

  async settle(user: string, held: number, delta: number): Promise<void> {
    await stateCall(() => this.redis.eval(SETTLE, 2, used(user), reserved(user), String(held), String(delta), this.instance));
  }

  async add(user: string, delta: number): Promise<void> {
    if (delta !== 0) await this.settle(user, 0, delta);
  }

  async invalidate(user: string): Promise<void> {
    await stateCall(() => this.redis.del(used(user)));
  }

  stop(): void {
    clearInterval(this.heartbeat);
  }
}
