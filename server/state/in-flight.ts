/** Gives back one request's slot. */
export type Release = () => Promise<void>;

/** Bounds the requests one user has in flight, in this process or across servers (Redis). */
export interface InFlightLimiter {
  /** A slot for one request, or undefined when the user has `max` in flight already. */
  tryAcquire(user: string): Promise<Release | undefined>;
}

export class MemoryInFlightLimiter implements InFlightLimiter {
  private readonly counts = new Map<string, number>();

  constructor(private readonly max: number) {}

  async tryAcquire(user: string): Promise<Release | undefined> {
    const current = this.counts.get(user) ?? 0;
    if (current >= this.max) return undefined;
    this.counts.set(user, current + 1);
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      const now = this.counts.get(user) ?? 0;
      if (now <= 1) this.counts.delete(user);
      else this.counts.set(user, now - 1);
    };
  }
}
