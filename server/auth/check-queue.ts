import { KeyedCounter } from '../state/keyed-counter.js';

/**
 * Password checks at once, server-wide. A check is a scrypt of ~128 MiB and about a second on
 * libuv's 4-thread pool, which file I/O shares: two leave it room.
 */
export const CHECKS_AT_ONCE = 2;
/** Checks one address may have queued or running; more are refused at once (429), not run. */
export const CHECKS_PER_ADDRESS = 2;

export type CheckOutcome<T> = { ran: true; value: T } | { ran: false; why: 'busy' | 'gone' };

interface Waiter {
  start: () => void;
  drop: () => void;
}

/**
 * Runs password checks a few at a time, served round-robin across addresses: a check waits for
 * at most one check of each other address that has some waiting, however many it sent. Without
 * it every login went straight to the thread pool, first come first served, and one address
 * sending a dozen wrong logins at once kept everyone else's waiting behind them.
 */
export class PasswordCheckQueue {
  private running = 0;
  /** Checks queued or running, per address. */
  private readonly held = new KeyedCounter();
  /** Addresses with checks waiting, in the order they get their next turn. */
  private readonly waiting = new Map<string, Waiter[]>();

  constructor(private readonly atOnce = CHECKS_AT_ONCE, private readonly perAddress = CHECKS_PER_ADDRESS) {}

  /**
   * Runs `check` when `address` gets its turn. Not run: `busy` when the address already has
   * `perAddress` checks queued or running, `gone` when `signal` aborted (the client left) first.
   */
  async run<T>(address: string, check: () => Promise<T>, signal?: AbortSignal): Promise<CheckOutcome<T>> {
    if (this.held.get(address) >= this.perAddress) return { ran: false, why: 'busy' };
    if (signal?.aborted === true) return { ran: false, why: 'gone' };
    this.held.add(address);
    try {
      if (!(await this.turn(address, signal))) return { ran: false, why: 'gone' };
      try {
        return { ran: true, value: await check() };
      } finally {
        this.running--;
        this.dispatch();
      }
    } finally {
      this.held.remove(address);
    }
  }

  /** Resolves true once a slot is this check's (counted in `running`), false if it left first. */
  private turn(address: string, signal: AbortSignal | undefined): Promise<boolean> {
    if (this.running < this.atOnce && this.waiting.size === 0) {
      this.running++;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        start: () => {
          signal?.removeEventListener('abort', leave);
          resolve(true);
        },
        drop: () => resolve(false),
      };
      const leave = (): void => {
        const queue = this.waiting.get(address);
        const at = queue?.indexOf(waiter) ?? -1;
        if (queue === undefined || at < 0) return;
        queue.splice(at, 1);
        if (queue.length === 0) this.waiting.delete(address);
        waiter.drop();
      };
      signal?.addEventListener('abort', leave, { once: true });
      const queue = this.waiting.get(address);
      if (queue === undefined) this.waiting.set(address, [waiter]);
      else queue.push(waiter);
    });
  }

  /** Gives free slots to the first waiter of each address in turn. */
  private dispatch(): void {
    while (this.running < this.atOnce) {
      const next = this.waiting.entries().next();
      if (next.done === true) return;
      const [address, queue] = next.value;
      const waiter = queue.shift()!;
      // To the back of the line: every other address waiting goes first next time.
      this.waiting.delete(address);
      if (queue.length > 0) this.waiting.set(address, queue);
      this.running++;
      waiter.start();
    }
  }
}
