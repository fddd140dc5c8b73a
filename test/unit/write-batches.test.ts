import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dropBytes } from '../../server/storage/local-disk.js';

const bufs = (): Buffer[] => [Buffer.from('abc'), Buffer.from('de'), Buffer.from('fghi')];
const text = (list: Buffer[]): string => Buffer.concat(list).toString();

test('a short writev resumes at the first byte it did not write', () => {
  assert.equal(text(dropBytes(bufs(), 0)), 'abcdefghi');
  assert.equal(text(dropBytes(bufs(), 1)), 'bcdefghi');
  assert.equal(text(dropBytes(bufs(), 3)), 'defghi');
  assert.equal(dropBytes(bufs(), 3).length, 2);
  assert.equal(text(dropBytes(bufs(), 4)), 'efghi');
  assert.equal(text(dropBytes(bufs(), 8)), 'i');
  assert.deepEqual(dropBytes(bufs(), 9), []);
});

test('the remaining buffers are views of the originals, not copies', () => {
  const list = bufs();
  const rest = dropBytes(list, 4);
  rest[0]![0] = 0x45; // 'E'
  assert.equal(list[1]!.toString(), 'dE');
});
