import assert from 'node:assert/strict';
import { stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { utime } from '../../server/storage/local-disk.js';
import { makeTempDir } from '../helpers/tmp.js';

test('times set through utime() read back to the exact millisecond', async () => {
  const tmp = await makeTempDir();
  try {
    const file = join(tmp.path, 'f');
    await writeFile(file, '');
    // 1795599303908 is one that plain Date/seconds conversion stores as ...907.999.
    const samples = [1795599303908, 0, 1, 999, 1577836800000, 4102444800123];
    for (let i = 0; i < 300; i++) samples.push(1_600_000_000_000 + Math.floor(Math.random() * 400_000_000_000));
    for (const ms of samples) {
      await utimes(file, utime(ms), utime(ms));
      const st = await stat(file);
      assert.equal(st.mtimeMs, ms);
      assert.equal(st.atimeMs, ms);
    }
  } finally {
    await tmp.remove();
  }
});
