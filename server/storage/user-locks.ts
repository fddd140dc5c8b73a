/**
 * One queue per user for the short steps that measure what a change replaces and then make it:
 * a quota counts every byte once only if no other change of the same user's files runs between
 * the measure and the rename (a file renamed onto itself, an upload whose old file was moved
 * away meanwhile). Held for a stat and a rename, never for a transfer. Several servers sharing
 * storage each keep their own queue; the measure is then exact per server only.
 */
export class UserLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(user: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(user) ?? Promise.resolve();
    let done = (): void => undefined;
    const mine = new Promise<void>((resolve) => { done = resolve; });
    const tail = before.then(() => mine);
    this.tails.set(user, tail);
    await before;
    try {
      return await fn();
    } finally {
      done();
      if (this.tails.get(user) === tail) this.tails.delete(user);
    }
  }
}
