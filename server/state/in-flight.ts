/** Counts requests in flight per user; a Redis-backed version would share the slots. */
export class InFlightLimiter {
  private readonly counts = new Map<string, number>();

  constructor(private readonly max: number) {}

  tryAcquire(user: string): boolean {
    const current = this.counts.get(user) ?? 0;
    if (current >= this.max) return false;
    this.counts.set(user, current + 1);
    return true;
  }

  release(user: string): void {
    const current = this.counts.get(user) ?? 0;
    if (current <= 1) this.counts.delete(user);
    else this.counts.set(user, current - 1);
  }
}
