import { RdriveError } from '../../common/errors.js';
import type { UsageStore } from './usage-tracker.js';

/**
 * Reserved in steps of this size when the quota allows, so a streamed upload asks the store
 * once per step rather than once per network chunk.
 */
const RESERVE_STEP = 256 * 1024;

/**
 * The quota one write holds while it runs: it grows as the file grows (`ensure`), is given back
 * if the write fails (`release`), and is settled to the real change once the file is in place
 * (`commit`).
 */
export class QuotaReservation {
  private held = 0;
  /**
   * The size the write gave the file where nothing else could change it (see `replacing`): a
   * stat after that may already see another change of the same file (a truncate through
   * another server), which counts itself.
   */
  private finalSize: number | undefined;

  /** `base`: the file's size before the write (what the write may reuse without reserving). */
  constructor(
    private readonly store: UsageStore,
    private readonly user: string,
    private readonly quota: number,
    private base: number,
  ) {}

  /** Makes room for the file to hold `size` bytes, or fails with ENOSPC. */
  async ensure(size: number): Promise<void> {
    const need = size - this.base - this.held;
    if (need <= 0) return;
    const step = Math.max(need, RESERVE_STEP);
    if (await this.store.tryReserve(this.user, step, this.quota)) {
      this.held += step;
      return;
    }
    if (step > need && (await this.store.tryReserve(this.user, need, this.quota))) {
      this.held += need;
      return;
    }
    throw new RdriveError('ENOSPC', 'Quota exceeded: no space left for this user');
  }

  /**
   * The write is about to replace an entry of `replacedBytes` (measured now, not when it began):
   * what it may reuse is that, and it must hold room for `finalSize`.
   */
  async replacing(replacedBytes: number, finalSize: number): Promise<void> {
    this.base = replacedBytes;
    this.finalSize = finalSize;
    await this.ensure(finalSize);
  }

  /** The write is in place and the file now holds `finalSize` bytes. */
  async commit(finalSize: number): Promise<void> {
    const held = this.held;
    this.held = 0;
    await this.store.settle(this.user, held, finalSize - this.base);
  }

  /**
   * Runs a write under this reservation: the room is given back if it fails, settled to
   * `finalSize(result)` once it is in place.
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
    this.held = 0;
    if (held > 0) await this.store.settle(this.user, held, 0);
  }
}
