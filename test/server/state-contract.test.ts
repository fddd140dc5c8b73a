import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { RdriveError } from '../../common/errors.js';
import { memoryStores, redisStores, type StateLimits, type StateStores } from '../../server/state/stores.js';
import type { Usage } from '../../server/state/usage-tracker.js';
import { startRedis, type TestRedis } from '../helpers/redis-process.js';
import { waitFor } from '../helpers/wait.js';

// One contract for the state stores, run against the in-process and the Redis implementations:
// whatever a server relies on must hold for both. Real Redis (a private redis-server).
const T = { timeout: 30_000 };
const LIMITS: StateLimits = { idleMs: 400, maxClients: 3, maxInFlightPerUser: 2, loginAttempts: 2 };
const log = pino({ level: 'silent' });

let redis: TestRedis | undefined;
let db = 0;
before(async () => { redis = await startRedis(); });
after(async () => { await redis?.cleanup(); });

const kinds: Array<[string, (measure: (u: string) => Promise<Usage>, limits: StateLimits) => Promise<StateStores>]> = [
  ['memory', async (measure, limits) => memoryStores(limits, measure)],
  // Each test gets its own Redis database: no state leaks between tests.
  ['redis', async (measure, limits) => redisStores(`${redis!.url.replace(/\/0$/, '')}/${++db % 16}`, limits, measure, log)],
];

