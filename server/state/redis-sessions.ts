import type { Redis } from 'ioredis';
import { KEY_PREFIX, stateCall } from './redis-connection.js';
import { newToken, type CreateResult, type Session, type SessionStore } from './session-store.js';

const INDEX = `${KEY_PREFIX}sessions`;
const session = (token: string): string => `${KEY_PREFIX}session:${token}`;

// The index is a sorted set token → last use (ms, Redis's own clock, the same for every server);
// each session's user sits in its own key that expires after the idle time. Counting and adding
// run in one script: the max-clients check is atomic across servers. Without a token (ARGV[3]
// empty) it only says whether there is room (fullRetryAfter), changing nothing.
const CREATE = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local idle = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - idle)
local evicted = false
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  -- Fair share (fairShareVictim in session-store.ts): oldest use first, so each user's first
  -- token seen is their least recently used one.
  local tokens = redis.call('ZRANGE', KEYS[1], 0, -1)
  local count, lru, users = {}, {}, {}
  local top = nil
  for _, token in ipairs(tokens) do
    local user = redis.call('GET', ARGV[5] .. token)
    if user then
      count[user] = (count[user] or 0) + 1
      if lru[user] == nil then
        lru[user] = token
        users[#users + 1] = user
      end
    end
  end
  -- Users in the order of their least recently used session: ties go to the oldest.
  for _, user in ipairs(users) do
    if top == nil or count[user] > count[top] then top = user end
  end
  if top == nil or count[top] < (count[ARGV[4]] or 0) + 2 then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {0, tonumber(oldest[2]) + idle - now}
  end
  if ARGV[3] == '' then return {1, 0} end
  redis.call('DEL', ARGV[5] .. lru[top])
  redis.call('ZREM', KEYS[1], lru[top])
  evicted = top
end
if ARGV[3] == '' then return {1, 0} end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('SET', KEYS[2], ARGV[4], 'PX', idle)
if evicted then return {1, 0, evicted} end
return {1, 0}`;

const TOUCH = `
local user = redis.call('GET', KEYS[2])
if not user then
  redis.call('ZREM', KEYS[1], ARGV[2])
  return false
end
local t = redis.call('TIME')
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], t[1] * 1000 + math.floor(t[2] / 1000), ARGV[2])
return user`;

// Every session in the index (at most --max-clients of them) whose user is ARGV[2].
const REMOVE_USER = `
local ended = 0
for _, token in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('GET', ARGV[1] .. token) == ARGV[2] then
    redis.call('DEL', ARGV[1] .. token)
    redis.call('ZREM', KEYS[1], token)
    ended = ended + 1
  end
end
return ended`;

const SWEEP = `
local t = redis.call('TIME')
return redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t[1] * 1000 + math.floor(t[2] / 1000) - tonumber(ARGV[1]))`;

export class RedisSessionStore implements SessionStore {
  constructor(private readonly redis: Redis, private readonly idleMs: number, private readonly maxSessions: number) {}

  async create(user: string): Promise<CreateResult> {
    const token = newToken();
    const idle = String(Math.round(this.idleMs));
    const [ok, waitMs, evicted] = await stateCall(() => this.redis.eval(CREATE, 2, INDEX, session(token), idle, String(this.maxSessions), token, user, session('')) as Promise<[number, number, string?]>);
    if (ok === 1) return { ok: true, session: { token, user }, ...(evicted === undefined ? {} : { evicted }) };
    return { ok: false, retryAfter: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  async fullRetryAfter(): Promise<number | undefined> {
    const idle = String(Math.round(this.idleMs));
    // No token and no user ('' is no one's name): the script only looks.
    const [ok, waitMs] = await stateCall(() => this.redis.eval(CREATE, 2, INDEX, session(''), idle, String(this.maxSessions), '', '', session('')) as Promise<[number, number]>);
    return ok === 1 ? undefined : Math.max(1, Math.ceil(waitMs / 1000));
  }

  async touch(token: string): Promise<Session | undefined> {
    const user = await stateCall(() => this.redis.eval(TOUCH, 2, INDEX, session(token), String(Math.round(this.idleMs)), token) as Promise<string | null>);
    return user === null ? undefined : { token, user };
  }

  async remove(token: string): Promise<void> {
    await stateCall(() => this.redis.multi().del(session(token)).zrem(INDEX, token).exec());
  }

  async removeUser(user: string): Promise<number> {
    return stateCall(() => this.redis.eval(REMOVE_USER, 1, INDEX, session(''), user) as Promise<number>);
  }

  async count(): Promise<number> {
    await this.sweep();
    return stateCall(() => this.redis.zcard(INDEX));
  }

  async sweep(): Promise<number> {
    return stateCall(() => this.redis.eval(SWEEP, 1, INDEX, String(Math.round(this.idleMs))) as Promise<number>);
  }
}
