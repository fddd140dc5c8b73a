import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadAhead } from '../../mount/cache/read-ahead.js';

const MiB = 1024 * 1024;

function recorder(size: number): { ahead: ReadAhead; asked: Array<[number, number]> } {
  const asked: Array<[number, number]> = [];
  const ahead = new ReadAhead(async (offset, length) => {
    asked.push([offset, length]);
    return Buffer.alloc(Math.max(0, Math.min(length, size - offset)), 1);
  }, () => size);
  return { ahead, asked };
}

test('read-ahead: random reads fetch 32 KiB each after the first jump, not a whole window', async () => {
  const { ahead, asked } = recorder(64 * MiB);
  for (const page of [7000, 123, 9001, 42, 15000, 3]) {
    const data = await ahead.read(page * 4096, 4096);
    assert.equal(data.length, 4096);
  }
  assert.equal(asked[0]![1], 256 * 1024, 'the first read may start a stream');
  assert.deepEqual(asked.slice(1).map(([, length]) => length), [32768, 32768, 32768, 32768, 32768]);
});

test('read-ahead: a sequential stream still grows its windows and fetches ahead, also after one jump', async () => {
  const { ahead, asked } = recorder(64 * MiB);
  for (let offset = 0; offset < 4 * MiB; offset += 128 * 1024) assert.equal((await ahead.read(offset, 128 * 1024)).length, 128 * 1024);
  assert.ok(asked.some(([, length]) => length >= 2 * MiB), `windows grew: ${asked.map(([, l]) => l).join(' ')}`);
  const before = asked.length;
  await ahead.read(32 * MiB, 128 * 1024);
  assert.equal(asked[before]![1], 256 * 1024, 'one jump of a stream starts a normal window');
  await ahead.read(32 * MiB + 128 * 1024, 128 * 1024);
  assert.ok(asked.length > before + 1, 'and the stream fetches ahead again');
});

test('read-ahead: a stream whose reads arrive out of order still grows its windows', async () => {
  const { ahead, asked } = recorder(64 * MiB);
  const chunk = 128 * 1024;
  // Pairs swapped, as the kernel's concurrent reads reach the event loop: 1, 0, 3, 2, ...
  for (let i = 0; i < 64; i += 2) {
    for (const j of [i + 1, i]) assert.equal((await ahead.read(j * chunk, chunk)).length, chunk);
  }
  assert.ok(asked.some(([, length]) => length >= 4 * MiB), `windows grew: ${asked.map(([, l]) => l / 1024).join(' ')} KiB`);
  assert.ok(asked.every(([, length]) => length > 32 * 1024), 'no read of the stream was taken for random access');
});
