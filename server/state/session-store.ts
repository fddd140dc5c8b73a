import { randomBytes } from 'node:crypto';

export interface Session {
  token: string;
  user: string;
}

export type CreateResult = { ok: true; session: Session } | { ok: false; retryAfter: number };

/**
 * Where sessions live: in this process (MemorySessionStore) or in Redis (RedisSessionStore), so
 * that a token issued by one server works on every other and --max-clients counts them all.
 */
export interface SessionStore {
  /** A new session, unless `maxSessions` live ones exist (expired ones are reclaimed first). */
  create(user: string): Promise<CreateResult>;
  /** The live session for a token, its idle clock restarted; undefined when unknown or expired. */
  touch(token: string): Promise<Session | undefined>;
  remove(token: string): Promise<void>;
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
    if (this.sessions.size >= this.maxSessions) {
      const oldest = Math.min(...[...this.sessions.values()].map((s) => s.lastSeen));
      return { ok: false, retryAfter: Math.max(1, Math.ceil((oldest + this.idleMs - this.now()) / 1000)) };
    }
    const session = { token: newToken(), user, lastSeen: this.now() };
    this.sessions.set(session.token, session);
    return { ok: true, session: { token: session.token, user } };
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
