import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectionCap, openFileLimit } from '../../server/http/connection-limits.js';

test('connections never take the descriptors that file I/O needs', () => {
  assert.equal(connectionCap(1024, undefined), 1024, 'no known limit: as asked');
  assert.equal(connectionCap(1024, 1_048_576), 1024, 'a high limit: as asked');
  assert.equal(connectionCap(1024, 512), 224, '(512 - 64) / 2: a descriptor per connection for its files');
  assert.equal(connectionCap(100, 512), 100, 'asked for fewer than the limit allows');
  assert.equal(connectionCap(1024, 2112), 1024, 'exactly enough');
  assert.equal(connectionCap(1024, 2111), 1023);
  assert.equal(connectionCap(1024, 50), 1, 'a limit below the reserve still serves one');
});

test('the open-file limit is read from /proc/self/limits', async () => {
  const limit = await openFileLimit();
  assert.ok(limit !== undefined && limit > 0, `limit ${String(limit)}`);
});
