import { randomBytes } from 'node:crypto';

export interface Session {
  token: string;
  user: string;
}

/** `evicted`: the user whose least recently used session gave its slot up (fair share). */
export type CreateResult = { ok: true; session: Session; evicted?: string } | { ok: false; retryAfter: number };

/**
 * Where sessions live: in this process (MemorySessionStore) or in Redis (RedisSessionStore), so
 * that a token issued by one server works on every other and --max-clients counts them all.
 */
export interface SessionStore {
  /**
   * A new session, unless `maxSessions` live ones exist (expired ones are reclaimed first). When
   * full, a user holding at least two sessions more than the requester gives up their least
   * recently used one (fairShareVictim), so no single user can keep everyone else out.
   */
  create(user: string): Promise<CreateResult>;
  /**
   * Whether create() would find room for a user holding no session (the most a newcomer can
   * hope for): undefined when it would, else create's retryAfter. A login asks before its
   * password check, so a full server refuses without paying for one; the answer is the same
   * for every name, so it tells nothing about which names exist or hold sessions.
   */
  fullRetryAfter(): Promise<number | undefined>;
  /** The live session for a token, its idle clock restarted; undefined when unknown or expired. */
  touch(token: string): Promise<Session | undefined>;
  remove(token: string): Promise<void>;
  /** Ends every session of `user` (removed from the users file, or given a new password); returns how many. */
  removeUser(user: string): Promise<number>;
  count(): Promise<number>;
  /** Drops expired sessions; returns how many. */
  sweep(): Promise<number>;
}

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, Session & { lastSeen: number }>();

  constructor(
    private readonly idleMs: number,
    private readonly maxSessions: number,
    private readonly now: () => number = Date.now,
  ) {}

  async create(user: string): Promise<CreateResult> {
    await this.sweep();
    let evicted: string | undefined;
    if (this.sessions.size >= this.maxSessions) {
      const victim = fairShareVictim([...this.sessions.values()], user);
      if (victim === undefined) return { ok: false, retryAfter: this.retryAfter() };
      evicted = this.sessions.get(victim)?.user;
      this.sessions.delete(victim);
    }
    const session = { token: newToken(), user, lastSeen: this.now() };
    this.sessions.set(session.token, session);
    return { ok: true, session: { token: session.token, user }, ...(evicted === undefined ? {} : { evicted }) };
  }

  async fullRetryAfter(): Promise<number | undefined> {
    await this.sweep();
    if (this.sessions.size < this.maxSessions) return undefined;
    // '' is no user's name (a login needs one): a requester holding nothing.
    return fairShareVictim([...this.sessions.values()], '') === undefined ? this.retryAfter() : undefined;
  }

  /** Seconds until the least recently used session expires and frees its slot. */
  private retryAfter(): number {
    const oldest = Math.min(...[...this.sessions.values()].map((s) => s.lastSeen));
    return Math.max(1, Math.ceil((oldest + this.idleMs - this.now()) / 1000));
  }

  async touch(token: string): Promise<Session | undefined> {
    const session = this.sessions.get(token);
    if (session === undefined) return undefined;
    if (this.expired(session.lastSeen)) {
      this.sessions.delete(token);
      return undefined;
    }
    session.lastSeen = this.now();
    return { token, user: session.user };
  }

  async remove(token: string): Promise<void> {
    this.sessions.delete(token);
  }

  async removeUser(user: string): Promise<number> {
    let ended = 0;
    for (const [token, session] of this.sessions) {
      if (session.user === user) {
        this.sessions.delete(token);
        ended++;
      }
    }
    return ended;
  }

  async count(): Promise<number> {
    await this.sweep();
    return this.sessions.size;
  }

  async sweep(): Promise<number> {
    let dropped = 0;
    for (const [token, session] of this.sessions) {
      if (this.expired(session.lastSeen)) {
        this.sessions.delete(token);
        dropped++;
      }
    }
    return dropped;
  }

  private expired(lastSeen: number): boolean {
    return this.now() - lastSeen >= this.idleMs;
  }
}

/**
 * With every slot taken, the session that makes room for `requester`: the least recently used
 * one of the user holding the most, if they hold at least two more than the requester (so the
 * exchange never just moves the imbalance, and a user never evicts themselves). Redis runs the
 * same rule in its create script (redis-sessions.ts).
 */
export function fairShareVictim(sessions: ReadonlyArray<{ token: string; user: string; lastSeen: number }>, requester: string): string | undefined {
  const held = new Map<string, { count: number; lru: { token: string; lastSeen: number } }>();
  for (const s of sessions) {
    const entry = held.get(s.user);
    if (entry === undefined) held.set(s.user, { count: 1, lru: s });
    else {
      entry.count++;
      if (s.lastSeen < entry.lru.lastSeen) entry.lru = s;
    }
  }
  let top: { count: number; lru: { token: string; lastSeen: number } } | undefined;
  for (const entry of held.values()) {
    if (top === undefined || entry.count > top.count || (entry.count === top.count && entry.lru.lastSeen < top.lru.lastSeen)) top = entry;
  }
  const mine = held.get(requester)?.count ?? 0;
  return top !== undefined && top.count >= mine + 2 ? top.lru.token : undefined;
}
