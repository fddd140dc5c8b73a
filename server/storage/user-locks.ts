/**
 * Holds a user's measure-then-change step against every other server sharing the storage; the
 * returned function lets it go. Each server's own queue (UserLocks) runs first, so only one step
 * per server at a time asks for it.
 */
export type SharedUserLock = (user: string) => Promise<() => Promise<void>>;

/**
 * One queue per user for the short steps that measure what a change replaces and then make it:
 * a quota counts every byte once only if no other change of the same user's files runs between
 * the measure and the rename (a file renamed onto itself, an upload whose old file was moved
 * away meanwhile). Held for a stat and a rename, never for a transfer. Servers sharing storage
 * also take `shared`: two servers replacing one file at once each counted the old file as
 * theirs to free, and the shared quota figure drifted from what the storage holds.
 */
export class UserLocks {
  private readonly tails = new Map<string, Promise<void>>();

  constructor(private readonly shared?: SharedUserLock) {}

  async run<T>(user: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(user) ?? Promise.resolve();
    let done = (): void => undefined;
    const mine = new Promise<void>((resolve) => { done = resolve; });
    const tail = before.then(() => mine);
    this.tails.set(user, tail);
    await before;
    try {
      const unlock = await this.shared?.(user);
      try {
        return await fn();
      } finally {
        await unlock?.();
      }
    } finally {
      done();
      if (this.tails.get(user) === tail) this.tails.delete(user);
    }
  }
}
