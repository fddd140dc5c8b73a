import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RdriveError } from '../../common/errors.js';
import { checkNode, decodeSpecial, encodeSpecial, type Special } from '../../server/storage/special-file.js';

test('every special kind survives encode/decode', () => {
  const cases: Special[] = [
    { type: 'symlink', target: '../a b/ü' },
    { type: 'fifo', mode: 0o644, rdev: 0 },
    { type: 'socket', mode: 0o7777, rdev: 0 },
    { type: 'char', mode: 0o666, rdev: 0x105 },
    { type: 'block', mode: 0o600, rdev: 2 ** 40 + 7 },
  ];
  for (const special of cases) assert.deepEqual(decodeSpecial(encodeSpecial(special)), special);
  assert.equal(encodeSpecial({ type: 'char', mode: 0o666, rdev: 0x105 }).toString('latin1'), '\0rdrive-node-v1\nc 0666 0000000000000105\n');
});

test('malformed content is no special file (it stays a plain file)', () => {
  const good = encodeSpecial({ type: 'fifo', mode: 0o644, rdev: 0 });
  assert.equal(decodeSpecial(Buffer.alloc(0)), undefined);
  assert.equal(decodeSpecial(Buffer.from('plain text that is long enough to be looked at')), undefined);
  assert.equal(decodeSpecial(Buffer.concat([good, Buffer.from('x')])), undefined, 'trailing bytes');
  assert.equal(decodeSpecial(Buffer.from(good.toString('latin1').replace(' 0644 ', ' 0648 '), 'latin1')), undefined, 'not octal');
  assert.equal(decodeSpecial(Buffer.from(good.toString('latin1').replace('p 0644', 'x 0644'), 'latin1')), undefined, 'unknown letter');
  assert.equal(decodeSpecial(Buffer.from('\0rdrive-symlink-v1\n', 'latin1')), undefined, 'a link needs a target');
});

test('checkNode: known types only, sane numbers, rdev only for devices', () => {
  assert.deepEqual(checkNode({ type: 'fifo' }), { type: 'fifo', mode: 0o644, rdev: 0 });
  assert.deepEqual(checkNode({ type: 'fifo', mode: 0o100644, rdev: 5 }), { type: 'fifo', mode: 0o644, rdev: 0 });
  assert.deepEqual(checkNode({ type: 'block', mode: 0o600, rdev: 0x801 }), { type: 'block', mode: 0o600, rdev: 0x801 });
  for (const bad of [undefined, {}, { type: 'file' }, { type: 'dir' }, { type: 'symlink' }, { type: 'fifo', mode: -1 }, { type: 'char', rdev: 1.5 }, { type: 'char', rdev: '3' }]) {
    assert.throws(() => checkNode(bad), (err: unknown) => err instanceof RdriveError && err.code === 'EINVAL', JSON.stringify(bad));
  }
});
