import { performance } from 'node:perf_hooks';

/**
 * Short read leases (a light form of NFSv4 read delegations): a session that read a file may
 * reuse what it read, without asking again, until its lease ends; a change to that file by any
 * other session is not answered until every such lease has ended. So close-to-open holds with
 * fewer requests: when a writer's close returns, no reader can still be relying on the old
 * content, and a reader that opens after that asks the server again.
 *
 * Pure bookkeeping with an injected clock; one process's memory (several servers sharing
 * storage do not grant leases, see createServer).
 */
export class ReadLeases {
  /** user → path → session → when its lease ends (ms). */
  private readonly held = new Map<string, Map<string, Map<string, number>>>();
  /**
   * user → folder → how many leased paths lie below it: a change of a file, or of a folder with
   * nothing leased below, then looks at its own path only instead of at every lease held.
   */
  private readonly leasedBelow = new Map<string, Map<string, number>>();
  /** user → paths being changed now (a path covers everything under it), with a count. */
  private readonly changing = new Map<string, Map<string, number>>();
  private grantsSinceSweep = 0;
  /**
   * Leases a previous run of the server granted are not in this memory: until they have surely
   * ended, every change waits as if they were (a restart faster than a lease cannot break
   * close-to-open).
   */
  private readonly formerLeasesEnd: number;

  /** `now`: a monotonic clock (a wall clock set forward would end leases early). */
  constructor(
    readonly leaseMs: number,
    private readonly now: () => number = () => performance.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {
    this.formerLeasesEnd = this.now() + leaseMs;
  }

  /**
   * Grants `session` a lease on `path` (segments joined by '/', '' for the root) and returns its
   * length in ms, or 0 while a change that covers the path is under way. Called before the
   * file is read, so a change that starts later always sees the lease.
   */
  grant(user: string, session: string, path: string): number {
    const changing = this.changing.get(user);
    if (changing !== undefined && [...changing.keys()].some((p) => covers(p, path))) return 0;
    if (++this.grantsSinceSweep >= 1024) this.sweep();
    let paths = this.held.get(user);
    if (paths === undefined) {
      paths = new Map();
      this.held.set(user, paths);
    }
    let sessions = paths.get(path);
    if (sessions === undefined) {
      sessions = new Map();
      paths.set(path, sessions);
      this.countBelow(user, path, 1);
    }
    sessions.set(session, this.now() + this.leaseMs);
    return this.leaseMs;
  }

  /**
   * Starts a change of `paths` by `session`: no new lease on them (or under them) until the
   * returned function is called, and resolves once every other session's lease on them ended.
   */
  async beginChange(user: string, session: string, paths: string[]): Promise<() => void> {
    let changing = this.changing.get(user);
    if (changing === undefined) {
      changing = new Map();
      this.changing.set(user, changing);
    }
    for (const p of paths) changing.set(p, (changing.get(p) ?? 0) + 1);
    const done = (): void => {
      for (const p of paths) {
        const left = (changing.get(p) ?? 1) - 1;
        if (left <= 0) changing.delete(p);
        else changing.set(p, left);
      }
      if (changing.size === 0) this.changing.delete(user);
    };
    try {
      const until = this.lastLeaseEnd(user, session, paths);
      const wait = until - this.now();
      if (wait > 0) await this.sleep(wait + 1);
    } catch (err) {
      done();
      throw err;
    }
    return done;
  }

  /** When the last lease of another session on (or under) any of `paths` ends. */
  private lastLeaseEnd(user: string, session: string, paths: string[]): number {
    let until = this.formerLeasesEnd;
    const held = this.held.get(user);
    if (held === undefined) return until;
    const later = (sessions: Map<string, number> | undefined): void => {
      for (const [holder, end] of sessions ?? []) if (holder !== session && end > until) until = end;
    };
    const below = this.leasedBelow.get(user);
    const wide = paths.filter((p) => p === '' || (below?.get(p) ?? 0) > 0);
    for (const p of paths) later(held.get(p));
    // Only a folder with leased entries below it needs the walk over every lease.
    if (wide.length > 0) {
      for (const [path, sessions] of held) if (wide.some((p) => p !== path && covers(p, path))) later(sessions);
    }
    return until;
  }

  /** Adds `delta` to the count of leased paths below each folder above `path`. */
  private countBelow(user: string, path: string, delta: number): void {
    let below = this.leasedBelow.get(user);
    if (below === undefined) {
      below = new Map();
      this.leasedBelow.set(user, below);
    }
    for (let cut = path.lastIndexOf('/'); cut > 0; cut = path.lastIndexOf('/', cut - 1)) {
      const folder = path.slice(0, cut);
      const left = (below.get(folder) ?? 0) + delta;
      if (left <= 0) below.delete(folder);
      else below.set(folder, left);
    }
    if (below.size === 0) this.leasedBelow.delete(user);
  }

  /** Drops ended leases, so memory follows the files read recently, not all files ever read. */
  private sweep(): void {
    this.grantsSinceSweep = 0;
    const now = this.now();
    for (const [user, paths] of this.held) {
      for (const [path, sessions] of paths) {
        for (const [holder, end] of sessions) if (end <= now) sessions.delete(holder);
        if (sessions.size === 0) {
          paths.delete(path);
          this.countBelow(user, path, -1);
        }
      }
      if (paths.size === 0) this.held.delete(user);
    }
  }
}

/** A change of `changed` affects `path`: the same path, or `changed` is a folder above it. */
function covers(changed: string, path: string): boolean {
  return changed === '' || path === changed || path.startsWith(`${changed}/`);
}
