import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryUsageStore, type Over, type Usage } from '../../server/state/usage-tracker.js';

// Bytes only (these tests are about the byte figure; the entry figure follows the same code).
const B = (bytes: number): Usage => ({ bytes, entries: 0 });
const limit = (bytes: number): Usage => ({ bytes, entries: 0 });
const granted = (over: Over | undefined): boolean => over === undefined;

test('usage is measured once, kept current by writes, and measured again after invalidate', async () => {
  const walks: string[] = [];
  let onDisk = 1000;
  const usage = new MemoryUsageStore(async (user: string) => {
    walks.push(user);
    return B(onDisk);
  });
  await usage.add('alice', B(500)); // nothing measured yet: no walk, nothing to keep current
  assert.deepEqual(walks, []);
  assert.equal((await usage.get('alice')).bytes, 1000);
  await usage.add('alice', B(300));
  await usage.add('alice', B(-5000));
  assert.equal((await usage.get('alice')).bytes, 0, 'never below zero');
  await usage.add('alice', B(42));
  assert.equal((await usage.get('alice')).bytes, 42);
  assert.deepEqual(walks, ['alice']);
  onDisk = 7;
  await usage.invalidate('alice');
  assert.equal((await usage.get('alice')).bytes, 7);
  assert.deepEqual(walks, ['alice', 'alice']);
});

test('concurrent adds on a known figure all count', async () => {
  const usage = new MemoryUsageStore(async () => B(0));
  await usage.get('bob');
  await Promise.all(Array.from({ length: 50 }, () => usage.add('bob', B(10))));
  assert.equal((await usage.get('bob')).bytes, 500);
});

test('reservations: never beyond the limit together, given back on release, settled to the real change', async () => {
  const usage = new MemoryUsageStore(async () => B(100));
  const grants = await Promise.all(Array.from({ length: 10 }, () => usage.tryReserve('carol', B(100), limit(500))));
  assert.equal(grants.filter(granted).length, 4, '100 used + 4 × 100 reserved fill the 500 limit');
  await usage.settle('carol', B(100), B(0)); // one writer failed: its bytes come back
  assert.equal(await usage.tryReserve('carol', B(100), limit(500)), undefined);
  await usage.settle('carol', B(100), B(60)); // one writer stored 60 of its 100
  assert.equal((await usage.get('carol')).bytes, 160);
  assert.equal(await usage.tryReserve('carol', B(41), limit(500)), 'bytes', '160 used + 300 reserved + 41 > 500');
  assert.equal(await usage.tryReserve('carol', B(40), limit(500)), undefined);
});

test('a reservation decided while another write settles reads the settled figure, not the one it waited for', async () => {
  const store = new MemoryUsageStore(async () => B(0));
  assert.equal(await store.tryReserve('u', B(262_144), limit(300_000)), undefined);
  const second = store.tryReserve('u', B(262_144), limit(300_000));
  // The first write lands (90,000 bytes stored) while the second waits for the figure.
  await store.settle('u', B(262_144), B(90_000));
  assert.equal(await second, 'bytes', '90,000 stored + 262,144 would pass the quota');
  assert.equal(await store.tryReserve('u', B(90_000), limit(300_000)), undefined);
});