for (const [kind, make] of kinds) {
  describe(`state contract: ${kind}`, () => {
    async function withStores(fn: (s: StateStores, t: StateStores) => Promise<void>, measure: (u: string) => Promise<Usage> = async () => ({ bytes: 0, entries: 0 }), limits = LIMITS): Promise<void> {
      const s = await make(measure, limits);
      // A second view of the same state: another server's, for Redis; the same object in memory.
      const t = kind === 'redis' ? await redisStores(`${redis!.url.replace(/\/0$/, '')}/${db % 16}`, limits, measure, log) : s;
      try {
        await fn(s, t);
      } finally {
        await s.close();
        if (t !== s) await t.close();
      }
    }

    test('sessions: shared, at most maxClients, idle expiry, remove', T, async () => {
      await withStores(async (a, b) => {
        await flush(a);
        const created = await Promise.all(Array.from({ length: 5 }, (_, i) => a.sessions.create(`u${i}`)));
        assert.equal(created.filter((c) => c.ok).length, 3, 'the count is atomic: exactly maxClients succeed');
        const refused = created.find((c) => !c.ok);
        assert.ok(refused !== undefined && !refused.ok && refused.retryAfter >= 1);
        assert.ok((await b.sessions.fullRetryAfter() ?? 0) >= 1, 'full for a newcomer too, asked before any password check');
        const first = created.find((c) => c.ok)!;
        assert.ok(first.ok);
        assert.equal((await b.sessions.touch(first.session.token))?.user, first.session.user, 'a token works on every server');
        assert.equal(await b.sessions.count(), 3);
        await b.sessions.remove(first.session.token);
        assert.equal(await a.sessions.touch(first.session.token), undefined);
        assert.equal(await a.sessions.fullRetryAfter(), undefined, 'room again');
        assert.equal(await a.sessions.count(), 2, 'asking takes no slot');
        assert.equal((await a.sessions.create('again')).ok, true, 'a removed session frees its slot');
        // Idle expiry: nothing touched for idleMs → gone everywhere, slots free.
        const gone = await waitFor(() => a.sessions.count(), (n) => n === 0, 5_000, 50);
        assert.equal(gone, 0);
        assert.equal((await a.sessions.create('late')).ok, true);
      });
    });

    test('sessions: when full, a user holding two more than the newcomer gives up their least recently used one', T, async () => {
      await withStores(async (a, b) => {
        await flush(a);
        const hog = [];
        for (let i = 0; i < 3; i++) {
          const c = await a.sessions.create('hog');
          assert.ok(c.ok);
          hog.push(c.session.token);
          await sleep(5);
        }
        // The first one is in use again: the second is now the least recently used.
        assert.ok((await b.sessions.touch(hog[0]!)) !== undefined);
        assert.equal(await b.sessions.fullRetryAfter(), undefined, 'a newcomer would get in: the hog gives way');
        assert.equal(await a.sessions.count(), 3, 'asking evicts nobody');
        const other = await b.sessions.create('other');
        assert.ok(other.ok, 'another user gets in although every slot was taken');
        assert.equal(other.evicted, 'hog');
        assert.equal(await a.sessions.touch(hog[1]!), undefined, 'the least recently used one ended');
        assert.ok((await a.sessions.touch(hog[0]!)) !== undefined);
        assert.equal((await a.sessions.create('hog')).ok, false, 'the hog cannot take it back (2 against 1)');
        assert.equal((await a.sessions.create('other')).ok, false, 'nor the other take a second (1 against 2: no gain)');
        const third = await a.sessions.create('third');
        assert.ok(third.ok && third.evicted === 'hog', 'a third user gets the hog\'s second slot');
        assert.equal((await b.sessions.create('fourth')).ok, false, 'one each: nobody gives way');
        assert.ok((await a.sessions.fullRetryAfter() ?? 0) >= 1, 'nor to a newcomer who has not shown a password yet');
        assert.equal(await a.sessions.count(), 3);
      }, undefined, { ...LIMITS, idleMs: 60_000 });
    });

    test('sessions: a touched session outlives the idle time', T, async () => {
      await withStores(async (a, b) => {
        await flush(a);
        const c = await a.sessions.create('alice');
        assert.ok(c.ok);
        for (let i = 0; i < 6; i++) {
          await sleep(150);
          assert.ok((await b.sessions.touch(c.session.token)) !== undefined, `still alive after ${(i + 1) * 150} ms of use`);
        }
      });
    });

    test('sessions: removeUser ends every session of that user, on every server, and no one else\'s', T, async () => {
      await withStores(async (a, b) => {
        await flush(a);
        const mine = [await a.sessions.create('alice'), await b.sessions.create('alice')];
        const other = await a.sessions.create('bob');
        assert.ok(mine[0]!.ok && mine[1]!.ok && other.ok);
        assert.equal(await b.sessions.removeUser('alice'), 2);
        for (const c of mine) if (c.ok) assert.equal(await a.sessions.touch(c.session.token), undefined);
        assert.equal((await a.sessions.touch(other.session.token))?.user, 'bob');
        assert.equal(await a.sessions.count(), 1, 'their slots are free again');
        assert.equal(await a.sessions.removeUser('alice'), 0);
      });
    });

    test('in flight: at most max per user, released slots come back', T, async () => {
      await withStores(async (a, b) => {
        await flush(a);
        const slots = await Promise.all([a, b, a, b].map((s) => s.inFlight.tryAcquire('alice')));
        assert.equal(slots.filter(Boolean).length, 2);
        assert.ok(await a.inFlight.tryAcquire('bob'), 'per user');
        await slots.find(Boolean)!();
        assert.ok(await b.inFlight.tryAcquire('alice'));
      });
    });

    test('usage: measured once, reservations atomic and settled', T, async () => {
      let walks = 0;
      const B = (bytes: number): Usage => ({ bytes, entries: 0 });
      const E = (entries: number): Usage => ({ bytes: 0, entries });
      const limits = { bytes: 500, entries: 10 };
      await withStores(async (a, b) => {
        await flush(a);
        assert.deepEqual(await a.usage.get('alice'), { bytes: 100, entries: 5 });
        assert.deepEqual(await b.usage.get('alice'), { bytes: 100, entries: 5 });
        const servers = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b));
        const grants = await Promise.all(servers.map((s) => s.usage.tryReserve('alice', B(100), limits)));
        assert.equal(grants.filter((g) => g === undefined).length, 4, '100 used + 4 × 100 reserved fill 500');
        assert.ok(grants.every((g) => g === undefined || g === 'bytes'), 'the bytes are what is over');
        // Each server settles its own writes' reservations: one failed, one stored 60 of 100.
        const holders = servers.filter((_, i) => grants[i] === undefined);
        await holders[0]!.usage.settle('alice', B(100), B(0));
        await holders[1]!.usage.settle('alice', B(100), B(60));
        assert.deepEqual(await a.usage.get('alice'), { bytes: 160, entries: 5 });
        assert.equal(await a.usage.tryReserve('alice', B(140), limits), undefined);
        assert.equal(await b.usage.tryReserve('alice', B(1), limits), 'bytes');
        // Entries: 5 used of 10, reserved one at a time from both servers at once: 5 fit.
        const entryGrants = await Promise.all(servers.map((s) => s.usage.tryReserve('alice', E(1), limits)));
        assert.equal(entryGrants.filter((g) => g === undefined).length, 5, '5 used + 5 reserved fill 10');
        assert.ok(entryGrants.every((g) => g === undefined || g === 'entries'));
        // A figure without a limit (0) is never over.
        assert.equal(await a.usage.tryReserve('alice', { bytes: 1_000, entries: 1_000 }, { bytes: 0, entries: 0 }), undefined);
        await a.usage.settle('alice', { bytes: 1_000, entries: 1_000 }, { bytes: 0, entries: 0 });
        const entryHolders = servers.filter((_, i) => entryGrants[i] === undefined);
        for (const [i, s] of entryHolders.entries()) await s.usage.settle('alice', E(1), E(i < 3 ? 1 : 0));
        assert.deepEqual(await a.usage.get('alice'), { bytes: 160, entries: 8 });
        assert.equal(await b.usage.tryReserve('alice', E(3), limits), 'entries');
        assert.equal(await b.usage.tryReserve('alice', E(2), limits), undefined);
        await a.usage.add('alice', { bytes: -1000, entries: -1000 });
        assert.deepEqual(await b.usage.get('alice'), { bytes: 0, entries: 0 }, 'never below zero');
        await b.usage.invalidate('alice');
        assert.deepEqual(await a.usage.get('alice'), { bytes: 100, entries: 5 }, 'walked again');
        assert.ok(walks >= 2);
      }, async () => { walks++; return { bytes: 100, entries: 5 }; });
    });

    test('login back-off: grows per name, exempts known addresses', T, async () => {
      await withStores(async (a, b) => {
        await flush(a);
        assert.equal(await a.loginBackoff.waitMs('alice', '10.0.0.1'), 0);
        await a.loginBackoff.succeeded('alice', '10.0.0.9');
        await a.loginBackoff.failed('alice');
        await b.loginBackoff.failed('alice');
        const w1 = await a.loginBackoff.waitMs('alice', '10.0.0.1');
        assert.ok(w1 > 0 && w1 <= 1000, `first wait ${w1}`);
        await b.loginBackoff.failed('alice');
        const w2 = await b.loginBackoff.waitMs('alice', '10.0.0.2');
        assert.ok(w2 > 1000 && w2 <= 2000, `second wait ${w2}`);
        assert.equal(await b.loginBackoff.waitMs('alice', '10.0.0.9'), 0, 'the owner\'s address is exempt');
        assert.equal(await a.loginBackoff.waitMs('bob', '10.0.0.1'), 0, 'per name');
      });
    });

    if (kind === 'redis') {
      test('Redis down: calls fail with 503 UNAVAILABLE, then work again by themselves', T, async () => {
        await withStores(async (a) => {
          await redis!.stop();
          await assert.rejects(a.sessions.create('alice'), (err: unknown) => err instanceof RdriveError && err.code === 'UNAVAILABLE');
          await assert.rejects(a.usage.tryReserve('alice', { bytes: 1, entries: 0 }, { bytes: 10, entries: 0 }), (err: unknown) => err instanceof RdriveError && err.code === 'UNAVAILABLE');
          await redis!.start();
          const back = await waitFor(() => a.sessions.create('alice').then((r) => r.ok, () => false), (ok) => ok, 10_000, 100);
          assert.equal(back, true);
        });
      });
    }
  });
}

async function flush(stores: StateStores): Promise<void> {
  if (stores.kind !== 'redis') return;
  // Reach the connection through the session store: a test-only door, kept out of the interface.
  const redisClient = (stores.sessions as unknown as { redis: { flushdb: () => Promise<unknown> } }).redis;
  await redisClient.flushdb();
}
