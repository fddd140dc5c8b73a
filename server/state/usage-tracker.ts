/**
 * Bytes used per user, for quotas: computed once by walking the folder, then kept current by
 * the writes themselves, so a quota check costs no walk.
 */
export class UsageTracker {
  private readonly used = new Map<string, Promise<number>>();

  constructor(private readonly measure: (user: string) => Promise<number>) {}

  async get(user: string): Promise<number> {
    let value = this.used.get(user);
    if (value === undefined) {
      value = this.measure(user);
      this.used.set(user, value);
    }
    return value;
  }

  /** Keeps a known figure current; with none yet there is nothing to keep (the first get walks). */
  async add(user: string, delta: number): Promise<void> {
    const known = this.used.get(user);
    if (known === undefined) return;
    const updated = known.then((used) => Math.max(0, used + delta));
    this.used.set(user, updated);
    await updated;
  }

  /** Forget the figure (after a recursive delete): the next get walks again. */
  invalidate(user: string): void {
    this.used.delete(user);
  }
}
