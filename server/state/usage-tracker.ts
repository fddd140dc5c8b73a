/**
 * Bytes used per user, for quotas, and the bytes that writes in progress have reserved. The
 * used figure is computed once by walking the folder, then kept current by the writes
 * themselves, so a quota check costs no walk. A write reserves before it stores (see
 * QuotaReservation), so writes running side by side can never exceed the quota together.
 */
export interface UsageStore {
  /** Bytes of the user's stored files. */
  get(user: string): Promise<number>;
  /** Reserves `bytes` when used + reserved + bytes stays within `limit`; false otherwise. */
  tryReserve(user: string, bytes: number, limit: number): Promise<boolean>;
  /** Gives back `reserved` bytes and counts `delta` (negative when space was freed) as stored. */
  settle(user: string, reserved: number, delta: number): Promise<void>;
  /** Counts a change made without a reservation (a delete, a rename over a file). */
  add(user: string, delta: number): Promise<void>;
  /** Forgets the used figure (after a recursive delete): the next get walks again. */
  invalidate(user: string): Promise<void>;
}

/** Within one server process. */
export class MemoryUsageStore implements UsageStore {
  private readonly used = new Map<string, Promise<number>>();
  private readonly reserved = new Map<string, number>();

  constructor(private readonly measure: (user: string) => Promise<number>) {}

  async get(user: string): Promise<number> {
    let value = this.used.get(user);
    if (value === undefined) {
      value = this.measure(user);
      this.used.set(user, value);
      value.catch(() => this.used.delete(user));
    }
    return value;
  }

  async tryReserve(user: string, bytes: number, limit: number): Promise<boolean> {
    for (;;) {
      if (!this.used.has(user)) await this.get(user);
      const figure = this.used.get(user);
      if (figure === undefined) continue;
      const used = await figure;
      // Another write settled (or the figure was dropped) while this one waited: the value read
      // is stale, and a reservation on it could pass the quota. Read again.
      if (this.used.get(user) !== figure) continue;
      // No await between the check and the update: atomic within this process.
      const reserved = this.reserved.get(user) ?? 0;
      if (used + reserved + bytes > limit) return false;
      this.reserved.set(user, reserved + bytes);
      return true;
    }
  }

  async settle(user: string, reserved: number, delta: number): Promise<void> {
    const left = (this.reserved.get(user) ?? 0) - reserved;
    if (left > 0) this.reserved.set(user, left);
    else this.reserved.delete(user);
    await this.add(user, delta);
  }

  /** Keeps a known figure current; with none yet there is nothing to keep (the first get walks). */
  async add(user: string, delta: number): Promise<void> {
    if (delta === 0) return;
    const known = this.used.get(user);
    if (known === undefined) return;
    const updated = known.then((used) => Math.max(0, used + delta));
    this.used.set(user, updated);
    await updated;
  }

  async invalidate(user: string): Promise<void> {
    this.used.delete(user);
  }
}
