import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Reads a value every `intervalMs` until `done(value)` holds or `timeoutMs` passed, and returns
 * the last value read: the caller asserts on it, so a timeout fails with what was seen.
 */
export async function waitFor<T>(read: () => T | Promise<T>, done: (value: T) => boolean, timeoutMs = 5_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() >= deadline) return value;
    await sleep(intervalMs);
  }
}
