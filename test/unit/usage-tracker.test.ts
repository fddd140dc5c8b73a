import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryUsageStore } from '../../server/state/usage-tracker.js';

test('usage is measured once, kept current by writes, and measured again after invalidate', async () => {
  const walks: string[] = [];
  let onDisk = 1000;
  const usage = new MemoryUsageStore(async (user: string) => {
    walks.push(user);
    return onDisk;
  });
  await usage.add('alice', 500); // nothing measured yet: no walk, nothing to keep current
  assert.deepEqual(walks, []);
  assert.equal(await usage.get('alice'), 1000);
  await usage.add('alice', 300);
  await usage.add('alice', -5000);
  assert.equal(await usage.get('alice'), 0, 'never below zero');
  await usage.add('alice', 42);
  assert.equal(await usage.get('alice'), 42);
  assert.deepEqual(walks, ['alice']);
  onDisk = 7;
  await usage.invalidate('alice');
  assert.equal(await usage.get('alice'), 7);
  assert.deepEqual(walks, ['alice', 'alice']);
});

test('concurrent adds on a known figure all count', async () => {
  const usage = new MemoryUsageStore(async () => 0);
  await usage.get('bob');
  await Promise.all(Array.from({ length: 50 }, () => usage.add('bob', 10)));
  assert.equal(await usage.get('bob'), 500);
});

test('reservations: never beyond the limit together, given back on release, settled to the real change', async () => {
  const usage = new MemoryUsageStore(async () => 100);
  const grants = await Promise.all(Array.from({ length: 10 }, () => usage.tryReserve('carol', 100, 500)));
  assert.equal(grants.filter(Boolean).length, 4, '100 used + 4 × 100 reserved fill the 500 limit');
  await usage.settle('carol', 100, 0); // one writer failed: its bytes come back
  assert.equal(await usage.tryReserve('carol', 100, 500), true);
  await usage.settle('carol', 100, 60); // one writer stored 60 of its 100
  assert.equal(await usage.get('carol'), 160);
  assert.equal(await usage.tryReserve('carol', 41, 500), false, '160 used + 300 reserved + 41 > 500');
  assert.equal(await usage.tryReserve('carol', 40, 500), true);
});

test('a reservation decided while another write settles reads the settled figure, not the one it waited for', async () => {
  const store = new MemoryUsageStore(async () => 0);
  assert.equal(await store.tryReserve('u', 262_144, 300_000), true);
  const second = store.tryReserve('u', 262_144, 300_000);
  // The first write lands (90,000 bytes stored) while the second waits for the figure.
  await store.settle('u', 262_144, 90_000);
  assert.equal(await second, false, '90,000 stored + 262,144 would pass the quota');
  assert.equal(await store.tryReserve('u', 90_000, 300_000), true);
});
