/**
 * Progressive back-off per user name, against guessing spread over many addresses (OWASP:
 * prefer slowing down to locking out). Once a name has had `threshold` failed logins within the
 * window, each further attempt on it must wait 1 s, 2 s, 4 s ... (at most `maxDelayMs`) after the
 * last failure. A refused attempt is not a failure, so waiting out the delay always works; and
 * an address that has logged in as that user before is exempt, so a stranger hammering a name
 * cannot keep its owner out.
 */
export interface LoginBackoff {
  /** Milliseconds this address must wait before trying this name again; 0 = go ahead. */
  waitMs(user: string, ip: string): Promise<number>;
  failed(user: string): Promise<void>;
  /** Remembers the address as the user's own (exempt from the name's back-off). */
  succeeded(user: string, ip: string): Promise<void>;
}

export interface BackoffPolicy {
  threshold: number;
  windowMs: number;
  maxDelayMs: number;
  /** How long a successful login keeps its address exempt. */
  trustMs: number;
}

export function backoffPolicy(threshold: number): BackoffPolicy {
  return { threshold, windowMs: 15 * 60_000, maxDelayMs: 60_000, trustMs: 30 * 24 * 3600_000 };
}

/** Pure: the delay owed after `failures` failures on a name. */
export function backoffDelayMs(failures: number, policy: BackoffPolicy): number {
  if (failures < policy.threshold) return 0;
  return Math.min(policy.maxDelayMs, 1000 * 2 ** (failures - policy.threshold));
}

/** Within one server process. */
export class MemoryLoginBackoff implements LoginBackoff {
  private readonly names = new Map<string, { failures: number; first: number; last: number }>();
  private readonly trusted = new Map<string, number>();

  constructor(private readonly policy: BackoffPolicy, private readonly now: () => number = Date.now) {}

  async waitMs(user: string, ip: string): Promise<number> {
    const until = this.trusted.get(`${user}\n${ip}`);
    if (until !== undefined && until > this.now()) return 0;
    const entry = this.current(user);
    if (entry === undefined) return 0;
    return Math.max(0, entry.last + backoffDelayMs(entry.failures, this.policy) - this.now());
  }

  async failed(user: string): Promise<void> {
    const now = this.now();
    const entry = this.current(user) ?? { failures: 0, first: now, last: now };
    entry.failures++;
    entry.last = now;
    this.names.set(user, entry);
    if (this.names.size > 100_000) this.sweep();
  }

  async succeeded(user: string, ip: string): Promise<void> {
    this.trusted.set(`${user}\n${ip}`, this.now() + this.policy.trustMs);
    if (this.trusted.size > 100_000) this.sweep();
  }

  private current(user: string): { failures: number; first: number; last: number } | undefined {
    const entry = this.names.get(user);
    if (entry !== undefined && this.now() - entry.first >= this.policy.windowMs) {
      this.names.delete(user);
      return undefined;
    }
    return entry;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, until] of this.trusted) if (until <= now) this.trusted.delete(key);
    for (const [name, entry] of this.names) if (now - entry.first >= this.policy.windowMs) this.names.delete(name);
  }
}
