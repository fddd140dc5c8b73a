import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadLeases } from '../../server/state/read-leases.js';

/** A clock the test moves, and a sleep that moves it (the leases' waits take no real time). */
function fakeTime(): { now: () => number; sleep: (ms: number) => Promise<void>; slept: number[]; advance: (ms: number) => void } {
  let t = 1_000;
  const slept: number[] = [];
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
    slept,
  };
}

/** Leases made at least one lease length after the start (the start's own hold is tested below). */
function started(leaseMs: number, time: ReturnType<typeof fakeTime>): ReadLeases {
  const leases = new ReadLeases(leaseMs, time.now, time.sleep);
  time.advance(leaseMs);
  return leases;
}

test('a change waits for other sessions\' leases on its path, not for its own or unrelated ones', async () => {
  const time = fakeTime();
  const leases = started(1_000, time);
  assert.equal(leases.grant('alice', 'reader', 'docs/a.txt'), 1_000);
  leases.grant('alice', 'writer', 'docs/a.txt');
  leases.grant('alice', 'reader', 'docs/b.txt');
  leases.grant('bob', 'other', 'docs/a.txt');
  (await leases.beginChange('alice', 'writer', ['docs/a.txt']))();
  assert.deepEqual(time.slept, [1_001], 'waited for the reader\'s lease only');
  (await leases.beginChange('alice', 'writer', ['docs/a.txt']))();
  assert.deepEqual(time.slept, [1_001], 'an ended lease holds nothing');
  (await leases.beginChange('alice', 'reader', ['docs/c.txt']))();
  assert.deepEqual(time.slept, [1_001], 'an unrelated path waits for nothing');
});

test('a change of a folder covers the leases below it; the root covers all', async () => {
  const time = fakeTime();
  const leases = started(500, time);
  leases.grant('alice', 'reader', 'photos/2024/x.jpg');
  (await leases.beginChange('alice', 'writer', ['photos/2023']))();
  assert.deepEqual(time.slept, []);
  (await leases.beginChange('alice', 'writer', ['photos']))();
  assert.deepEqual(time.slept, [501]);
  leases.grant('alice', 'reader', 'a');
  (await leases.beginChange('alice', 'writer', ['']))();
  assert.deepEqual(time.slept, [501, 501]);
});

test('no lease is granted on a path while a change covering it runs', async () => {
  const time = fakeTime();
  const leases = started(1_000, time);
  const done = await leases.beginChange('alice', 'writer', ['docs']);
  assert.equal(leases.grant('alice', 'reader', 'docs/a.txt'), 0);
  assert.equal(leases.grant('alice', 'reader', 'other.txt'), 1_000);
  done();
  assert.equal(leases.grant('alice', 'reader', 'docs/a.txt'), 1_000);
});

test('just after a (re)start every change waits one lease length: leases of the previous run are unknown', async () => {
  const time = fakeTime();
  const leases = new ReadLeases(1_000, time.now, time.sleep);
  (await leases.beginChange('alice', 'writer', ['a.txt']))();
  assert.deepEqual(time.slept, [1_001]);
  (await leases.beginChange('alice', 'writer', ['a.txt']))();
  assert.deepEqual(time.slept, [1_001], 'once that has passed, nothing to wait for');
});

test('a folder change still finds a live lease deep below it after ended ones were swept away', async () => {
  const time = fakeTime();
  const leases = started(1_000, time);
  for (let i = 0; i < 1023; i++) leases.grant('alice', 'reader', `x/${i}`);
  time.advance(1_001);
  // The 1,024th grant sweeps the 1,023 ended leases first.
  leases.grant('alice', 'reader', 'a/b/c.txt');
  (await leases.beginChange('alice', 'writer', ['x']))();
  assert.deepEqual(time.slept, [], 'the swept leases hold nothing');
  (await leases.beginChange('alice', 'writer', ['a/b/other.txt']))();
  assert.deepEqual(time.slept, [], 'a sibling file waits for nothing');
  (await leases.beginChange('alice', 'writer', ['a']))();
  assert.deepEqual(time.slept, [1_001], 'the folder two levels up waits for the lease below it');
});
