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

/**
 * Waits until a session last used at `lastUseMs` (taken after that request answered) has been
 * idle for `idleMs`: the server's rule is exactly that, so from then on the session is expired
 * whatever its sweep timer does. The clock is the condition here, not a guess at a delay.
 */
export async function waitUntilIdle(lastUseMs: number, idleMs: number): Promise<void> {
  await waitFor(() => Date.now(), (now) => now >= lastUseMs + idleMs + 1, idleMs + 5_000, 50);
}
