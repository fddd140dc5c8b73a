import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommitGroup } from '../../server/storage/commit-group.js';
import { waitFor } from '../helpers/wait.js';

/** A flush that counts its runs and finishes only when told to. */
function controlledFlush(): { flush: () => Promise<void>; runs: () => number; finish: () => void } {
  let runs = 0;
  const pending: Array<() => void> = [];
  return {
    flush: () => {
      runs++;
      return new Promise<void>((resolve) => pending.push(resolve));
    },
    runs: () => runs,
    finish: () => pending.shift()?.(),
  };
}

test('many writes within the interval cost one flush', { timeout: 10_000 }, async () => {
  const f = controlledFlush();
  const group = new CommitGroup(f.flush, 50);
  for (let i = 0; i < 100; i++) group.noteWrite();
  assert.equal(f.runs(), 0, 'nothing flushed before the interval');
  await waitFor(f.runs, (n) => n > 0, 5_000, 10);
  assert.equal(f.runs(), 1);
  f.finish();
  await group.close();
  assert.equal(f.runs(), 1, 'nothing left to flush at close');
});

test('sync() starts a commit at once and does not count one that began before it', { timeout: 10_000 }, async () => {
  const f = controlledFlush();
  const group = new CommitGroup(f.flush, 60_000);
  group.noteWrite();
  let firstDone = false;
  const first = group.sync().then(() => { firstDone = true; });
  assert.equal(f.runs(), 1, 'sync() does not wait for the interval');
  let secondDone = false;
  const second = group.sync().then(() => { secondDone = true; });
  const third = group.sync();
  f.finish();
  await first;
  assert.equal(firstDone, true);
  assert.equal(secondDone, false, 'a sync() during a running commit waits for the next one');
  await waitFor(f.runs, (n) => n === 2, 5_000, 5);
  assert.equal(f.runs(), 2, 'callers arriving during one commit share the next');
  f.finish();
  await Promise.all([second, third]);
  await group.close();
});

test('a failed flush is retried at the next interval', { timeout: 10_000 }, async () => {
  let runs = 0;
  const errors: unknown[] = [];
  const group = new CommitGroup(async () => {
    runs++;
    if (runs === 1) throw new Error('disk hiccup');
  }, 20, (err) => errors.push(err));
  group.noteWrite();
  await waitFor(() => runs, (n) => n >= 2, 5_000, 5);
  assert.equal(runs, 2);
  assert.equal(errors.length, 1);
  await group.close();
});
