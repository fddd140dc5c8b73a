import { createHash, timingSafeEqual } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { DEFAULT_SCRYPT, hashPassword, verifyPassword } from './password-hash.js';
import { loadUsers, type UserRecord } from './users-file.js';

/** Checks credentials against the users file (re-read when it changes on disk). */
export class Authenticator {
  private users = new Map<string, UserRecord>();
  /** mtime and size of the file as last loaded: a login re-reads it when they change. */
  private loadedStamp = '';
  private dummyHash: Promise<string> | undefined;
  /** What was last warned about, so a reload repeats a warning only when it changed. */
  private warned = '';

  constructor(private readonly file: string, private readonly log: Logger) {}

  /** Reads the file; `stamp` is its mtime/size/inode when the caller has just taken it. */
  async load(stamp?: string): Promise<void> {
    stamp ??= await this.stamp();
    this.users = await loadUsers(this.file);
    this.loadedStamp = stamp;
    const legacy = [...this.users.values()].filter((u) => u.legacy).map((u) => u.name);
    const state = `${legacy.join(',')}|${this.users.size === 0}`;
    if (state === this.warned) return;
    this.warned = state;
    if (legacy.length > 0) {
      this.log.warn({ users: legacy }, 'plaintext passwords in the users file; rehash them with "rdrive-server user passwd NAME"');
    }
    if (this.users.size === 0) this.log.warn({ file: this.file }, 'no users defined; add one with "rdrive-server user add NAME"');
  }

  private async stamp(): Promise<string> {
    const st = await stat(this.file).catch(() => undefined);
    return st === undefined ? 'missing' : `${st.mtimeMs}:${st.size}:${st.ino}`;
  }

  /** True when the password is right. Unknown users cost the same time as known ones. */
  async verify(user: string, password: string): Promise<boolean> {
    // A stat per login (rare, and each costs a scrypt anyway) picks up `user add` at once.
    const stamp = await this.stamp();
    if (stamp !== this.loadedStamp) {
      await this.load(stamp).catch((err: unknown) => {
        // Keep serving the users last read well; say why the edit was not taken.
        this.loadedStamp = stamp;
        this.log.error({ reason: (err as Error).message }, 'users file changed but cannot be used; keeping the previous users');
      });
    }
    const record = this.users.get(user);
    // A legacy (plain) line compares at once; it pays the scrypt anyway, or its answer time
    // would tell which names exist (3-20 ms against ~0.7 s).
    if (record === undefined || record.legacy) {
      this.dummyHash ??= hashPassword('not-a-password', DEFAULT_SCRYPT);
      await verifyPassword(password, await this.dummyHash);
      return record !== undefined && equalSecrets(password, record.secret);
    }
    return verifyPassword(password, record.secret);
  }
}

function equalSecrets(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}
