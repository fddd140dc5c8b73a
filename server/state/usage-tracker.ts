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

  async add(user: string, delta: number): Promise<void> {
    const current = await this.get(user);
    this.used.set(user, Promise.resolve(Math.max(0, current + delta)));
  }

  /** Forget the figure (after a recursive delete): the next get walks again. */
  invalidate(user: string): void {
    this.used.delete(user);
  }
}
