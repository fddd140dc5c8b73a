import assert from 'node:assert/strict';
import { stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { utime } from '../../server/storage/local-disk.js';
import { makeTempDir } from '../helpers/tmp.js';

test('times set through utime() read back to the exact millisecond', async (t) => {
  const diagnostic = (message: string): void => t.diagnostic(message);
  const tmp = await makeTempDir();
  try {
    const file = join(tmp.path, 'f');
    await writeFile(file, '');
    // 1795599303908 is one that plain Date/seconds conversion stores as ...907.999.
    // Before 1970 too (tar archives carry such dates; Node reads a negative number as "now").
    const samples = [1795599303908, 0, 1, 999, 1577836800000, 4102444800123, -1, -1500, -315619200000, -315619199999, -2147483648000];
    // Seeded, so a failing sample can be replayed: RDRIVE_TEST_SEED=<printed seed>.
    const seed = Number(process.env.RDRIVE_TEST_SEED ?? Date.now() % 2 ** 31);
    diagnostic(`utime samples seed ${seed}`);
    const random = mulberry32(seed);
    for (let i = 0; i < 300; i++) samples.push(1_600_000_000_000 + Math.floor(random() * 400_000_000_000));
    for (let i = 0; i < 100; i++) samples.push(-Math.floor(random() * 2_147_483_648_000));
    for (const ms of samples) {
      await utimes(file, utime(ms), utime(ms));
      const st = await stat(file);
      assert.equal(st.mtimeMs, ms, `mtime of ${ms} (seed ${seed})`);
      assert.equal(st.atimeMs, ms, `atime of ${ms} (seed ${seed})`);
    }
  } finally {
    await tmp.remove();
  }
});

/** A small seeded PRNG (mulberry32): the same seed gives the same samples. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
