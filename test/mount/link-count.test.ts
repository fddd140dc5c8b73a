import assert from 'node:assert/strict';
import { mkdir, rename, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startMount } from '../helpers/mount-process.js';
import { serverWithMount } from '../helpers/mounted-server.js';

/** A directory's link count on the mount is 2 + its subdirectories, as on a local disk, and follows mkdir, rmdir and rename at once. */
const fx = serverWithMount();

test('nlink of directories: 2 + subdirectories, files do not count', { timeout: 60_000 }, async () => {
  const a = join(fx.mount.path, 'a');
  const b = join(fx.mount.path, 'b');
  await mkdir(a);
  await mkdir(b);
  assert.equal((await stat(a)).nlink, 2);
  await mkdir(join(a, 'x'));
  await mkdir(join(a, 'y'));
  await writeFile(join(a, 'file'), 'not a directory');
  assert.equal((await stat(a)).nlink, 4);
  await rename(join(a, 'x'), join(b, 'x'));
  assert.deepEqual([(await stat(a)).nlink, (await stat(b)).nlink], [3, 3]);
  await mkdir(join(b, 'empty'));
  await rename(join(b, 'x'), join(b, 'empty'));
  assert.equal((await stat(b)).nlink, 3, 'a directory renamed over an empty one');
  await rmdir(join(a, 'y'));
  assert.equal((await stat(a)).nlink, 2);
  // A fresh mount reads the counts from the fx.server.
  const second = await startMount(fx.server.url, 'alice', 'alice-pass');
  try {
    assert.deepEqual([(await stat(join(second.path, 'a'))).nlink, (await stat(join(second.path, 'b'))).nlink], [2, 3]);
  } finally {
    await second.cleanup();
  }
});
