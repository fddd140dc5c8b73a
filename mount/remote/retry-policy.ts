/**
 * How long to wait before sending an idempotent call again after the server answered 503
 * UNAVAILABLE (its shared state is down, or a load balancer has no server to give it to).
 * Pure: the client does the waiting.
 */

/** Backoff without a Retry-After: 200 ms, 400 ms, ... capped at 2 s. */
const BASE_MS = 200;
const CAP_MS = 2_000;

/**
 * The wait before attempt `attempt + 1`, or undefined when waiting would take the call past
 * `windowMs` (counted from its first attempt, `elapsedMs` ago): then the caller gives up. A
 * Retry-After from the server is honoured as asked (it knows best when it will be back).
 */
export function unavailableRetryDelayMs(attempt: number, retryAfterSeconds: number | undefined, elapsedMs: number, windowMs: number): number | undefined {
  const asked = retryAfterSeconds !== undefined && Number.isFinite(retryAfterSeconds) && retryAfterSeconds >= 0 ? retryAfterSeconds * 1000 : undefined;
  const delay = asked ?? Math.min(BASE_MS * 2 ** attempt, CAP_MS);
  return elapsedMs + delay <= windowMs ? delay : undefined;
}
