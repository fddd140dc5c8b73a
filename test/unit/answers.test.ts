import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { checkAttr, checkHeads, checkListing, checkLogin, checkRange, checkStatFs, leaseMs, readBody } from '../../mount/remote/answers.js';
import { MAX_TIME_MS, MIN_TIME_MS } from '../../common/api.js';
import { RdriveError } from '../../common/errors.js';

const attr = { type: 'file', size: 3, mtime: 1e12, atime: 1e12, ctime: 1e12, mode: 0o644 };

function eio(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof RdriveError && err.code === 'EIO');
}

test('an Attr keeps its fields and nothing else; every field out of range is EIO', () => {
  assert.deepEqual(checkAttr({ ...attr, id: 'k3', extra: 'x', __proto__: { size: 1 } }, 'GET /stat/a'), { ...attr, id: 'k3' });
  assert.deepEqual(checkAttr({ ...attr, type: 'symlink', target: 'b' }, 'x'), { ...attr, type: 'symlink', target: 'b' });
  // A disk with a wider range than the mount shows (btrfs): dated at the range's end, not hidden.
  assert.deepEqual(checkAttr({ ...attr, mtime: 1e300, atime: -1e300 }, 'x'), { ...attr, mtime: MAX_TIME_MS, atime: MIN_TIME_MS });
  const bad = [
    null, [], 'x', { ...attr, type: 'device' }, { ...attr, size: -1 }, { ...attr, size: 1.5 }, { ...attr, size: 2 ** 53 }, { ...attr, size: '3' },
    { ...attr, mtime: Number.NaN }, { ...attr, ctime: Number.POSITIVE_INFINITY }, { ...attr, atime: null }, { ...attr, mtime: '1' }, { ...attr, mode: 0o10000 }, { ...attr, mode: -1 },
    { ...attr, nlink: 0 }, { ...attr, nlink: 2 ** 32 }, { ...attr, uid: -1 }, { ...attr, gid: 2 ** 32 - 1 }, { ...attr, rdev: -1 }, { ...attr, blocks: -1 },
    { ...attr, id: 'A' }, { ...attr, id: 'a\r\nb' }, { ...attr, id: 7 }, { ...attr, type: 'symlink' }, { ...attr, type: 'symlink', target: 'a\0b' },
    { ...attr, type: 'symlink', target: 'x'.repeat(4096) },
  ];
  for (const value of bad) eio(() => checkAttr(value, 'x'));
});

test('a listing leaves out names the kernel cannot take, bad entries and repeats, and counts why', () => {
  const names = ['ok', 'a/b', '.', '..', '', 'a\0b', 'é'.repeat(128), 'ok', 'x'.repeat(255)];
  const { entries, dropped } = checkListing({ entries: [...names.map((name) => ({ name, ...attr })), { name: 'neg', ...attr, size: -1 }, 7, { ...attr }] }, 'x');
  assert.deepEqual(entries.map((e) => e.name), ['ok', 'x'.repeat(255)]);
  assert.equal([...dropped.values()].reduce((a, b) => a + b, 0), 10);
  for (const shape of [null, [], {}, { entries: {} }, { entries: 'x' }]) eio(() => checkListing(shape, 'x'));
});

test('a ranged read: only the range asked, starting where asked, no longer than asked', () => {
  const body = Buffer.from('abcd');
  assert.equal(checkRange(206, 'bytes 10-13/100', 10, 4, body, 'x'), body);
  assert.equal(checkRange(206, 'bytes 10-13/*', 10, 8, body, 'x'), body);
  assert.equal(checkRange(200, undefined, 0, 4, body, 'x'), body);
  eio(() => checkRange(200, undefined, 10, 4, body, 'x'));
  eio(() => checkRange(200, undefined, 0, 3, body, 'x'));
  eio(() => checkRange(206, 'bytes 9-12/100', 10, 4, body, 'x'));
  eio(() => checkRange(206, 'bytes 10-14/100', 10, 8, body, 'x'));
  eio(() => checkRange(206, 'bytes 10-13/100', 10, 3, body, 'x'));
  eio(() => checkRange(206, undefined, 10, 4, body, 'x'));
  eio(() => checkRange(302, undefined, 0, 4, body, 'x'));
});

