import assert from 'node:assert/strict';
import { readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Logger } from 'pino';
import { LOG_ROTATION_DEFAULTS, parseLogSize, resolveLogRotation } from '../../common/log-rotation.js';
import { createLogger, defaultClientLogFile } from '../../common/logging.js';
import { makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const flush = (log: Logger): Promise<void> => new Promise<void>((resolve) => log.flush(() => resolve()));

test('the client log goes to the XDG state directory unless --log-file says otherwise', () => {
  assert.equal(defaultClientLogFile({ XDG_STATE_HOME: '/x/state' }, '/home/u'), '/x/state/rdrive/client.log');
  assert.equal(defaultClientLogFile({}, '/home/u'), '/home/u/.local/state/rdrive/client.log');
  assert.equal(defaultClientLogFile({ XDG_STATE_HOME: '' }, '/home/u'), '/home/u/.local/state/rdrive/client.log');
});

test('one logger for both sides: secrets are redacted, each field once', async () => {
  const tmp = await makeTempDir();
  try {
    const file = join(tmp.path, 'sub', 'x.log');
    const log = await createLogger('client', file, 'info', resolveLogRotation({}));
    log.info({ password: 'pw-1', user: { token: 'tok-2' }, headers: { authorization: 'Bearer tok-3' }, reason: 'why' }, 'op failed');
    await flush(log);
    const text = await readFile(file, 'utf8');
    assert.doesNotMatch(text, /pw-1|tok-2|tok-3/);
    assert.match(text, /"side":"client"/);
    assert.equal(text.split('"msg"').length - 1, 1, 'one msg field per line');
  } finally {
    await tmp.remove();
  }
});

test('log sizes and rotation options: defaults, units, clear errors', () => {
  assert.deepEqual(resolveLogRotation({}), { maxBytes: 10 * 1024 ** 2, keep: LOG_ROTATION_DEFAULTS.keep, every: undefined });
  assert.equal(parseLogSize('512K'), 512 * 1024);
  assert.equal(parseLogSize('1g'), 1024 ** 3);
  assert.equal(parseLogSize('10MiB'), 10 * 1024 ** 2);
  assert.equal(parseLogSize('4096'), 4096);
  assert.equal(parseLogSize(0), 0);
  assert.deepEqual(resolveLogRotation({ maxSize: '0', keep: '2', every: 'daily' }), { maxBytes: 0, keep: 2, every: 'daily' });
  assert.throws(() => parseLogSize('ten'), /--log-max-size must be a size such as 10M/);
  assert.throws(() => resolveLogRotation({ maxSize: '100' }), /at least 1K/);
  assert.throws(() => resolveLogRotation({ keep: '0' }), /--log-keep must be a whole number from 1/);
  assert.throws(() => resolveLogRotation({ every: 'weekly' }), /--log-rotate must be hourly or daily/);
});

test('a log written far past its size limit rotates and keeps only the bounded number of files', async () => {
  const tmp = await makeTempDir();
  try {
    const file = join(tmp.path, 'server.log');
    // A log from before rotation existed joins the rotated set (and is removed as the oldest).
    await writeFile(file, '{"msg":"from an older version"}\n');
    const maxBytes = 4096;
    const keep = 2;
    const log = await createLogger('server', file, 'info', { maxBytes, keep, every: undefined });
    const filler = 'x'.repeat(400);
    for (let i = 0; i < 200; i++) {
      log.info({ i, filler }, 'line');
      await flush(log);
    }
    const numbered = (names: string[]): number[] => names.map((n) => /^server\.(\d+)\.log$/.exec(n)?.[1]).filter((n) => n !== undefined).map(Number);
    // Old files are deleted just after each rotation, asynchronously: wait for the last deletion.
    const names = await waitFor(() => readdir(tmp.path), (n) => numbered(n).length <= keep + 1, 5_000);
    const numbers = numbered(names).sort((a, b) => a - b);
    assert.ok(numbers.length <= keep + 1, `at most ${keep} rotated files besides the current one: ${names.join(' ')}`);
    assert.ok(Math.max(...numbers) >= 10, `~80 KB through a 4 KB limit rotates many times: ${names.join(' ')}`);
    assert.ok(!numbers.includes(0), 'the old plain log was removed as the oldest');
    // The documented name is a link to the current file, so tail -F and readers of server.log keep working.
    assert.equal(await readlink(file), `server.${Math.max(...numbers)}.log`);
    for (const n of numbers) {
      const size = (await stat(join(tmp.path, `server.${n}.log`))).size;
      assert.ok(size <= maxBytes + 1024, `server.${n}.log is ${size} B, past the ${maxBytes} B limit by more than a line`);
    }
    log.info('after the rotations');
    await flush(log);
    assert.match(await readFile(file, 'utf8'), /after the rotations/);
  } finally {
    await tmp.remove();
  }
});

test('two logs whose names share a prefix rotate apart: neither deletes the other\'s files or link', async () => {
  const tmp = await makeTempDir();
  try {
    const rotation = { maxBytes: 2048, keep: 2, every: undefined };
    const second = await createLogger('client', join(tmp.path, 'client-mnt2.log'), 'info', rotation);
    second.info('the second mount');
    await flush(second);
    const first = await createLogger('client', join(tmp.path, 'client-mnt.log'), 'info', rotation);
    const filler = 'x'.repeat(400);
    for (let i = 0; i < 60; i++) {
      first.info({ i, filler }, 'line');
      await flush(first);
    }
    const rotated = (names: string[]): string[] => names.filter((n) => /^client-mnt\.\d+\.log$/.test(n));
    const names = await waitFor(() => readdir(tmp.path), (n) => rotated(n).length <= 3, 5_000);
    assert.ok(rotated(names).length >= 2, `the first log rotated: ${names.join(' ')}`);
    assert.ok(rotated(names).length <= 3, `and kept at most 2 old files: ${names.join(' ')}`);
    assert.match(await readFile(join(tmp.path, 'client-mnt2.log'), 'utf8'), /the second mount/, `the second log's link and file are intact: ${names.join(' ')}`);
  } finally {
    await tmp.remove();
  }
});
