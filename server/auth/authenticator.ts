import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { DEFAULT_SCRYPT, hashPassword, verifyPassword } from './password-hash.js';
import { loadUsers, type UserRecord } from './users-file.js';

/** Checks credentials against the users file (re-read when it changes on disk). */
export class Authenticator {
  private users = new Map<string, UserRecord>();
  private loadedAt = 0;
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly file: string, private readonly log: Logger) {}

  async load(): Promise<void> {
    this.users = await loadUsers(this.file);
    this.loadedAt = Date.now();
    const legacy = [...this.users.values()].filter((u) => u.legacy).map((u) => u.name);
    if (legacy.length > 0) {
      this.log.warn({ users: legacy }, 'plaintext passwords in the users file; rehash them with "rdrive-server user passwd NAME"');
    }
    if (this.users.size === 0) this.log.warn({ file: this.file }, 'no users defined; add one with "rdrive-server user add NAME"');
  }

  /** True when the password is right. Unknown users cost the same time as known ones. */
  async verify(user: string, password: string): Promise<boolean> {
    if (Date.now() - this.loadedAt > 5_000) await this.load().catch(() => undefined);
    const record = this.users.get(user);
    if (record === undefined) {
      this.dummyHash ??= hashPassword('not-a-password', DEFAULT_SCRYPT);
      await verifyPassword(password, await this.dummyHash);
      return false;
    }
    if (record.legacy) return equalSecrets(password, record.secret);
    return verifyPassword(password, record.secret);
  }
}

function equalSecrets(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}
