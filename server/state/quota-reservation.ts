import { RdriveError } from '../../common/errors.js';
import { NOTHING, type Over, plus, type Usage, type UsageStore } from './usage-tracker.js';

/**
 * Reserved in steps of this size when the quota allows, so a streamed upload asks the store
 * once per step rather than once per network chunk.
 */
const RESERVE_STEP = 256 * 1024;

/** The refusal for a figure over its limit: the user learns which one, and what to do. */
export function overError(over: Over, limits: Usage): RdriveError {
  if (over === 'entries') {
    return new RdriveError('EDQUOT', `Disk quota exceeded: this user may keep at most ${limits.entries} entries (files, folders, links); remove some to make room`);
  }
  return new RdriveError('ENOSPC', 'Quota exceeded: no space left for this user');
}

/**
 * The quota one change holds while it runs: for a write, it grows as the file grows (`ensure`),
 * is given back if the write fails (`release`), and is settled to the real change once the file
 * is in place (`commit`). Entries are reserved before they are made (`ensureEntries`), so
 * creates running side by side cannot pass the entry limit together.
 */
export class QuotaReservation {
  private held: Usage = NOTHING;
  /**
   * The size the write gave the file where nothing else could change it (see `replacing`): a
   * stat after that may already see another change of the same file (a truncate through
   * another server), which counts itself.
   */
  private finalSize: number | undefined;
  /** Entries the change made (a write that replaced nothing made one). */
  private made = 0;

  /**
   * `limits`: the user's limits (0: none); `base`: the file's size before the write (what the
   * write may reuse without reserving).
   */
  constructor(
    private readonly store: UsageStore,
    private readonly user: string,
    private readonly limits: Usage,
    private base: number,
  ) {}

  /** Makes room for the file to hold `size` bytes, or fails with ENOSPC. */
  async ensure(size: number): Promise<void> {
    const need = size - this.base - this.held.bytes;
    if (need <= 0 || this.limits.bytes <= 0) return;
    const step = Math.max(need, RESERVE_STEP);
    if (await this.reserve({ bytes: step, entries: 0 })) return;
    if (step > need && (await this.reserve({ bytes: need, entries: 0 }))) return;
    throw overError('bytes', this.limits);
  }

  /** Makes room for `count` new entries in all (EDQUOT when the limit cannot hold them). */
  async ensureEntries(count: number): Promise<void> {
    const need = count - this.held.entries;
    if (need <= 0 || this.limits.entries <= 0) return;
    if (!(await this.reserve({ bytes: 0, entries: need }))) throw overError('entries', this.limits);
  }

  private async reserve(need: Usage): Promise<boolean> {
    if ((await this.store.tryReserve(this.user, need, this.limits)) !== undefined) return false;
    this.held = plus(this.held, need);
    return true;
  }

  /** The change made `count` entries (for creates other than writes: mkdir, links, nodes). */
  madeEntries(count: number): void {
    this.made = count;
  }

  /**
   * The write is about to replace what is at its name (measured now, not when it began):
   * `replaced.bytes` it may reuse, and it must hold room for `finalSize` bytes and, when it
   * replaces no entry, for the one it makes.
   */
  async replacing(replaced: Usage, finalSize: number): Promise<void> {
    this.base = replaced.bytes;
    this.finalSize = finalSize;
    this.made = 1 - replaced.entries;
    await this.ensureEntries(this.made);
    await this.ensure(finalSize);
  }

  /** The change is in place; a write's file now holds `finalSize` bytes (none for other creates). */
  async commit(finalSize: number): Promise<void> {
    const held = this.held;
    this.held = NOTHING;
    await this.store.settle(this.user, held, { bytes: finalSize - this.base, entries: this.made });
  }

  /**
   * Runs a change under this reservation: the room is given back if it fails, settled to
   * `finalSize(result)` bytes once it is in place.
   */
  async around<T>(write: () => Promise<T>, finalSize: (result: T) => number): Promise<T> {
    let result: T;
    try {
      result = await write();
    } catch (err) {
      await this.release().catch(() => undefined);
      throw err;
    }
    await this.commit(this.finalSize ?? finalSize(result));
    return result;
  }

  async release(): Promise<void> {
    const held = this.held;
    this.held = NOTHING;
    if (held.bytes > 0 || held.entries > 0) await this.store.settle(this.user, held, NOTHING);
  }
}
