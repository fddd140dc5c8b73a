import { createHash, timingSafeEqual } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { DEFAULT_SCRYPT, hashPassword, verifyPassword } from './password-hash.js';
import { loadUsers, looseModeProblem, type UserRecord } from './users-file.js';

/** At most one look at the users file per this long from requests (a login always looks). */
const RECHECK_MS = 1000;
/**
 * A change that removes users must have held this long, unchanged, before their sessions end:
 * a file rewritten in place (`cat > users.txt`, an editor, a config tool) is briefly empty or
 * cut, and that moment ended every session of every user, each mount then queueing for a
 * password check.
 */
const SETTLE_MS = 1000;

/**
 * Checks credentials against the users file (re-read when it changes on disk). A user the file
 * no longer has, or has with another password, loses their sessions once the change has held for
 * SETTLE_MS (`revoke`, retried until it works): a mount keeps its session alive for as long as it
 * is used, so waiting for the next login would leave a removed user (or whoever holds their
 * token) in for good. Logins follow the file at once. With
 * several servers each ends them when it reads the change; one that reads it late may also end
 * a session just made with the new password, whose client then logs in again.
 */
export class Authenticator {
  private users = new Map<string, UserRecord>();
  /** mtime and size of the file as last loaded: a login re-reads it when they change. */
  private loadedStamp = '';
  /** The last re-read queued: one at a time, as two that overlapped could end a session made between them. */
  private reading: Promise<void> | undefined;
  private checkedAt = 0;
  /** Every record seen since sessions were last ended: whose sessions may exist. */
  private sessionsFrom = new Map<string, UserRecord>();
  /** The file's stamp and when it was read, while a change may still end sessions. */
  private unsettled: { stamp: string; at: number } | undefined;
  private dummyHash: Promise<string> | undefined;
  /** What was last warned about, so a reload repeats a warning only when it changed. */
  private warned = '';

  constructor(
    private readonly file: string,
    private readonly log: Logger,
    private readonly revoke: (users: string[]) => Promise<void> = async () => undefined,
  ) {}

  /** Reads the file; `stamp` is its mtime/size/inode when the caller has just taken it. */
  async load(stamp?: string): Promise<void> {
    stamp ??= await this.stamp();
    const users = await loadUsers(this.file);
    this.users = users;
    this.loadedStamp = stamp;
    for (const [name, record] of users) if (!this.sessionsFrom.has(name)) this.sessionsFrom.set(name, record);
    this.unsettled = this.gone().length > 0 ? { stamp, at: Date.now() } : undefined;
    const legacy = [...this.users.values()].filter((u) => u.legacy).map((u) => u.name);
    const loose = await looseModeProblem(this.file);
    const state = `${legacy.join(',')}|${this.users.size === 0}|${loose ?? ''}`;
    if (state === this.warned) return;
    this.warned = state;
    if (legacy.length > 0) {
      this.log.warn({ users: legacy }, 'plaintext passwords in the users file; rehash them with "rdrive-server user passwd NAME"');
    }
    if (this.users.size === 0) this.log.warn({ file: this.file }, 'no users defined; add one with "rdrive-server user add NAME"');
    if (loose !== undefined) this.log.warn({ file: this.file }, `users file ${this.file} is ${loose}`);
  }

  private async stamp(): Promise<string> {
    const st = await stat(this.file).catch(() => undefined);
    return st === undefined ? 'missing' : `${st.mtimeMs}:${st.size}:${st.ino}`;
  }

  /**
   * Re-reads the file if it changed, at most once a second: called before each request is let
   * in, so a removed user's sessions end within about a second, at the cost of a stat a second.
   */
  async recheck(): Promise<void> {
    if (Date.now() - this.checkedAt < RECHECK_MS) return this.reading;
    return this.reread();
  }

  /** A fresh look, after the one under way (which may have looked before the latest change). */
  private reread(): Promise<void> {
    this.checkedAt = Date.now();
    const next = (this.reading ?? Promise.resolve()).then(() => this.rereadIfChanged());
    this.reading = next;
    return next;
  }

  /** Users whose sessions may exist but whom the file no longer has with the same password. */
  private gone(): string[] {
    return [...this.sessionsFrom].filter(([name, record]) => this.users.get(name)?.secret !== record.secret).map(([name]) => name);
  }

  /** Ends the sessions of the users a change that has held SETTLE_MS removed; again next time if that failed. */
  private async endSettled(stamp: string): Promise<void> {
    if (this.unsettled === undefined || this.unsettled.stamp !== stamp || Date.now() - this.unsettled.at < SETTLE_MS) return;
    const gone = this.gone();
    try {
      if (gone.length > 0) await this.revoke(gone);
    } catch (err) {
      this.log.error({ users: gone, err }, 'could not end the sessions of users removed or given a new password; trying again at the next request');
      return;
    }
    this.sessionsFrom = new Map(this.users);
    this.unsettled = undefined;
  }

  private async rereadIfChanged(): Promise<void> {
    const stamp = await this.stamp();
    if (stamp === this.loadedStamp) {
      await this.endSettled(stamp);
      return;
    }
    await this.load(stamp).catch((err: unknown) => {
      // Keep serving the users last read well; say why the edit was not taken.
      this.loadedStamp = stamp;
      this.log.error({ reason: (err as Error).message }, 'users file changed but cannot be used; keeping the previous users');
    });
  }

  /** The user's record when the password is right. Unknown users cost the same time as known ones. */
  async verify(user: string, password: string): Promise<UserRecord | undefined> {
    // A stat per login (rare, and each costs a scrypt anyway) picks up `user add` at once.
    await this.reread();
    const record = this.users.get(user);
    // A legacy (plain) line compares at once; it pays the scrypt anyway, or its answer time
    // would tell which names exist (3-20 ms against ~0.7 s).
    if (record === undefined || record.legacy) {
      this.dummyHash ??= hashPassword('not-a-password', DEFAULT_SCRYPT);
      await verifyPassword(password, await this.dummyHash);
      return record !== undefined && equalSecrets(password, record.secret) ? record : undefined;
    }
    return (await verifyPassword(password, record.secret)) ? record : undefined;
  }

  /**
   * False when the file, looked at afresh, no longer has `record` (its user removed or given a
   * new password). A login asks once its session is made: a re-read during its password check
   * (a second of scrypt), here or on another server, ended the user's sessions before that one
   * existed.
   */
  /**
   * Before a session is made with `record`, the user's current one: the sessions made with an
   * earlier record of the user (the old password) end now, not when the change settles, since
   * that would end this new session too (a login with the new password moments after the change
   * got its session ended, and a client refused a fresh session does not log in again at once).
   */
  async settleBeforeLogin(record: UserRecord): Promise<void> {
    const before = this.sessionsFrom.get(record.name);
    if (before === undefined || before.secret === record.secret) return;
    await this.revoke([record.name]);
    this.sessionsFrom.set(record.name, record);
  }

  async stillHas(record: UserRecord): Promise<boolean> {
    await this.reread();
    return this.users.get(record.name)?.secret === record.secret;
  }
}

function equalSecrets(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}
