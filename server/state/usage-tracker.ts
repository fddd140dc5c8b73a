/**
 * What a user's folder holds, as quotas count it: bytes of its files, and entries (files,
 * folders, stored links and nodes: what a filesystem spends an inode on). A file under two names
 * (see linkHidden) counts once in both.
 */
export interface Usage {
  bytes: number;
  entries: number;
}

/** Which figure a reservation would take past its limit. */
export type Over = keyof Usage;

/**
 * The figures per user, for quotas, and what changes in progress have reserved. The used figures
 * are computed once by walking the folder, then kept current by the changes themselves, so a
 * quota check costs no walk. A change reserves before it stores (see QuotaReservation), so
 * changes running side by side can never exceed a limit together.
 */
export interface UsageStore {
  get(user: string): Promise<Usage>;
  /**
   * Reserves `need` when, for each figure with a limit (0: none), used + reserved + need stays
   * within it; otherwise reserves nothing and answers which figure would go over.
   */
  tryReserve(user: string, need: Usage, limits: Usage): Promise<Over | undefined>;
  /** Gives back `reserved` and counts `delta` (negative where something was freed) as stored. */
  settle(user: string, reserved: Usage, delta: Usage): Promise<void>;
  /** Counts a change made without a reservation (a delete, a rename over an entry). */
  add(user: string, delta: Usage): Promise<void>;
  /** Forgets the used figures (after a recursive delete): the next get walks again. */
  invalidate(user: string): Promise<void>;
}

export const NOTHING: Usage = Object.freeze({ bytes: 0, entries: 0 });

export const isNothing = (u: Usage): boolean => u.bytes === 0 && u.entries === 0;

/** Both figures of `a` and `b` together. */
export const plus = (a: Usage, b: Usage): Usage => ({ bytes: a.bytes + b.bytes, entries: a.entries + b.entries });

/** The change a removal of `u` makes to the figures. */
export const negated = (u: Usage): Usage => ({ bytes: -u.bytes, entries: -u.entries });

/** Which figure of `used + reserved + need` passes its limit (0: none), if any. */
export function overLimit(used: Usage, reserved: Usage, need: Usage, limits: Usage): Over | undefined {
  for (const key of ['bytes', 'entries'] as const) {
    if (need[key] > 0 && limits[key] > 0 && used[key] + reserved[key] + need[key] > limits[key]) return key;
  }
  return undefined;
}

/** Within one server process. */
export class MemoryUsageStore implements UsageStore {
  private readonly used = new Map<string, Promise<Usage>>();
  private readonly reserved = new Map<string, Usage>();

  constructor(private readonly measure: (user: string) => Promise<Usage>) {}

  async get(user: string): Promise<Usage> {
    let value = this.used.get(user);
    if (value === undefined) {
      value = this.measure(user);
      this.used.set(user, value);
      value.catch(() => this.used.delete(user));
    }
    return value;
  }

  async tryReserve(user: string, need: Usage, limits: Usage): Promise<Over | undefined> {
    for (;;) {
      if (!this.used.has(user)) await this.get(user);
      const figure = this.used.get(user);
      if (figure === undefined) continue;
      const used = await figure;
      // Another change settled (or the figure was dropped) while this one waited: the value
      // read is stale, and a reservation on it could pass the limit. Read again.
      if (this.used.get(user) !== figure) continue;
      // No await between the check and the update: atomic within this process.
      const reserved = this.reserved.get(user) ?? NOTHING;
      const over = overLimit(used, reserved, need, limits);
      if (over === undefined) this.reserved.set(user, plus(reserved, need));
      return over;
    }
  }

  async settle(user: string, reserved: Usage, delta: Usage): Promise<void> {
    if (!isNothing(reserved)) {
      const held = this.reserved.get(user) ?? NOTHING;
      const left = { bytes: Math.max(0, held.bytes - reserved.bytes), entries: Math.max(0, held.entries - reserved.entries) };
      if (isNothing(left)) this.reserved.delete(user);
      else this.reserved.set(user, left);
    }
    await this.add(user, delta);
  }

  /** Keeps a known figure current; with none yet there is nothing to keep (the first get walks). */
  async add(user: string, delta: Usage): Promise<void> {
    if (isNothing(delta)) return;
    const known = this.used.get(user);
    if (known === undefined) return;
    const updated = known.then((used) => ({ bytes: Math.max(0, used.bytes + delta.bytes), entries: Math.max(0, used.entries + delta.entries) }));
    this.used.set(user, updated);
    await updated;
  }

  async invalidate(user: string): Promise<void> {
    this.used.delete(user);
  }
}
