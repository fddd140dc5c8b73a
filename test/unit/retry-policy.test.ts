import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unavailableRetryDelayMs } from '../../mount/remote/retry-policy.js';

test('503 retries back off, honour Retry-After, and stop at the window', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => unavailableRetryDelayMs(n, undefined, 0, 60_000)), [200, 400, 800, 1600, 2000, 2000]);
  assert.equal(unavailableRetryDelayMs(0, 3, 0, 60_000), 3000, 'the server\'s Retry-After wins over the backoff');
  assert.equal(unavailableRetryDelayMs(5, 0, 0, 60_000), 0);
  assert.equal(unavailableRetryDelayMs(2, undefined, 9_000, 10_000), 800);
  assert.equal(unavailableRetryDelayMs(2, undefined, 9_500, 10_000), undefined, 'a wait past the window gives up now');
  assert.equal(unavailableRetryDelayMs(0, 30, 0, 10_000), undefined, 'a Retry-After longer than the window gives up now');
  assert.equal(unavailableRetryDelayMs(0, Number.NaN, 0, 10_000), 200);
});
