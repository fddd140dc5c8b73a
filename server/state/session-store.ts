import { randomBytes } from 'node:crypto';

export interface Session {
  token: string;
  user: string;
  lastSeen: number;
}

export type CreateResult = { ok: true; session: Session } | { ok: false; retryAfter: number };

/**
 * Where sessions live. In-process now; a Redis implementation lets several server processes
 * share them (see DESIGN.md, "Where users outgrow one machine").
 */
export interface SessionStore {
  /** A new session, unless `maxSessions` live ones exist (expired ones are reclaimed first). */
  create(user: string): CreateResult;
  /** The live session for a token, its idle clock restarted; undefined when unknown or expired. */
  touch(token: string): Session | undefined;
  remove(token: string): void;
  count(): number;
  /** Drops expired sessions; returns how many. */
  sweep(): number;
}

export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly idleMs: number,
    private readonly maxSessions: number,
    private readonly now: () => number = Date.now,
  ) {}

  create(user: string): CreateResult {
    this.sweep();
    if (this.sessions.size >= this.maxSessions) {
      const oldest = Math.min(...[...this.sessions.values()].map((s) => s.lastSeen));
      return { ok: false, retryAfter: Math.max(1, Math.ceil((oldest + this.idleMs - this.now()) / 1000)) };
    }
    const session = { token: randomBytes(32).toString('base64url'), user, lastSeen: this.now() };
    this.sessions.set(session.token, session);
    return { ok: true, session };
  }

  touch(token: string): Session | undefined {
    const session = this.sessions.get(token);
    if (session === undefined) return undefined;
    if (this.expired(session)) {
      this.sessions.delete(token);
      return undefined;
    }
    session.lastSeen = this.now();
    return session;
  }

  remove(token: string): void {
    this.sessions.delete(token);
  }

  count(): number {
    this.sweep();
    return this.sessions.size;
  }

  sweep(): number {
    let dropped = 0;
    for (const [token, session] of this.sessions) {
      if (this.expired(session)) {
        this.sessions.delete(token);
        dropped++;
      }
    }
    return dropped;
  }

  private expired(session: Session): boolean {
    return this.now() - session.lastSeen >= this.idleMs;
  }
}
