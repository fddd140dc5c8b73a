import assert from 'node:assert/strict';
import { test } from 'node:test';
import { staleCacheDirs } from '../../mount/daemon/cache-dir.js';

test('only cache folders of daemons that are gone count as stale', () => {
  const running = new Set([100, process.pid]);
  const names = [
    'rdrive-cache-100-aB3dE9', // its daemon runs
    'rdrive-cache-200-Xy12zW', // gone
    `rdrive-cache-${process.pid}-qwerty`, // this very process
    'rdrive-cache-300-short', // not a name we make
    'rdrive-cache-AbC123', // older naming without a pid: unknown owner, kept
    'rdrive-server-400-abcdef',
    'other',
  ];
  assert.deepEqual(staleCacheDirs(names, (pid) => running.has(pid)), ['rdrive-cache-200-Xy12zW']);
  assert.deepEqual(staleCacheDirs(names, () => true), []);
});
