import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashPassword, isHashed, verifyPassword } from '../../server/auth/password-hash.js';
import { parseUsers, formatUsers } from '../../server/auth/users-file.js';
import { MemorySessionStore } from '../../server/state/session-store.js';

const CHEAP = { N: 2 ** 10, r: 8, p: 1 };

test('hashes are salted, carry their parameters and verify', async () => {
  const a = await hashPassword('secret', CHEAP);
  const b = await hashPassword('secret', CHEAP);
  assert.notEqual(a, b);
  assert.match(a, /^scrypt\$1024\$8\$1\$/);
  assert.equal(await verifyPassword('secret', a), true);
  assert.equal(await verifyPassword('Secret', a), false);
  assert.equal(await verifyPassword('secret', 'scrypt$1024$8$1$bad$bad'), false);
  assert.equal(isHashed(a), true);
});

test('the default cost is OWASP minimum and works under Node limits', async () => {
  const hash = await hashPassword('pw');
  assert.match(hash, /^scrypt\$131072\$8\$1\$/);
  assert.equal(await verifyPassword('pw', hash), true);
});

test('users file parses hashed and legacy lines', () => {
  const hash = `scrypt$16384$8$1$${Buffer.alloc(16, 1).toString('base64')}$${Buffer.alloc(32, 2).toString('base64')}`;
  const users = parseUsers(`# comment\nalice:${hash}\nbob:plain\n\n`);
  assert.equal(users.get('alice')?.legacy, false);
  assert.equal(users.get('bob')?.legacy, true);
  assert.equal(users.size, 2);
  assert.equal(formatUsers(users.values()), `alice:${hash}\nbob:plain\n`);
});

test('sessions expire after idle time and free their slot', async () => {
  let now = 1_000;
  const store = new MemorySessionStore(100_000, 2, () => now);
  const a = await store.create('alice');
  const b = await store.create('bob');
  assert.ok(a.ok && b.ok);
  const full = await store.create('carol');
  assert.equal(full.ok, false);
  if (!full.ok) assert.ok(full.retryAfter >= 1 && full.retryAfter <= 100);
  now += 50_000;
  assert.ok(a.ok && (await store.touch(a.session.token)) !== undefined);
  now += 60_000;
  assert.ok(b.ok && (await store.touch(b.session.token)) === undefined, 'bob idled 110 s');
  assert.ok(a.ok && (await store.touch(a.session.token)) !== undefined, 'alice was used 60 s ago');
  assert.equal((await store.create('carol')).ok, true);
});
