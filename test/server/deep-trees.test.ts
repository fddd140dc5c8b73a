import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApiClient } from '../../mount/remote/api-client.js';
import { startServer } from '../helpers/server-process.js';

// A user can build a tree deeper than any path the API takes: make chains, then rename each
// under the bottom of the next. With a descriptor held per level, walking it (rm -r, the quota's
// count after a restart) ran the server out of descriptors: EIO, other users' requests failing,
// the tree undeletable and its bytes uncounted. The server here may hold 300 descriptors.
const T = { timeout: 120_000 };
const CHAIN = 150;
const CHAINS = 4;
const chain = (n: number): string => `c${n}/${Array.from({ length: CHAIN }, () => 'd').join('/')}`;

test('a tree deeper than the server\'s descriptors is counted after a restart and removed whole', T, async () => {
  const server = await startServer({ wrapper: ['prlimit', '--nofile=300', '--'], args: ['--quota', '10000000'] });
  let alice = new ApiClient({ server: server.url });
  const bob = new ApiClient({ server: server.url });
  try {
    await alice.login('alice', 'alice-pass');
    for (let n = 0; n < CHAINS; n++) {
      await alice.mkdir(chain(n), { parents: true });
      // Branches along the way: a walk must come back up through every level.
      for (let level = 10; level < CHAIN; level += 10) await alice.mkdir(`${chain(n).slice(0, 2 * level + 2)}/x${level}`);
      await alice.upload(`${chain(n)}/bottom.bin`, () => Buffer.alloc(100_000, n));
      await alice.upload(`${chain(n).slice(0, 2 * 60 + 2)}/x60/side.bin`, () => Buffer.alloc(1_000, n));
    }
    // c0 under c1's bottom, that under c2's, ...: 600 levels and more.
    for (let n = 0; n < CHAINS - 1; n++) await alice.rename(`c${n}`, `${chain(n + 1)}/c${n}`);
    const stored = CHAINS * 101_000;

    await alice.close();
    await server.restart();
    alice = new ApiClient({ server: server.url });
    await alice.login('alice', 'alice-pass');
    assert.equal((await alice.statfs()).used, stored, 'every byte of the deep tree counts against the quota');

    await bob.login('bob', 'bob-pass');
    await bob.upload('mine.txt', () => Buffer.from('bob'));
    const others = Array.from({ length: 20 }, () => bob.stat('mine.txt'));
    await alice.rmdir(`c${CHAINS - 1}`, { recursive: true });
    for (const result of await Promise.allSettled(others)) assert.equal(result.status, 'fulfilled', 'another user\'s requests are served meanwhile');
    assert.deepEqual(await readdir(join(server.storage, 'alice')), [], 'nothing of the tree is left, not even a temp folder');
    assert.equal((await alice.statfs()).used, 0);
  } finally {
    await alice.close();
    await bob.close();
    await server.cleanup();
  }
});
