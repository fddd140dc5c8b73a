import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageTracker } from '../../server/state/usage-tracker.js';

test('usage is measured once, kept current by writes, and measured again after invalidate', async () => {
  const walks: string[] = [];
  let onDisk = 1000;
  const usage = new UsageTracker(async (user) => {
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
  usage.invalidate('alice');
  assert.equal(await usage.get('alice'), 7);
  assert.deepEqual(walks, ['alice', 'alice']);
});

test('concurrent adds on a known figure all count', async () => {
  const usage = new UsageTracker(async () => 0);
  await usage.get('bob');
  await Promise.all(Array.from({ length: 50 }, () => usage.add('bob', 10)));
  assert.equal(await usage.get('bob'), 500);
});
