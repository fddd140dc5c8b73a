import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { RdriveError } from '../../common/errors.js';
import { ApiClient } from '../../mount/remote/api-client.js';
import { waitForLog } from '../helpers/logs.js';
import { startRedis } from '../helpers/redis-process.js';
import { startServer } from '../helpers/server-process.js';

// A server whose shared state (Redis) is down answers 503 UNAVAILABLE. The client the mount
// and the CLI use sends idempotent calls again, with backoff, until the server is back or the
// window is over; then the caller gets one clear error. Real redis-server and rdrive-server.

const T = { timeout: 90_000 };
const STATUS_503 = /"status":503/;

test('idempotent calls ride out a Redis outage; past the window the error says so; others fail at once', T, async () => {
  const redis = await startRedis();
  const server = await startServer({ args: ['--redis', redis.url] }).catch(async (err: unknown) => {
    await redis.cleanup();
    throw err;
  });
  const client = new ApiClient({ server: server.url, unavailableWindowMs: 20_000 });
  const short = new ApiClient({ server: server.url, unavailableWindowMs: 1_500 });
  const serverLog = join(server.logs, 'server.log');
  try {
    await client.login('alice', 'alice-pass');
    await short.login('alice', 'alice-pass');
    await client.mkdir('d');

    // 1. Redis goes away while a stat is asked for: the call waits, Redis comes back, it succeeds
    //    (the test's Redis keeps nothing, so the client also logs in again on the way).
    await redis.stop();
    const pending = client.stat('d');
    const seen = await waitForLog(serverLog, STATUS_503, 2, 15_000);
    assert.ok((seen.match(/"status":503/g) ?? []).length >= 2, 'the stat was answered 503 and sent again');
    await redis.start();
    const attr = await pending;
    assert.equal(attr.type, 'dir');

    // 2. Redis stays down past the window: one clear UNAVAILABLE, after retrying.
    await short.login('alice', 'alice-pass');
    await redis.stop();
    const before = (await waitForLog(serverLog, STATUS_503)).match(/"status":503/g)?.length ?? 0;
    const err = await short.stat('d').then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof RdriveError, `an RdriveError, got ${String(err)}`);
    assert.equal(err.code, 'UNAVAILABLE');
    assert.match(err.message, /Redis\) is unreachable.*still so after retrying for \d+ s; if this lasts/);
    const afterStat = await waitForLog(serverLog, STATUS_503, before + 2, 5_000);
    const retried = (afterStat.match(/"status":503/g)?.length ?? 0) - before;
    assert.ok(retried >= 2, `the stat was sent more than once (${retried})`);

    // 3. A call that is not idempotent (mkdir) is not sent again: exactly one more 503.
    const mkdirErr = await short.mkdir('e').then(() => undefined, (e: unknown) => e);
    assert.ok(mkdirErr instanceof RdriveError && mkdirErr.code === 'UNAVAILABLE', String(mkdirErr));
    const lines = (await waitForLog(serverLog, /"route":"\/api\/v1\/dirs\/e".*"status":503/)).split('\n');
    assert.equal(lines.filter((l) => /"route":"\/api\/v1\/dirs\/e"/.test(l)).length, 1, 'one mkdir request, no retry');
  } finally {
    await client.close();
    await short.close();
    await server.cleanup();
    await redis.cleanup();
  }
});
