/**
 * How many of something each key holds at once (writes per file, password checks or connections
 * per address). A key whose count falls to zero is forgotten, so the map stays as small as what
 * is in progress.
 */
export class KeyedCounter {
  private readonly counts = new Map<string, number>();

  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** Counts one more for `key`; returns the new count. */
  add(key: string): number {
    const count = this.get(key) + 1;
    this.counts.set(key, count);
    return count;
  }

  /** Counts one fewer for `key` (one `add` ended). */
  remove(key: string): void {
    const left = this.get(key) - 1;
    if (left <= 0) this.counts.delete(key);
    else this.counts.set(key, left);
  }
}