test('a folder read: names of the folder in order from the one asked, whole contents filling the body exactly', () => {
  const answer = (entries: unknown[], contents: string, extra: object = {}): Buffer =>
    Buffer.from(`${JSON.stringify({ leaseMs: 1e12, more: false, entries, ...extra })}\n${contents}`);
  const entry = (name: string, size: number): object => ({ name, ...attr, size, etag: '"e"', length: size });
  const ok = checkHeads(answer([entry('b', 2), entry('c', 1)], 'xxy'), 'b', 16, 'x');
  assert.deepEqual(ok.files.map((f) => [f.name, f.data.toString()]), [['b', 'xx'], ['c', 'y']]);
  assert.equal(ok.leaseMs, 60_000, 'a lease is capped');
  eio(() => checkHeads(answer([entry('sub/x', 1)], 'x'), '', 16, 'x'));
  eio(() => checkHeads(answer([entry('..', 1)], 'x'), '', 16, 'x'));
  eio(() => checkHeads(answer([entry('a', 1)], 'x'), 'b', 16, 'x'));
  eio(() => checkHeads(answer([entry('c', 1), entry('b', 1)], 'xx'), 'b', 16, 'x'));
  eio(() => checkHeads(answer([entry('b', 1), entry('b', 1)], 'xx'), 'b', 16, 'x'));
  eio(() => checkHeads(answer([entry('b', 1), entry('c', 1)], 'xx'), 'b', 1, 'x'));
  eio(() => checkHeads(answer([{ ...entry('b', 4), length: 1 }], 'x'), 'b', 16, 'x'));
  eio(() => checkHeads(answer([entry('b', 2)], 'x'), 'b', 16, 'x'));
  eio(() => checkHeads(answer([entry('b', 1)], 'xy'), 'b', 16, 'x'));
  eio(() => checkHeads(answer([{ ...entry('b', 1), etag: 'a\nb' }], 'x'), 'b', 16, 'x'));
  eio(() => checkHeads(Buffer.from('{"entries":[]}'), 'b', 16, 'x'));
  eio(() => checkHeads(Buffer.from('nope\n'), 'b', 16, 'x'));
});

test('statfs, login and lease figures from the server are checked', () => {
  assert.deepEqual(checkStatFs({ total: 10, free: 5, used: 5, blockSize: 4096 }, 'x'), { total: 10, free: 5, used: 5, blockSize: 4096 });
  for (const bad of [{ total: -1, free: 0, used: 0, blockSize: 1 }, { total: 1, free: 0, used: 0, blockSize: 1.5 }, { total: 'x', free: 0, used: 0, blockSize: 1 }]) eio(() => checkStatFs(bad, 'x'));
  // Entry figures (--max-entries) pass when whole numbers, and are refused otherwise.
  const entries = { entriesTotal: 100, entriesUsed: 40, entriesFree: 60 };
  assert.deepEqual(checkStatFs({ total: 10, free: 5, used: 5, blockSize: 4096, ...entries }, 'x'), { total: 10, free: 5, used: 5, blockSize: 4096, ...entries });
  for (const bad of [{ entriesTotal: -1 }, { entriesFree: 1.5 }, { entriesUsed: '7' }]) eio(() => checkStatFs({ total: 10, free: 5, used: 5, blockSize: 4096, ...bad }, 'x'));
  assert.equal(checkLogin({ token: 'abc', user: 'u', idleTimeout: 100 }, 'x').token, 'abc');
  for (const token of ['', 'a\r\nb', 'a b', 7]) eio(() => checkLogin({ token, user: 'u' }, 'x'));
  assert.equal(leaseMs('5000'), 5000);
  assert.equal(leaseMs('1e9'), 0);
  assert.equal(leaseMs('-5'), 0);
  assert.equal(leaseMs('99999999999'), 60_000);
});

test('a body is read up to its limit, and not waited for past its time', async () => {
  const small = new PassThrough();
  small.end('hello');
  assert.equal((await readBody(small, 5, 1000, 'x')).toString(), 'hello');
  const big = new PassThrough();
  big.end(Buffer.alloc(10));
  await assert.rejects(readBody(big, 5, 1000, 'x'), (err: unknown) => err instanceof RdriveError && err.code === 'EIO' && /larger than 5 bytes/.test(err.message));
  const drip = new PassThrough();
  const timer = setInterval(() => drip.write('x'), 20);
  const started = Date.now();
  await assert.rejects(readBody(drip, 1e6, 300, 'x'), (err: unknown) => err instanceof RdriveError && err.code === 'ETIMEDOUT');
  clearInterval(timer);
  assert.ok(Date.now() - started < 2000);
  assert.ok(drip.destroyed, 'the body is dropped');
});
