import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDf, formatListing, hexdump, humanSize, isPrintableText, modeString } from '../../cli/format.js';
import { parseRange } from '../../server/http/routes/files.js';

test('mode strings and sizes', () => {
  assert.equal(modeString({ type: 'dir', mode: 0o755 }), 'drwxr-xr-x');
  assert.equal(modeString({ type: 'file', mode: 0o640 }), '-rw-r-----');
  assert.equal(humanSize(512), '512B');
  assert.equal(humanSize(1536), '1.5K');
  assert.equal(humanSize(5 * 1024 ** 3), '5.0G');
});

test('listing is sorted and marks directories', () => {
  const entries = [
    { name: 'b', type: 'file' as const, size: 3, mtime: 0, atime: 0, ctime: 0, mode: 0o644 },
    { name: 'a', type: 'dir' as const, size: 0, mtime: 0, atime: 0, ctime: 0, mode: 0o755 },
  ];
  assert.equal(formatListing(entries, false), 'a/\nb\n');
  assert.match(formatListing(entries, true), /^drwxr-xr-x 0 1970-01-01 00:00:00 a\/\n-rw-r--r-- 3 1970-01-01 00:00:00 b\n$/);
});

test('binary is detected and dumped like xxd', () => {
  assert.equal(isPrintableText(Buffer.from('hello\nworld\t!')), true);
  assert.equal(isPrintableText(Buffer.from([0x68, 0x00, 0x69])), false);
  assert.equal(isPrintableText(Buffer.from([0xff, 0xfe, 0x41])), false);
  const cut = Buffer.from('aaaé').subarray(0, 4);
  assert.equal(isPrintableText(cut), true, 'a multi-byte char cut at the end is still text');
  assert.equal(hexdump(Buffer.from('ABC\u0001')), '00000000: 4142 4301                                ABC.\n');
});

test('Range header parsing', () => {
  assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
  assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=50-500', 100), { start: 50, end: 99 });
  assert.equal(parseRange(undefined, 100), undefined);
  assert.throws(() => parseRange('bytes=100-', 100), /satisfiable/);
  assert.throws(() => parseRange('items=1-2', 100), /Malformed/);
});

test('df: Use% is used / (used + available), as df computes it, not used / size', () => {
  const G = 1024 ** 3;
  // A disk whose reserve keeps part of it from the user: 252G size, 24G used, 78G available.
  assert.match(formatDf({ total: 252 * G, used: 24 * G, free: 78 * G, blockSize: 4096 }), /^252G\s+24G\s+78G\s+24%$/m);
  assert.match(formatDf({ total: 0, used: 0, free: 0, blockSize: 4096 }), /\s0%$/m);
  // Columns right-aligned under their headings, as df prints them.
  assert.equal(formatDf({ total: 252 * G, used: 24 * G, free: 78 * G, blockSize: 4096 }), 'Size  Used  Avail  Use%\n252G   24G    78G   24%\n');
});
